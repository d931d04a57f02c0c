"""Batch grading benchmark: warm against cold kernel starts, 1 and 2 runners, and stock `nbgrader autograde`.

One run, the same N smoke submissions (default 16, copies of one executed and answered release
notebook) graded four ways:
  1. `alexnet-lab grade --cold` with 2 runners (every kernel started from nothing),
  2. `alexnet-lab grade` with 2 runners (each pinned to one thread; kernels forked warm),
  3. `alexnet-lab grade` with 1 runner,
  4. stock `nbgrader autograde` on a real nbgrader course folder holding the same submissions
     (nbgrader's defaults: one kernel at a time, torch free to use every core).
Ours includes everything a TA gets (prepare, sandbox, checks, gradebook, feedback, report); stock
includes nbgrader's own gradebook writes. Prints submissions per minute, the ratios, where a
submission's time goes with each start, and whether the lab's cells gave the same outputs warm
and cold (exit status 1 when not).

    .venv/bin/python benchmarks/bench_grading.py [--submissions 16] [--keep DIR]

On a GPU machine, `--slots 1,2,4` instead grades the same submissions with 1, 2, ... runners per
GPU (the runners-per-GPU sweep; `--profile full` needs CIFAR-10 in the asset cache and the full
reference envelope). For each it prints submissions per hour, the GPU memory of each slot's
kernel and of all of them together (sampled with nvidia-smi), the GPU's mean utilisation, and
where a submission's time goes (read from the graded output: the executed notebook's per-cell
timings, the training loop's own seconds, and the rest: kernel start and stop, sandbox, checks).
`--cpu` runs the same sweep with CPU runners (the GPU kit's dry run); `--json` writes the figures
to a file; `--deadline-s` skips the slot counts that would start after that many seconds. Each run
also records the CPUs' busy share over the run (from /proc/stat) and the load average after it.
`--backend ray --address HOST:PORT` grades through a running Ray cluster instead of the local pool
(its concurrency is the cluster's: `runners.ray_gpu_fraction`, or its CPUs).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from alexnet_core import synthetic
from autograder.authoring.release import register
from autograder.batch.pool import visible_gpus
from autograder.config import load_config, select_profile
from autograder.course import CourseFolder
from autograder.demo import sample_class
from autograder.demo.student_view import student_view
from autograder.submission.gpu import nvidia_smi

REPO = Path(__file__).resolve().parent.parent
CONFIG = load_config().config
COURSE = CourseFolder(REPO, CONFIG.course)
os.environ.setdefault("ALEXNET_LAB_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
# nbgrader runs `alembic` as a subprocess: the venv's bin/ must be on PATH.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def make_submissions(work: Path, count: int, profile: str = "smoke", run: bool = True) -> Path:
    """`count` copies of one answered release notebook, executed once as a student would (or, with
    run=False, handed in without running: the grader re-executes it all the same)."""
    chosen = select_profile(CONFIG, profile)
    if chosen.synthetic:
        synthetic.ensure_synthetic(chosen)
    release = sample_class.release_notebook(COURSE, CONFIG)
    if run:
        executed = sample_class.answer(sample_class.execute_release(release, work / "student-run", chosen))
    else:
        executed = sample_class.answer(nbformat.read(str(release), as_version=4))
    folder = work / "class"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        nbformat.write(executed, str(folder / f"s{i:02d}.ipynb"))
    return folder


def time_ours(folder: Path, out: Path, runners: int, profile: str = "smoke", timeout_s: float | None = None,
              env: dict | None = None, cold: bool = False, backend: list[str] | None = None) -> float:
    """Seconds `alexnet-lab grade` takes; the whole process group is killed past `timeout_s`.
    `backend`: extra CLI arguments choosing the pool (`--backend ray --address A`)."""
    cmd = [sys.executable, "-m", "autograder.cli", "--course", str(REPO), "grade", str(folder), "--out", str(out),
           "--profile", profile, "--runners", str(runners)] + (["--cold"] if cold else []) + (backend or [])
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if code:
        raise subprocess.CalledProcessError(code, cmd)
    return time.perf_counter() - start


def time_stock_nbgrader(folder: Path, course: Path) -> float:
    register(course, COURSE.master, CONFIG, select_profile(CONFIG, "smoke"))
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


class GpuSampler:
    """Samples nvidia-smi every `interval` s while grading: each process's GPU memory, the GPU's."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.per_process: dict[str, float] = {}   # pid -> most MiB seen
        self.totals: list[float] = []             # MiB used on the GPU(s), per sample
        self.utilisation: list[float] = []        # percent, per sample
        self.error = "" if shutil.which("nvidia-smi") else "nvidia-smi not found"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for pid, used in nvidia_smi("--query-compute-apps=pid,used_memory"):
                    if used.replace(".", "").isdigit():
                        self.per_process[pid] = max(self.per_process.get(pid, 0.0), float(used))
                rows = nvidia_smi("--query-gpu=memory.used,utilization.gpu")
                self.totals.append(sum(float(r[0]) for r in rows))
                self.utilisation.append(sum(float(r[1]) for r in rows) / max(len(rows), 1))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
                self.error = f"nvidia-smi: {str(exc)[:200]}"
                return

    def __enter__(self):
        if not self.error:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def figures(self, baseline_mib: float | None) -> dict:
        if self.error and not self.totals:
            return {"gpu_memory": self.error}
        per = sorted(self.per_process.values())
        return {"kernels_seen": len(per),
                "per_kernel_mib_max": max(per, default=None),
                "per_kernel_mib_median": per[len(per) // 2] if per else None,
                "gpu_used_mib_peak": max(self.totals, default=None),
                "gpu_used_mib_baseline": baseline_mib,
                "gpu_utilisation_mean_pct": round(sum(self.utilisation) / len(self.utilisation), 1)
                if self.utilisation else None}


def _seconds(start: str, end: str) -> float:
    from datetime import datetime
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def time_breakdown(out: Path) -> dict:
    """Where a submission's time went, averaged over the graded ones in OUT: the runner's seconds,
    split into the lab's cells (setup, imports, train and its training loop, the rest) and what
    lies outside the cells (kernel start and stop, the sandbox, reading and checking)."""
    rows = []
    for graded in sorted(out.glob("*/graded.json")):
        result = json.loads(graded.read_text())
        executed = graded.parent / "executed.ipynb"
        if result.get("status") != "graded" or not executed.is_file():
            continue
        cells = {"setup": 0.0, "imports": 0.0, "train": 0.0, "other_cells": 0.0}
        for cell in json.loads(executed.read_text()).get("cells", []):
            timing = cell.get("metadata", {}).get("execution", {})
            if cell.get("cell_type") != "code" or "iopub.execute_input" not in timing:
                continue
            end = timing.get("shell.execute_reply") or timing.get("iopub.status.idle")
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            cells[gid if gid in cells else "other_cells"] += _seconds(timing["iopub.execute_input"], end)
        total = float(result.get("seconds") or 0.0)
        row = {"total": total, **cells, "training_loop": float((result.get("trajectory_rerun") or {}).get("seconds") or 0.0)}
        row["outside_cells"] = total - sum(cells.values())
        rows.append(row)
    if not rows:
        return {}
    return {key: round(sum(r[key] for r in rows) / len(rows), 2) for key in rows[0]} | {"graded": len(rows)}


def describe_breakdown(b: dict) -> str:
    if not b:
        return "no graded submission to read timings from"
    return (f"per submission {b['total']:.1f} s = outside the cells (kernel start/stop, sandbox, checks) "
            f"{b['outside_cells']:.1f} + setup {b['setup']:.1f} + imports {b['imports']:.1f} + train "
            f"{b['train']:.1f} (training loop {b['training_loop']:.1f}) + other cells {b['other_cells']:.1f}"
            + (f"; the coordinator's own time (start, registration, reports) about {b['coordinator']:.1f} s"
               if "coordinator" in b else ""))


def differing_outputs(out_a: Path, out_b: Path) -> list[str]:
    """The submissions whose executed notebooks differ in any cell output between two grading runs."""
    differ = []
    for executed in sorted(out_a.glob("*/executed.ipynb")):
        other = out_b / executed.parent.name / "executed.ipynb"
        if not other.is_file() or student_view(json.loads(executed.read_text())) != student_view(
                json.loads(other.read_text())):
            differ.append(executed.parent.name)
    return differ


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (None where there is none)."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_load(before: tuple[float, float] | None) -> dict:
    """The machine's CPU load over a run: busy share of all cores (and that many cores busy), and
    the 1-minute load average at its end. Everything on the machine counts, not only the grader."""
    after, cores = _cpu_times(), os.cpu_count() or 1
    figures = {"load_1m": round(os.getloadavg()[0], 1), "cores": cores}
    if before and after and after[1] > before[1]:
        share = (after[0] - before[0]) / (after[1] - before[1])
        figures.update(busy_pct=round(100 * share, 1), cores_busy=round(share * cores, 1))
    return figures


def _gpu_used_now() -> float | None:
    try:
        return sum(float(row[0]) for row in nvidia_smi("--query-gpu=memory.used"))
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def sweep(work: Path, n: int, profile: str, slots: list[int], cpu: bool = False,
          deadline_s: float | None = None, unrun: bool = False, cold: bool = False,
          backend: list[str] | None = None) -> dict:
    """Grade the same n submissions with s runners per GPU (or s CPU runners), for each s."""
    started = time.monotonic()
    gpus = [] if cpu else visible_gpus()
    if not gpus and not cpu:
        raise SystemExit("--slots sweeps runners per GPU, and no GPU is visible here; run it on a GPU machine "
                         "(or add --cpu to sweep CPU runners).")
    os.environ["ALEXNET_LAB_PROFILE"] = profile
    env = dict(os.environ)
    if cpu:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the pool plans CPU runners; kernels see no GPU
    print(f"preparing {n} {profile} submissions in {work} ...", flush=True)
    t = time.monotonic()
    folder = make_submissions(work, n, profile, run=not unrun)
    where = "CPU runners" if cpu else f"{len(gpus)} GPU(s)"
    if backend:
        where += f" through {' '.join(backend)}"
    results = {"profile": profile, "submissions": n, "where": where, "cpu_cores": os.cpu_count(), "cold": cold,
               "prepare_seconds": round(time.monotonic() - t, 1), "sweep": []}
    print(f"\n{n} {profile} submissions, {where} (prepared in {results['prepare_seconds']} s)", flush=True)
    for per_gpu in slots:
        runners = per_gpu if cpu else per_gpu * len(gpus)
        row = {"slots_per_gpu": per_gpu, "runners": runners}
        results["sweep"].append(row)
        left = None if deadline_s is None else deadline_s - (time.monotonic() - started)
        if left is not None and left < 15:
            row["skipped"] = f"out of time ({max(left, 0):.0f} s of the deadline left)"
            print(f"  {per_gpu} slot(s): skipped, {row['skipped']}", flush=True)
            continue
        out = work / f"out-{per_gpu}"
        baseline, cpu_before = _gpu_used_now(), _cpu_times()
        try:
            with GpuSampler() as sampler:
                seconds = time_ours(folder, out, runners, profile, timeout_s=left, env=env, cold=cold, backend=backend)
        except subprocess.TimeoutExpired:
            row["skipped"] = "stopped at the deadline"
            print(f"  {per_gpu} slot(s): stopped at the deadline", flush=True)
            continue
        except subprocess.CalledProcessError as exc:
            row["failed"] = f"alexnet-lab grade exited with {exc.returncode}"
            print(f"  {per_gpu} slot(s): FAILED, {row['failed']}", flush=True)
            continue
        graded = sum(1 for g in out.glob("*/graded.json") if json.loads(g.read_text()).get("status") == "graded")
        row.update(seconds=round(seconds, 1), graded=graded, per_hour=round(n / seconds * 3600),
                   breakdown=time_breakdown(out), cpu=cpu_load(cpu_before))
        if row["breakdown"]:
            # The coordinator's own time: the wall clock less the runners' busy time shared among them.
            busy = row["breakdown"]["total"] * row["breakdown"]["graded"] / max(1, min(runners, n))
            row["breakdown"]["coordinator"] = round(max(0.0, seconds - busy), 1)
        if not cpu or sampler.totals:
            row["gpu"] = sampler.figures(baseline)
        label = f"{per_gpu} runner(s) per GPU" if not cpu else f"{per_gpu} CPU runner(s)"
        print(f"  {label}: {seconds:7.1f} s   {row['per_hour']:7.0f} submissions/hour   ({graded}/{n} graded)",
              flush=True)
        print(f"      {describe_breakdown(row['breakdown'])}", flush=True)
        c = row["cpu"]
        print(f"      CPU: {c.get('busy_pct', '?')} % busy ({c.get('cores_busy', '?')} of {c['cores']} cores), "
              f"load average {c['load_1m']} at the end", flush=True)
        if "gpu" in row:
            g = row["gpu"]
            if "per_kernel_mib_max" in g:
                print(f"      GPU memory: {g['per_kernel_mib_max']} MiB per kernel at most ({g['kernels_seen']} seen), "
                      f"peak {g['gpu_used_mib_peak']} MiB on the GPU (idle {g['gpu_used_mib_baseline']}); "
                      f"mean GPU utilisation {g['gpu_utilisation_mean_pct']} %", flush=True)
            else:
                print(f"      GPU memory: {g['gpu_memory']}", flush=True)
        if graded < n:
            failed = [json.loads(g.read_text()) for g in out.glob("*/graded.json")]
            reasons = sorted({r.get("reason", "") for r in failed if r.get("status") != "graded"})
            row["failures"] = reasons[:5]
            print(f"      not graded: {reasons[:5]}", flush=True)
    done = [r for r in results["sweep"] if "per_hour" in r]
    if done:
        best = max(done, key=lambda r: r["per_hour"])
        results["best_slots_per_gpu"] = best["slots_per_gpu"]
        print(f"  most submissions per hour: {best['slots_per_gpu']} slot(s) ({best['per_hour']}/hour)", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=16)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--profile", default="smoke", help="profile of the submissions (with --slots)")
    parser.add_argument("--slots", help="GPU sweep: runners per GPU to try, e.g. 1,2,4")
    parser.add_argument("--cpu", action="store_true", help="with --slots: sweep CPU runners instead of runners per GPU")
    parser.add_argument("--deadline-s", type=float, help="with --slots: skip slot counts past this many seconds")
    parser.add_argument("--json", help="with --slots: also write the figures to this JSON file")
    parser.add_argument("--cold", action="store_true", help="with --slots: grade with `--cold` (no warm start)")
    parser.add_argument("--backend", choices=("local", "ray"), help="with --slots: the pool (default local)")
    parser.add_argument("--address", help="with --backend ray: the cluster's HOST:PORT")
    parser.add_argument("--unrun", action="store_true", help="with --slots: submissions handed in without running "
                        "(saves executing the release once; the kit's dry run)")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-grading-"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.submissions
    if args.slots:
        try:
            results = sweep(work, n, args.profile, [int(s) for s in args.slots.split(",")], cpu=args.cpu,
                            deadline_s=args.deadline_s, unrun=args.unrun, cold=args.cold,
                            backend=(["--backend", args.backend] if args.backend else [])
                            + (["--address", args.address] if args.address else []))
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
            return 0 if any("per_hour" in r for r in results["sweep"]) else 1
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    try:
        print(f"preparing {n} smoke submissions in {work} ...", flush=True)
        folder = make_submissions(work, n)
        runs = {"ours, 2 runners, cold start": (work / "out-cold", lambda o: time_ours(folder, o, 2, cold=True)),
                "ours, 2 runners": (work / "out-2", lambda o: time_ours(folder, o, 2)),
                "ours, 1 runner": (work / "out-1", lambda o: time_ours(folder, o, 1)),
                "stock nbgrader autograde": (work / "course", lambda o: time_stock_nbgrader(folder, o))}
        times, loads = {}, {}
        for label, (out, fn) in runs.items():
            print(f"grading with {label} ...", flush=True)
            before = os.getloadavg()[0]
            times[label] = fn(out)
            # Other work on the machine skews a phase: the 1-minute load average says how much.
            loads[label] = (before, os.getloadavg()[0])
        print(f"\n{n} smoke submissions, {os.cpu_count()} CPU cores")
        for label, seconds in times.items():
            print(f"  {label:<28} {seconds:7.1f} s   {n / seconds * 60:6.2f} submissions/minute"
                  f"   (load average {loads[label][0]:.1f} before, {loads[label][1]:.1f} after)")
        cold, one, two = times["ours, 2 runners, cold start"], times["ours, 1 runner"], times["ours, 2 runners"]
        stock = times["stock nbgrader autograde"]
        print(f"  warm vs cold start, 2 runners:  {cold / two:.2f}x  (target >= 1.3x)")
        print(f"  2 runners vs 1 runner:          {one / two:.2f}x  (target >= 1.5x)")
        print(f"  ours (2 runners) vs stock:      {stock / two:.2f}x  (target >= 1.7x)")
        print(f"  ours (1 runner) vs stock:       {stock / one:.2f}x")
        print("  where a submission's time goes:")
        for label, out in (("cold start", work / "out-cold"), ("warm start", work / "out-2")):
            print(f"    {label}: {describe_breakdown(time_breakdown(out))}")
        differ = differing_outputs(work / "out-cold", work / "out-2")
        print("  the lab's cells, warm against cold: " + (f"OUTPUTS DIFFER in {differ}" if differ else
                                                         "the same outputs in every graded notebook"))
        if differ:
            return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
