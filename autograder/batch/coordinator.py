"""The coordinator of `alexnet-lab grade`: collect, prepare, schedule runners, record, resume.

It is the only process that writes the output folder and the gradebook. Submissions whose
`OUT/<student>/graded.json` exists are done and skipped (unless `regrade`), so re-running the same
command after a crash or a kill -9 grades only what is left. One bad submission never stops the
batch: it is recorded as failed with its reason.
"""
from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from autograder import database
from autograder.authoring.reference import load_reference
from autograder.authoring.release import register
from autograder.batch import crosscheck
from autograder.batch.collect import Collection, collect, load_roster, roster_from_gradebook
from autograder.batch.pool import make_pool
from autograder.batch.record import Recorder
from autograder.config import for_master
from autograder.course import CourseFolder, OutputFolder
from autograder.errors import SubmissionError
from autograder.files import exclusive_lock, remove_partial_writes
from autograder.submission.job import Job
from autograder.submission.results import FAILED, failed_result
from autograder.submission.sanitise import prepare
from autograder.submission.scoring import RUNNER_ALARM, RUNNER_ALARM_ADVICE
from autograder.submission.teardown import sweep_socket_folders
from grading_config import GradingConfig, Profile

GRADE_HOLDER = "`alexnet-lab grade` grading it"
"""Who holds OUT's lock while a batch runs (OUT/.work/grade.lock), as another command reports it."""

BROKEN_RUNNER_ALARMS = 2
"""Runner alarms in one batch that say the runner is broken: an honest class of 1,000 raises two
with a chance of about 1 in 200 (at the modelled 1 in 10,000 each), a broken runner on every re-run."""


@dataclass
class BatchSummary:
    graded: int = 0
    failed: int = 0
    skipped: int = 0
    """Already done before this run (resume)."""
    problems: int = 0
    seconds: float = 0.0
    per_submission: list[float] = field(default_factory=list)
    out: OutputFolder | None = None
    runner_alarms: int = 0
    """Re-runs of this run that did not look like the reference (scoring's RUNNER_ALARM flag)."""

    def lines(self) -> list[str]:
        done = self.graded + self.failed
        rate = f", {done / self.seconds * 60:.1f} submissions/minute" if done and self.seconds else ""
        mean = sum(self.per_submission) / len(self.per_submission) if self.per_submission else 0
        return [
            f"graded {self.graded}, failed {self.failed}, already done {self.skipped}, "
            f"input problems {self.problems} in {self.seconds:.0f} s{rate}",
            f"mean time per submission {mean:.1f} s" if self.per_submission else "nothing to grade",
            *self.alarm_lines(),
            f"grades:  {self.out.grades_csv}",
            f"report:  {self.out.report}",
            f"nbgrader course root (formgrader, nbgrader export): {self.out.nbgrader.root}",
        ]

    def alarm_lines(self) -> list[str]:
        """The runner alarms, loud: honest seeds raise one at most 1 in 10,000, so even two in one
        batch mean the runner (its recipe, data or numerics), not the students."""
        if not self.runner_alarms:
            return []
        head = (f"RUNNER ALARM: {self.runner_alarms} of {self.graded} re-runs did not look like the reference "
                "(points kept; the flags in report.html show each with the reference)")
        if self.runner_alarms >= BROKEN_RUNNER_ALARMS:
            head += f"; {self.runner_alarms} in one batch is a broken runner, not seed variance"
        return [head, f"RUNNER ALARM: {RUNNER_ALARM_ADVICE}"]


def _progress(total: int, enabled: bool):
    """A progress bar on the terminal (stderr); a no-op when disabled or nothing to do."""
    return tqdm(total=total, unit="submission", disable=not enabled or total == 0, file=sys.stderr,
                dynamic_ncols=True, smoothing=0.1)


def _collect(inputs: list[Path], out: OutputFolder, roster: Path | None, config: GradingConfig) -> Collection:
    scratch = out.work / "inputs"
    shutil.rmtree(scratch, ignore_errors=True)  # a fresh extraction each run: zips may have changed
    known = load_roster(roster) if roster else roster_from_gradebook_if_any(out.nbgrader.gradebook_url)
    return collect(inputs, scratch, known, assignment=config.course.assignment, notebook=config.course.notebook,
                   limits=config.limits)


def roster_from_gradebook_if_any(db_url: str):
    """nbgrader's student list is the roster only when a TA imported one (`nbgrader db student import`).

    Students this coordinator added itself are not a roster: they would make every new student
    'unknown' on a second run. We tell them apart by the names a real import carries.
    """
    roster = roster_from_gradebook(db_url)
    if roster is None or not roster.by_name:
        return None
    return roster


def _jobs(to_grade, recorder: Recorder, out: OutputFolder, course: CourseFolder, profile: Profile,
          config: GradingConfig, summary: BatchSummary, bar, hide: tuple, reference: dict):
    """Prepare each submission in the coordinator, lazily, so runners start on the first ones.

    A submission that cannot be prepared is recorded as failed at once (this generator runs in
    the coordinator's thread, so the gradebook keeps its single writer).
    """
    for sub in to_grade:
        started = time.monotonic()
        try:
            prepared = prepare(sub.student_id, sub.path, out.nbgrader, course.master, profile, config)
        except Exception as exc:  # one bad submission never stops the batch
            reason = str(exc) if isinstance(exc, SubmissionError) else (
                f"{sub.origin}: internal grader error while preparing ({type(exc).__name__}: {exc}); "
                "please report it with this notebook")
            _record(recorder, failed_result(sub.student_id, sub.origin, reason, config.points,
                                            seconds=time.monotonic() - started), config)
            summary.failed += 1
            bar.update(1)
            continue
        # The submitter's own experiment: the seed of their id (never the id typed in the notebook).
        own = replace(profile, seed=prepared.identity.get("seed", profile.seed))
        yield Job(prepared=prepared, profile=own, device="cpu", threads=config.runners.threads_per_runner,
                  reference=reference, limits=config.limits, points=config.points, hide=hide,
                  scratch=str(out.scratch), identity=config.identity, warm=config.runners.warm_start)


def _cross_check(recorder: Recorder, out: OutputFolder, prof: Profile, reference: dict, config: GradingConfig) -> int:
    """After the batch: name whose run a mismatching submission carries (a classmate's re-run or the
    default seed's) and whose Q3a number it is; record again the results that changed."""
    try:
        changed = crosscheck.cross_check(recorder.results, crosscheck.default_run(reference, prof), prof,
                                         config.identity)
    except Exception as exc:  # the grades are recorded already; say so, loudly, and keep them
        print(f"error: the cross-check after the batch stopped ({type(exc).__name__}: {str(exc)[:200]}); "
              "grades are kept; please report it", file=sys.stderr)
        return 0
    for result in changed:
        executed = out.student(result.student_id) / OutputFolder.EXECUTED
        notebook = executed.read_text(encoding="utf-8") if executed.is_file() else None
        _record(recorder, replace(result, executed_notebook=notebook), config)
    return len(changed)


def _record(recorder: Recorder, result, config: GradingConfig) -> bool:
    """Record one result; False when it could not be (a value no writer expected): that submission is
    recorded as failed with the reason, naming its file, and the batch goes on."""
    try:
        recorder.record(result)
        return True
    except Exception as exc:
        reason = (f"{result.source}: its result could not be recorded ({type(exc).__name__}: {str(exc)[:160]}); "
                  "please report it with this submission")
        print(f"error: {reason}", file=sys.stderr)
        try:
            recorder.record(failed_result(result.student_id, result.source, reason, config.points,
                                          seconds=result.seconds))
        except Exception as again:  # not even the failure: graded again by the next run (no graded.json)
            print(f"error: {result.source}: its failure could not be recorded either ({type(again).__name__}: "
                  f"{str(again)[:160]})", file=sys.stderr)
        return False


def _flush_tables(recorder: Recorder) -> None:
    try:
        recorder.flush()
    except Exception as exc:  # the grades are recorded (graded.json, gradebook); the tables follow next run
        print(f"error: report.html and grades.csv could not be brought up to date ({type(exc).__name__}: "
              f"{str(exc)[:160]}); the next `grade` into this folder rewrites them", file=sys.stderr)


def _private_folders(out: OutputFolder, course: CourseFolder, inputs: list[Path]) -> tuple[str, ...]:
    """Folders whose contents must not reach a sandboxed kernel through its import path: the
    output folder, the course folder and the folders the submissions came from. (The sandbox
    shows only what it lists; this keeps a sys.path entry inside one of them off that list.)"""
    folders = {out.root.resolve(), course.root}
    for p in inputs:
        p = Path(p).resolve()
        folders.add(p if p.is_dir() else p.parent)
    return tuple(sorted(str(f) for f in folders))


def grade(
    inputs: list[Path],
    out: Path,
    course: CourseFolder,
    config: GradingConfig,
    profile: Profile,
    runners: int | None = None,
    backend: str | None = None,
    address: str | None = None,
    regrade: bool = False,
    roster: Path | None = None,
) -> BatchSummary:
    """Grade every submission in `inputs` into `out` with `profile` (the CLI's choice:
    `authoring.release.grading_profile_name`, resolved by `config.select_profile`); resumable.
    Returns the batch's summary."""
    started = time.monotonic()
    config = for_master(config, course.master)  # the master's questions, the config's points
    reference = load_reference(course, profile)  # no envelope for this profile: say so now, before any work
    out = OutputFolder.of(Path(out), config)
    out.work.mkdir(parents=True, exist_ok=True)
    # One coordinator per output folder: a second one would write the same gradebook and files.
    # One command at a time writes OUT: a second grade, or an export, says which command holds it.
    with exclusive_lock(out.lock, f"{out.root} is in use by another command", holder=GRADE_HOLDER):
        database.claim(out.nbgrader)  # the gradebook OUT was graded into, reachable: else nothing runs
        return _grade_locked(inputs, out, course, config, profile, reference, runners, backend, address,
                             regrade, roster, started)


def _grade_locked(inputs, out: OutputFolder, course: CourseFolder, config: GradingConfig, prof: Profile,
                  reference: dict, runners, backend, address, regrade: bool, roster, started: float) -> BatchSummary:
    remove_partial_writes(out.root)  # litter of a coordinator killed mid-write last time
    for leftover in (out.scratch, out.jobs):  # a killed run's scratch: nobody else's notebook stays behind
        shutil.rmtree(leftover, ignore_errors=True)
    # A fresh OUT needs no registration step: the nbgrader course root is made here.
    register(out.nbgrader.root, course.master, config, prof)

    collection = _collect([Path(p) for p in inputs], out, roster, config)
    recorder = Recorder(out, config, course.master)
    recorder.problems = collection.problems
    recorder.enrol(collection.roster)  # names and LMS ids into the gradebook; roster gaps in the report
    summary = BatchSummary(problems=len(collection.problems), out=out)
    for problem in collection.problems:
        print(f"input problem: {problem.origin}: {problem.message}", file=sys.stderr)

    # Students with two notebooks are recorded as failed (nothing guessed), so the TA sees them.
    for sid, subs in collection.duplicates.items():
        if regrade or not recorder.is_done(sid):
            shown = ", ".join(s.origin for s in subs)
            _record(recorder, failed_result(sid, shown, f"{len(subs)} notebooks for this student ({shown}); keep one "
                                            "and grade again", config.points), config)
            summary.failed += 1

    to_grade = []
    for sub in collection.submissions:
        if recorder.is_done(sub.student_id) and not regrade:
            summary.skipped += 1
        else:
            to_grade.append(sub)
    if summary.skipped:
        print(f"resuming: {summary.skipped} submission(s) already graded in {out} are skipped; failed ones are "
              "graded again (--regrade grades everything again)", file=sys.stderr)

    origins = {sub.student_id: sub.origin for sub in to_grade}
    pool = None
    if to_grade:
        out.jobs.mkdir(parents=True, exist_ok=True)
        pool = make_pool(backend, runners, address, config, workdir=out.jobs,
                         timeout_s=prof.notebook_timeout_s + config.runners.runner_grace_s)
        print(f"grading {len(to_grade)} submission(s) on {pool.describe()}", file=sys.stderr)
    bar = _progress(len(to_grade), config.runners.progress)
    try:
        if pool is not None:
            jobs = _jobs(to_grade, recorder, out, course, prof, config, summary, bar,
                         hide=_private_folders(out, course, inputs), reference=reference)
            for result in pool.run(jobs, idle=recorder.flush_if_due):
                result.source = origins.get(result.student_id, result.source)  # the TA's name for it
                if result.student_id in collection.unknown:
                    result.flags.append("student id not on the roster")
                recorded = _record(recorder, result, config)
                summary.per_submission.append(result.seconds)
                if result.status == FAILED or not recorded:
                    summary.failed += 1
                else:
                    summary.graded += 1
                summary.runner_alarms += any(f.startswith(RUNNER_ALARM) for f in result.flags)
                bar.update(1)
                bar.set_postfix(graded=summary.graded, failed=summary.failed, refresh=False)
    except BaseException:
        _flush_tables(recorder)  # interrupted (Ctrl-C, an error): the tables still show what was recorded
        raise
    finally:
        bar.close()
        if pool is not None and hasattr(pool, "close"):
            pool.close()
        sweep_socket_folders()  # a runner killed mid-run (a retry, a kill) leaves its deep-OUT sockets
    if summary.graded and config.identity.per_student_seeds:
        _cross_check(recorder, out, prof, reference, config)
    if summary.graded or summary.failed:
        recorder.flush()  # the results since the last rewrite of the tables
    else:
        recorder.write_tables()  # the report exists even when everything was already graded
    summary.seconds = time.monotonic() - started
    for line in summary.lines():
        print(line)
    return summary
