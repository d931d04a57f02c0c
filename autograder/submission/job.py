"""One runner job: execute a prepared submission, check it, return a `SubmissionResult`.

`run_job` is what the local pool and Ray schedule. It never raises: whatever goes wrong comes
back as `status="failed"` with a one-line reason and the cell where execution stopped. The module
entry `python -m autograder.submission.job JOB.pkl RESULT.json` runs one job in its own process and
writes the result atomically, so a runner that dies is a dead process the coordinator can see.
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_core.contract import BEFORE_TRAINING_QUESTION, CHECK_CELLS, read_kernel_plots, read_trajectory
from autograder.files import atomic_write
from autograder.submission import scoring
from autograder.submission.execute import CRASHED, execute, warm_assets
from autograder.submission.kernel import UNNAMED
from autograder.submission.results import FAILED, GRADED, PreparedSubmission, SubmissionResult
from grading_config import Identity, Limits, Points, Profile


@dataclass
class Job:
    """Everything a runner needs, resolved by the coordinator; picklable, so it crosses to a
    subprocess or a Ray worker. Nothing here is looked up again in the runner."""

    prepared: PreparedSubmission
    profile: Profile
    """The resolved profile (with any instructor overrides): the kernel trains with its recipe."""
    device: str
    """'cpu' or 'cuda:N'."""
    threads: int
    """torch/OMP threads for a CPU runner."""
    reference: dict
    """The reference envelope of the profile (the coordinator loads it once)."""
    limits: Limits
    points: Points
    sandbox: bool = True
    hide: tuple = field(default_factory=tuple)
    """Extra folders the sandbox must not show (course root, output folder, submissions)."""
    scratch: str | None = None
    """Where runs make their scratch folder (OUT/.work/scratch); None: the system's temporary folder."""
    warm: bool = True
    """Fork the kernel from a zygote (runners.warm_start)."""
    gpu_share: float = 1.0
    """The part of its GPU the job's slot owns (1 / slots on that GPU; Ray: runners.ray_gpu_fraction)."""
    zygote: str | None = None
    """The socket of the local pool's zygote for this job's slot; None: the runner process's own."""
    cpus: tuple[int, ...] | None = None
    """The runner slot's own cores (the local pool's); the kernel and its processes are pinned to
    them. None: not pinned (Ray places its workers itself)."""
    identity: Identity | None = None
    """The course's per-student seed settings (the Q3a tolerance and auto points); the seed itself
    is already in `profile`."""


def run_job(job: Job) -> SubmissionResult:
    """Execute and check one submission. Never raises."""
    prepared = job.prepared
    started = time.monotonic()
    result = SubmissionResult(student_id=prepared.student_id, source=str(prepared.source),
                              answers=list(prepared.answers), flags=list(prepared.flags),
                              trajectory_submitted=(prepared.evidence or {}).get("trajectory"),
                              device=job.device, identity=dict(prepared.identity or {}))
    try:
        _grade(job, result)
    except Exception as exc:  # a grader bug must not take the batch down: record it
        result.status = FAILED
        where = traceback.extract_tb(exc.__traceback__)[-1]
        result.reason = (f"internal grader error: {type(exc).__name__}: {str(exc)[:200]} "
                         f"({Path(where.filename).name}:{where.lineno})")
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _grade(job: Job, result: SubmissionResult) -> None:
    profile = job.profile
    prepared = job.prepared
    warm_assets(profile)
    hide = list(job.hide) + [str(Path(prepared.source).resolve().parent)]
    execution = execute(prepared.notebook, profile=profile, device=job.device, threads=job.threads,
                        limits=job.limits, sandbox=job.sandbox, hidden=hide, scratch=job.scratch, warm=job.warm,
                        zygote=job.zygote, gpu_share=job.gpu_share,
                        cpus=list(job.cpus) if job.cpus else None)
    result.executed_notebook = execution.notebook
    result.failed_cell = execution.failed_cell
    if job.sandbox and not execution.sandboxed and execution.status != CRASHED:
        result.flags.append("graded without a sandbox (bubblewrap unavailable)")
    if execution.truncated:
        result.flags.append(f"outputs cut at the {job.limits.output_mb:g} MB cap in: {', '.join(execution.truncated)}")

    # The checks read plain JSON (the kernel's half of execute.py read and wrote it with nbformat).
    executed = json.loads(execution.notebook) if execution.notebook else {"cells": []}
    rerun = read_trajectory(executed)
    result.trajectory_rerun = rerun
    points = job.points
    plots = read_kernel_plots(executed)  # read once: the evidence compares with them, check_kernels judges them
    evidence_result, evidence_flags = scoring.check_evidence(prepared.evidence or {}, rerun, profile, points, plots)
    trajectory = scoring.check_trajectory(rerun, profile, job.reference, points, submitted=result.trajectory_submitted)
    result.checks = [trajectory, evidence_result, scoring.check_kernels(executed, points, plots)]
    result.flags += evidence_flags + scoring.trajectory_flags(trajectory)
    for answer in result.answers:
        if answer.label == BEFORE_TRAINING_QUESTION:  # the TA sees the number beside the student's own run
            answer.note = "; ".join(filter(None, [answer.note, scoring.q3a_note(
                answer.text, result.trajectory_submitted, rerun)]))
            if answer.answered and job.identity is not None:
                verdict = scoring.q3a_verdict(answer.text, rerun, job.identity.q3a_tolerance)
                result.identity["q3a"] = verdict
                if verdict["own_match"]:
                    answer.note += f"; matches the own run (within {job.identity.q3a_tolerance:g})"
                    if job.identity.q3a_auto_points:
                        answer.auto_score = answer.max_score

    # Who raised: a hidden test of a check cell, a cell the student added (no grade id), or the master.
    hidden_tests = [e for e in execution.errors if e["cell"] in CHECK_CELLS.values()]
    own = [e for e in execution.errors if e["cell"].startswith(UNNAMED)]
    master_error = [e for e in execution.errors if e not in hidden_tests and e not in own]
    if execution.stopped:
        result.status, result.reason = FAILED, execution.reason
    elif master_error:
        # A cell of the master itself raised: the grading environment is at fault (assets, device),
        # not the student. Failed, so the TA fixes the cause and grades again.
        first = master_error[0]
        result.status, result.failed_cell = FAILED, first["cell"]
        result.reason = f"cell {first['cell']} raised {first['ename']}: {first['evalue']}"
    else:
        result.status = GRADED
        if own:
            result.flags.append("the student's own code raised: " + "; ".join(
                f"{e['cell']}: {e['ename']}: {e['evalue'][:80]}" for e in own))
        lost = [c for c in result.checks if c.score < c.max_score]
        result.reason = "; ".join([f"{c.name}: {c.reason}" for c in lost]
                                  + [f"{e['cell']} raised {e['ename']}" for e in hidden_tests])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.submission.job",
                                     description="Run one pickled grading job; write its result as JSON.")
    parser.add_argument("job", help="Job pickled by the coordinator")
    parser.add_argument("result", help="where to write the SubmissionResult JSON (atomically)")
    args = parser.parse_args(argv)
    with open(args.job, "rb") as fh:
        job = pickle.load(fh)
    result = run_job(job)
    atomic_write(Path(args.result), json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
