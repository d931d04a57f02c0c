"""How much one student's busy processes slow another runner's student, without and with cores
of their own (run_extra_code on, two runs at once, as two pool slots run them).

Run B times a fixed CPU loop inside its kernel (the time is measured there, so kernel start-up does
not count). It runs alone, then beside run A, whose kernel starts `--busy` child processes that spin
for longer than B's loop. Twice: unpinned (the kernels may use every core, as before), and pinned
(each run on its slot's cores, `pool.slot_cpus`; the kernel's children inherit them and cannot
leave). The figure is B's loop time beside A over B's loop time alone, in the same process.

    .venv/bin/python benchmarks/bench_isolation.py [--busy 4] [--loop 20000000]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("ALEXNET_LAB_PROFILE", "smoke")

from notebooks import CONFIG, code_notebook  # noqa: E402

from autograder.batch.pool import slot_cpus  # noqa: E402
from autograder.demo.student_view import student_view  # noqa: E402
from autograder.submission import execute as run  # noqa: E402

LIMITS = dataclasses.replace(CONFIG.limits, run_extra_code=True)
PROFILE = dataclasses.replace(CONFIG.profiles["smoke"], cell_timeout_s=300, notebook_timeout_s=300)

TIMED = """
import time
start = time.perf_counter()
total = 0
for i in range({loop}):
    total += i
print("LOOP", time.perf_counter() - start)
"""
BUSY = """
import subprocess, sys
spin = "import time\\nend = time.monotonic() + {seconds}\\nwhile time.monotonic() < end: pass"
procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range({busy})]
for p in procs:
    p.wait()
"""


def loop_seconds(e: run.Execution) -> float:
    assert e.status == run.OK, e.reason
    text = "".join(c["streams"].get("stdout", "") for c in student_view(json.loads(e.notebook)))
    return float(re.search(r"LOOP (\S+)", text).group(1))


def timed(loop: int, cpus) -> float:
    return loop_seconds(run.execute(code_notebook(TIMED.format(loop=loop), grade_ids=("timed",)), profile=PROFILE,
                                    limits=LIMITS, cpus=cpus))


def beside(loop: int, busy: int, seconds: float, cpus_a, cpus_b) -> float:
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(run.execute, code_notebook(BUSY.format(busy=busy, seconds=seconds), grade_ids=("busy",)),
                        profile=PROFILE, limits=LIMITS, cpus=cpus_a)
        b = pool.submit(timed_after_start, loop, cpus_b)
        a.result()
        return b.result()


def timed_after_start(loop: int, cpus) -> float:
    import time

    time.sleep(1.0)  # A's kernel starts its busy processes first
    return timed(loop, cpus)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=4, help="busy child processes run A starts")
    parser.add_argument("--loop", type=int, default=20_000_000, help="iterations of run B's timed loop")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (each: both settings, alone then beside); "
                                                              "the median ratio is reported")
    args = parser.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        print("one core: two runners cannot have cores of their own")
        return 1
    timed(1000, None)  # the zygote's preload, out of the way
    alone = timed(args.loop, None)
    seconds = 4 * alone + 10
    ratios = {"unpinned": [], "pinned": []}
    settings = {"unpinned": (None, None), "pinned": (list(slot_cpus(0, 1)), list(slot_cpus(1, 1)))}
    for _ in range(args.repeat):  # interleaved, so a load from elsewhere weighs on both settings alike
        for name, (cpus_a, cpus_b) in settings.items():
            base = timed(args.loop, cpus_b)
            with_busy = beside(args.loop, args.busy, seconds, cpus_a, cpus_b)
            ratios[name].append(with_busy / base)
            print(f"{name:>8}: B's loop alone {base:.2f} s, beside A's {args.busy} busy processes "
                  f"{with_busy:.2f} s: {with_busy / base:.2f}x", flush=True)
    median = {name: statistics.median(r) for name, r in ratios.items()}
    print(f"cores {len(cores)}, load average {os.getloadavg()[0]:.1f}; median slowdown of B beside A: "
          f"unpinned {median['unpinned']:.2f}x, pinned {median['pinned']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
