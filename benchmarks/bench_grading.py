"""Batch grading benchmark: our local pool with 1 and 2 runners against stock `nbgrader autograde`.

One run, the same N smoke submissions (default 16, copies of one executed and answered release
notebook) graded three ways:
  1. `alexnet-lab grade` with 1 runner,
  2. `alexnet-lab grade` with 2 runners (each pinned to one thread),
  3. stock `nbgrader autograde` on a real nbgrader course folder holding the same submissions
     (nbgrader's defaults: one kernel at a time, torch free to use every core).
Ours includes everything a TA gets (prepare, sandbox, checks, gradebook, feedback, report); stock
includes nbgrader's own gradebook writes. Prints submissions per minute and the ratios.

    .venv/bin/python benchmarks/bench_grading.py [--submissions 16] [--keep DIR]

On a GPU machine, `--profile full --slots 1,2,3,4` instead grades the same submissions with 1, 2,
... runners per GPU and prints full-profile submissions per hour for each (the runners-per-GPU
sweep; needs CIFAR-10 in the asset cache and the full reference envelope).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from alexnet_core import synthetic
from autograder import sample_class
from autograder.authoring.release import register
from autograder.batch.pool import visible_gpus
from autograder.config import load_config, select_profile
from autograder.course import CourseFolder

REPO = Path(__file__).resolve().parent.parent
CONFIG = load_config().config
COURSE = CourseFolder(REPO, CONFIG.course)
os.environ.setdefault("ALEXNET_LAB_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
# nbgrader runs `alembic` as a subprocess: the venv's bin/ must be on PATH.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def make_submissions(work: Path, count: int, profile: str = "smoke") -> Path:
    chosen = select_profile(CONFIG, profile)
    if chosen.synthetic:
        synthetic.ensure_synthetic(chosen)
    release = sample_class.release_notebook(COURSE, CONFIG)
    executed = sample_class.answer(sample_class.execute_release(release, work / "student-run", chosen))
    folder = work / "class"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        nbformat.write(executed, str(folder / f"s{i:02d}.ipynb"))
    return folder


def time_ours(folder: Path, out: Path, runners: int, profile: str = "smoke") -> float:
    cmd = [sys.executable, "-m", "autograder.cli", "--course", str(REPO), "grade", str(folder), "--out", str(out),
           "--profile", profile, "--runners", str(runners)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def time_stock_nbgrader(folder: Path, course: Path) -> float:
    register(course, COURSE.master, CONFIG, "smoke")
    course_cfg = CONFIG.course
    for nb in sorted(folder.glob("*.ipynb")):
        target = course / "submitted" / nb.stem / course_cfg.assignment
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nb, target / f"{course_cfg.notebook}.ipynb")
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # stock: the kernel takes every core, as nbgrader leaves it
    cmd = ["nbgrader", "autograde", course_cfg.assignment, "--force",
           f"--Execute.timeout={CONFIG.profiles['smoke'].cell_timeout_s}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    graded = list((course / "autograded").glob(f"*/{course_cfg.assignment}/{course_cfg.notebook}.ipynb"))
    if len(graded) != len(list(folder.glob("*.ipynb"))):
        raise SystemExit(f"stock nbgrader autograded {len(graded)} notebooks, expected {len(list(folder.glob('*.ipynb')))}")
    return elapsed


def gpu_sweep(work: Path, n: int, profile: str, slots: list[int]) -> int:
    """Submissions per hour on the visible GPUs with `s` runners per GPU, for each s."""
    gpus = visible_gpus()
    if not gpus:
        raise SystemExit("--slots sweeps runners per GPU, and no GPU is visible here; run it on a GPU machine.")
    os.environ["ALEXNET_LAB_PROFILE"] = profile
    print(f"preparing {n} {profile} submissions in {work} ...", flush=True)
    folder = make_submissions(work, n, profile)
    print(f"\n{n} {profile} submissions, {len(gpus)} GPU(s)")
    for per_gpu in slots:
        seconds = time_ours(folder, work / f"out-{per_gpu}-per-gpu", per_gpu * len(gpus), profile)
        print(f"  {per_gpu} runner(s) per GPU: {seconds:7.1f} s   {n / seconds * 3600:7.0f} submissions/hour", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=16)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--profile", default="smoke", help="profile of the submissions (with --slots)")
    parser.add_argument("--slots", help="GPU sweep: runners per GPU to try, e.g. 1,2,3,4")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-grading-"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.submissions
    if args.slots:
        try:
            return gpu_sweep(work, n, args.profile, [int(s) for s in args.slots.split(",")])
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    try:
        print(f"preparing {n} smoke submissions in {work} ...", flush=True)
        folder = make_submissions(work, n)
        times, loads = {}, {}
        for label, fn in (("ours, 1 runner", lambda: time_ours(folder, work / "out-1", 1)),
                          ("ours, 2 runners", lambda: time_ours(folder, work / "out-2", 2)),
                          ("stock nbgrader autograde", lambda: time_stock_nbgrader(folder, work / "course"))):
            print(f"grading with {label} ...", flush=True)
            before = os.getloadavg()[0]
            times[label] = fn()
            # Other work on the machine skews a phase: the 1-minute load average says how much.
            loads[label] = (before, os.getloadavg()[0])
        print(f"\n{n} smoke submissions, {os.cpu_count()} CPU cores")
        for label, seconds in times.items():
            print(f"  {label:<26} {seconds:7.1f} s   {n / seconds * 60:6.2f} submissions/minute"
                  f"   (load average {loads[label][0]:.1f} before, {loads[label][1]:.1f} after)")
        one, two, stock = times["ours, 1 runner"], times["ours, 2 runners"], times["stock nbgrader autograde"]
        print(f"  2 runners vs 1 runner:          {one / two:.2f}x  (target >= 1.5x)")
        print(f"  ours (2 runners) vs stock:      {stock / two:.2f}x  (target >= 1.7x)")
        print(f"  ours (1 runner) vs stock:       {stock / one:.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
