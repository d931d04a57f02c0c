"""Two students' runs never touch each other's disk or cores: every folder a kernel can write is
capped in total (the tmpfs folders by size; the socket folder, the one host folder, is taken back
once the kernel is ready), and a kernel's processes stay on its runner's cores (read from /proc)."""
import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from notebooks import CONFIG, code_notebook

from autograder.batch.pool import plan_slots
from autograder.demo.student_view import student_view
from autograder.submission import execute as run
from autograder.submission import sandbox

SCRATCH_MB = 8
LIMITS = dataclasses.replace(CONFIG.limits, run_extra_code=True, scratch_mb=SCRATCH_MB)
SMOKE = dataclasses.replace(CONFIG.profiles["smoke"], cell_timeout_s=60, notebook_timeout_s=120)
pytestmark = pytest.mark.skipif(sandbox.bwrap_problem(sandbox.sandbox_uid(LIMITS.sandbox_uid_base)) is not None,
                                reason="bubblewrap unusable here")

FILL = r"""
import errno, os
from ipykernel.kernelapp import IPKernelApp
sockets = os.path.dirname(IPKernelApp.instance().connection_file)
chunk = b"x" * (1 << 20)
for folder in (os.getcwd(), "/tmp", "/dev/shm", sockets):
    written, n, why = 0, 0, None
    while n < 64:  # past the 8 MiB cap; a regression writes 64 MiB, not the disk full
        try:
            with open(os.path.join(folder, f"fill{n}"), "wb") as fh:
                fh.write(chunk)
            written += 1
        except OSError as exc:
            why = errno.errorcode.get(exc.errno)
            break
        n += 1
    print("FILLED", "sockets" if folder == sockets else folder, written, why)
raise OSError(errno.ENOSPC, "the disk is full")
"""

HONEST = "print(sum(i * i for i in range(10 ** 6)))"


def _stdout(e: run.Execution) -> str:
    return "".join(cell["streams"].get("stdout", "") for cell in student_view(json.loads(e.notebook)))


@pytest.mark.parametrize("warm", [True, False])
def test_a_kernel_filling_its_folders_stops_at_the_cap_and_fails_alone(warm):
    with ThreadPoolExecutor(2) as pool:
        filling = pool.submit(run.execute, code_notebook(FILL, grade_ids=("fill",)), profile=SMOKE, limits=LIMITS, warm=warm)
        honest = pool.submit(run.execute, code_notebook(HONEST, grade_ids=("honest",)), profile=SMOKE, limits=LIMITS,
                             warm=warm)
        filling, honest = filling.result(), honest.result()
    assert honest.status == run.OK and str(sum(i * i for i in range(10 ** 6))) in _stdout(honest)
    assert filling.status == run.ERROR and filling.failed_cell == "fill" and "disk is full" in filling.reason
    filled = {parts[1]: (int(parts[2]), parts[3]) for parts in
              (line.split() for line in _stdout(filling).splitlines() if line.startswith("FILLED"))}
    assert len(filled) == 4, _stdout(filling)
    for folder, (mib, why) in filled.items():
        if folder == "sockets":  # the one host folder: closed to the kernel before any cell runs
            expected = "EACCES" if os.geteuid() == 0 else None
            if expected:
                assert (mib, why) == (0, expected), folder
        else:
            assert mib <= SCRATCH_MB and why == "ENOSPC", (folder, mib, why)


AFFINITY = r"""
import os, subprocess, sys, time
def allowed():
    return open("/proc/self/status").read().split("Cpus_allowed_list:")[1].split()[0]
print("KERNEL", allowed())
try:
    os.sched_setaffinity(0, range(os.cpu_count())); print("RESET allowed")
except OSError:
    print("RESET refused")
child = ("import os, time\nl = open('/proc/self/status').read().split('Cpus_allowed_list:')[1].split()[0]\n"
         "try:\n    os.sched_setaffinity(0, range(os.cpu_count())); r = 'allowed'\nexcept OSError:\n    r = 'refused'\n"
         "print('CHILD', l, r, flush=True)\nend = time.monotonic() + 1.5\nwhile time.monotonic() < end: pass\n")
busy = [subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True) for _ in range(3)]
for p in busy:
    print(p.communicate()[0].strip())
"""


@pytest.mark.parametrize("warm", [True, False])
def test_a_student_s_busy_processes_stay_on_their_runner_s_cores(warm):
    """Two runners' kernels at once, as the pool places them: one starts busy child processes (and
    asks for every core), the other works; each process reads its allowed cores from /proc."""
    slots = plan_slots(2, dataclasses.replace(CONFIG, runners=dataclasses.replace(CONFIG.runners, threads_per_runner=1)),
                       gpus=[])
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: two runners cannot have cores of their own")
    assert set(slots[0].cpus).isdisjoint(slots[1].cpus)
    with ThreadPoolExecutor(2) as pool:
        busy = pool.submit(run.execute, code_notebook(AFFINITY, grade_ids=("busy",)), profile=SMOKE, limits=LIMITS,
                           warm=warm, cpus=list(slots[0].cpus))
        other = pool.submit(run.execute, code_notebook(AFFINITY.replace("range(3)", "range(1)"), grade_ids=("other",)),
                            profile=SMOKE, limits=LIMITS, warm=warm, cpus=list(slots[1].cpus))
        busy, other = busy.result(), other.result()
    for e, slot, children in ((busy, slots[0], 3), (other, slots[1], 1)):
        assert e.status == run.OK and e.warm_start == warm, e.reason
        lines = _stdout(e).splitlines()
        cores = ",".join(map(str, slot.cpus))
        assert f"KERNEL {cores}" in lines and "RESET refused" in lines, lines
        assert [line for line in lines if line.startswith("CHILD")] == [f"CHILD {cores} refused"] * children
