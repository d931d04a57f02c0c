"""Record: one `SubmissionResult` -> the output folder and nbgrader's gradebook.

Only the coordinator calls this (one gradebook writer; nbgrader #174). Per student, in this order:
`executed.ipynb`, `gradescope.json`, `feedback.html`, the gradebook rows, and last `graded.json`,
written atomically: its presence is what "done" means to a resumed batch. `grades.csv` and
`report.html` (the class tables) are rewritten atomically, so a kill -9 at any moment leaves every
file either the old or the new version, never half of one.

The tables cover the whole class (the report runs the near-duplicate pass over every answer), so
rewriting them after every result made the coordinator's work grow with the square of the class.
They are rewritten at most every `TABLES_EVERY_S` seconds, and less often when a rewrite is slow
(they take at most a tenth of the coordinator's time, `TABLES_SHARE`); also when the runners keep
the pool waiting (`flush_if_due`, the pool's idle call) and once when the command ends (`flush`).
A TA watching report.html sees it seconds late at most; `graded.json`, the gradebook and each
student's files are still written as each result arrives, and they are what a resumed batch reads.
"""
from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
import warnings
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
from nbgrader.preprocessors import SaveAutoGrades
from sqlalchemy.exc import SAWarning

from alexnet_core.contract import CHECK_CELLS
from autograder.batch.collect import Problem
from autograder.course import OutputFolder
from autograder.errors import SubmissionError
from autograder.files import atomic_write, csv_safe  # explicit file modes (0644); the umask is left alone
from autograder.gradebook import Gradebook, MissingEntry, mark_submitted
from autograder.reports import feedback, report
from autograder.reports.inert import inert_notebook
from autograder.sources import Lateness, lateness_of, lms_id_from_source, parse_time
from autograder.submission.read import read_submission
from autograder.submission.results import FAILED, SubmissionResult, bounded, complete
from autograder.submission.stray import STRAY_FLAGS, stray_by_question
from grading_config import GradingConfig

BASE_COLUMNS = ["student_id", "status", "reason", "total", "max_total", "final_accuracy", "flags"]
IDENTITY_COLUMNS = ["name", "lms_id"]
"""After student_id (the course's id): the roster's name and the LMS id (roster, or Canvas's file name)."""
LATE_COLUMNS = ["late", "days_late"]
GRADEBOOK_SIDE = "gradebook.json"
"""Per student: the SubmittedNotebook id (formgrader's page) and stray text by question, for the reports."""


TABLES_EVERY_S = 5.0
"""Shortest interval (s) between two rewrites of the class tables during a batch."""
TABLES_SHARE = 1 / 10
"""Most of the coordinator's time the tables' rewrites may take (a class of thousands: a rewrite is
seconds, so they are spaced further apart: 3,000 results, about every 30 s)."""

MAX_GRADED_JSON_BYTES = 20 * 1024 * 1024  # graded.json holds no notebook: a few KB to a few hundred


def load_done(out: Path, problems: list | None = None) -> dict[str, SubmissionResult]:
    """Results already recorded under `out` (the `graded.json` of each student folder).

    A file that cannot be read back as a result (corrupt, cut off, from another version, moved to
    another student's folder) is a problem of its own, appended to `problems`: that submission is
    graded again and the rest are kept.
    """
    done = {}
    for path in sorted(Path(out).glob(f"*/{OutputFolder.GRADED}")):
        try:
            if path.stat().st_size > MAX_GRADED_JSON_BYTES:
                raise ValueError(f"over {MAX_GRADED_JSON_BYTES // (1024 * 1024)} MB")
            result = checked_result(json.loads(path.read_text(encoding="utf-8")))
            if result.student_id != path.parent.name:
                raise ValueError(f"it is {result.student_id[:60]!r}'s result, in another student's folder")
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            message = f"unreadable ({type(exc).__name__}: {str(exc)[:120]}); that submission is graded again"
            print(f"warning: {path}: {message}", file=sys.stderr)
            if problems is not None:
                problems.append(Problem(str(path), message, path.parent.name))
            continue
        done[result.student_id] = result
    return done


def checked_result(data) -> SubmissionResult:
    """A result read back from JSON, with every field the tables and reports use of the right type
    (a wrong one would stop every rewrite of grades.csv, not just this student's row)."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    result = SubmissionResult.from_dict(data)
    _expect(result.student_id, str, "student_id")
    _expect(result.source, str, "source")
    _expect(result.status, str, "status")
    _expect(result.reason, str, "reason")
    _expect(result.device, str, "device")
    _expect_number(result.seconds, "seconds")
    if not isinstance(result.attempts, int) or isinstance(result.attempts, bool):
        raise ValueError("attempts is not a whole number")
    if not isinstance(result.flags, list) or not all(isinstance(f, str) for f in result.flags):
        raise ValueError("flags is not a list of text")
    for check in result.checks:
        _expect(check.name, str, "checks.name")
        _expect(check.reason, str, "checks.reason")
        if check.grade_id is not None:
            _expect(check.grade_id, str, "checks.grade_id")
        _expect_number(check.score, "checks.score")
        _expect_number(check.max_score, "checks.max_score")
        _expect(check.details, dict, "checks.details")
    for answer in result.answers:
        for name in ("label", "grade_id", "text", "note"):
            _expect(getattr(answer, name), str, f"answers.{name}")
        _expect(answer.answered, bool, "answers.answered")
        _expect_number(answer.max_score, "answers.max_score")
    q3a = result.identity.get("q3a") if isinstance(result.identity, dict) else None  # the reports read it
    if isinstance(q3a, dict) and q3a.get("wrote") is not None and not isinstance(q3a["wrote"], float):
        raise ValueError("identity.q3a.wrote is not a number as the grader writes it")  # a 400-digit int
    for name in ("trajectory_submitted", "trajectory_rerun"):
        record = getattr(result, name)
        if record is None:
            continue
        _expect(record, dict, name)
        accuracy = record.get("accuracy")
        if accuracy is not None and not (isinstance(accuracy, list) and all(_finite(a) for a in accuracy)):
            raise ValueError(f"{name}.accuracy is not a list of numbers")
    return result


def _expect(value, kind: type, name: str) -> None:
    if not isinstance(value, kind):
        raise ValueError(f"{name} is {type(value).__name__}, not {kind.__name__}")


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _expect_number(value, name: str) -> None:
    if not _finite(value):
        raise ValueError(f"{name} is not a finite number")


# -- grades.csv -----------------------------------------------------------------------------
def grades_csv(results: list[SubmissionResult], config: GradingConfig, people: dict | None = None,
               late: dict[str, Lateness] | None = None) -> str:
    """Base columns, one per check, one per question, then lateness, name and LMS id, time and
    device (docs/ta.md, "Grading a class"). `people`: student id -> (name, LMS id), from the gradebook; `late`:
    student id -> Lateness, when the caller has it already."""
    questions = list(config.points.questions)
    people = people or {}
    if late is None:
        late = {r.student_id: lateness_of(r.source, config.late.due) for r in results}
    columns = (BASE_COLUMNS + list(CHECK_CELLS) + questions + LATE_COLUMNS + IDENTITY_COLUMNS
               + ["seconds", "attempts", "device"])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in sorted(results, key=lambda r: r.student_id):
        acc = r.final_accuracy
        row = {
            "student_id": r.student_id,
            "status": r.status,
            "reason": r.reason,
            "total": f"{r.total:g}",
            "max_total": f"{r.max_total:g}",
            "final_accuracy": "" if acc is None else f"{acc:.2f}",
            "flags": "; ".join(r.flags),
            "seconds": f"{r.seconds:.1f}",
            "attempts": r.attempts,
            "device": r.device,
        }
        name, lms = people.get(r.student_id, ("", ""))
        lateness = late[r.student_id]
        row.update(name=name, lms_id=lms or lms_id_from_source(r.source), late="yes" if lateness.late else "no",
                   # Late without a time (Canvas's _LATE_): the days the penalty counts, as export's files say.
                   days_late="" if not lateness.late else f"{lateness.days_counted(config.late.unknown_days):.2f}")
        for c in r.checks:
            if c.name in CHECK_CELLS:
                row[c.name] = f"{c.score:g}"
        for a in r.answers:
            # Empty = answered, waiting for a TA; 0 = not answered; a number = scored by the grader.
            row[a.label] = f"{a.auto_score:g}" if a.answered and a.auto_score is not None else "" if a.answered else "0"
        writer.writerow({key: csv_safe(value) for key, value in row.items()})  # student text is data
    return buf.getvalue()


# -- nbgrader gradebook ---------------------------------------------------------------------
def write_gradebook(out: OutputFolder, result: SubmissionResult, config: GradingConfig,
                    late: Lateness | None = None) -> list[str]:
    """The submission's rows in nbgrader's gradebook, made by nbgrader itself, then our scores.

    nbgrader creates the submission (update_or_create_submission mirrors every grade cell) and
    its SaveAutoGrades preprocessor scores the executed notebook as `nbgrader autograde` would;
    then the automatic checks get the scores scoring.py computed and each answer is either waiting
    for manual grading or 0. A TA's manual score already in the gradebook is kept.

    The notebook formgrader shows (`autograded/`) is made inert first (reports/inert.py: no script,
    handler or unsafe link of a student's reaches the TA's browser); returns what that changed.
    Last, nbgrader's `submitted/` record of the submission, which formgrader's views count
    (autograder/gradebook.py: `mark_submitted`).
    """
    sid = result.student_id
    late = late or lateness_of(result.source, config.late.due)  # the Recorder passes the one it read
    submitted_at = _submission_rows(out, result, config, late)
    nb = _notebook_for_gradebook(result, config)
    stray = stray_by_question(nb, result.flags, tuple(config.points.questions)) if nb is not None else {}
    if not stray and any(marker in f for f in result.flags for marker in STRAY_FLAGS):
        stray = {a.label: [] for a in result.answers if not a.answered}  # the flag says so; the cell is gone
    sanitised = _autograded_copy(out, result, config, nb)
    submission_id = _our_scores(out, result, config, stray)
    mark_submitted(out.nbgrader, sid, submitted_at)  # formgrader's views count a submission from the files
    atomic_write(out.student(sid) / GRADEBOOK_SIDE, json.dumps({"submission_id": submission_id, "stray": stray}))
    return sanitised


def _submission_rows(out: OutputFolder, result: SubmissionResult, config: GradingConfig, late: Lateness):
    """The student (with the LMS id its file name carries), the assignment's due date and the
    submission, made by nbgrader itself; returns the submission's timestamp as the gradebook holds it."""
    assignment, sid = config.course.assignment, result.student_id
    with Gradebook(out.nbgrader.gradebook_url) as gb, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy autoflush warnings that mean nothing here.
        warnings.simplefilter("ignore", category=SAWarning)
        due = parse_time(config.late.due)
        if due is not None:  # nbgrader's own lateness (formgrader, `nbgrader export`) counts from it
            gb.update_or_create_assignment(assignment, duedate=due.astimezone(UTC).replace(tzinfo=None))
        student = gb.update_or_create_student(sid)
        lms = lms_id_from_source(result.source)
        if lms and not student.lms_user_id:
            student.lms_user_id = lms
            gb.db.commit()
        # nbgrader's lateness is timestamp - due date. An LMS file gives no time: on time is the due
        # date itself, Canvas's _LATE_ is late.unknown_days after it (what export charges).
        when = late.submitted_at or (datetime.now(UTC) if due is None else
                                     due + timedelta(days=config.late.unknown_days if late.late else 0))
        return gb.update_or_create_submission(
            assignment, sid, timestamp=when.astimezone(UTC).replace(tzinfo=None).isoformat()).timestamp


def _autograded_copy(out: OutputFolder, result: SubmissionResult, config: GradingConfig, nb) -> list[str]:
    """nbgrader scores what the student wrote (its SaveAutoGrades, as `nbgrader autograde` would),
    then the copy formgrader shows is made inert and written to autograded/; returns what that changed."""
    assignment, notebook, sid = config.course.assignment, config.course.notebook, result.student_id
    db_url = out.nbgrader.gradebook_url
    sanitised: list[str] = []
    if nb is not None:
        target = out.nbgrader.autograded(sid)
        target.parent.mkdir(parents=True, exist_ok=True)
        resources = {"nbgrader": {"db_url": db_url, "assignment": assignment, "notebook": notebook, "student": sid}}
        if result.status != FAILED:
            nb, _ = SaveAutoGrades().preprocess(nb, resources)  # nbgrader scores what the student wrote
        sanitised = inert_notebook(nb)  # then formgrader gets a copy that cannot act
        atomic_write(target, nbformat.writes(nb))
    else:  # nothing to show: not a notebook left from an earlier grading of this student
        out.nbgrader.autograded(sid).unlink(missing_ok=True)
    return sanitised


def _our_scores(out: OutputFolder, result: SubmissionResult, config: GradingConfig, stray: dict) -> str:
    """The automatic checks' scores, each answer waiting for a TA (or 0, or the grader's own score),
    text outside the answer cells left to a TA; a TA's manual score is never touched. Returns the
    submitted notebook's id (formgrader's page for it), or "" when nbgrader has none."""
    assignment, notebook, sid = config.course.assignment, config.course.notebook, result.student_id
    with Gradebook(out.nbgrader.gradebook_url) as gb:
        for check in result.checks:
            if not check.grade_id:
                continue
            try:
                grade = gb.find_grade(check.grade_id, notebook, assignment, sid)
            except MissingEntry:
                print(f"warning: {out.nbgrader.gradebook} has no grade cell {check.grade_id!r}, so its score is not "
                      "stored there (grades.csv has it); grade into a fresh --out folder", file=sys.stderr)
                continue
            grade.auto_score = float(check.score)
            grade.needs_manual_grade = grade.manual_score is not None
        for answer in result.answers:
            try:
                grade = gb.find_grade(answer.grade_id, notebook, assignment, sid)
                comment = gb.find_comment(answer.grade_id, notebook, assignment, sid)
            except MissingEntry:
                print(f"warning: {out.nbgrader.gradebook} has no answer cell {answer.grade_id!r}, so formgrader will "
                      "not show it; grade into a fresh --out folder", file=sys.stderr)
                continue
            if answer.answered and answer.auto_score is not None:
                # Scored by the grader (Q3a's number, when it is the student's own): final unless a TA
                # overrides it in formgrader; the note says why, so the export and grades.csv agree.
                grade.auto_score = float(answer.auto_score)
                grade.needs_manual_grade = False
                comment.auto_comment = answer.note or None
            elif answer.answered:
                grade.auto_score = None
                grade.needs_manual_grade = grade.manual_score is None  # a TA's score survives a regrade
                comment.auto_comment = None
            else:
                grade.auto_score = 0.0
                grade.needs_manual_grade = grade.manual_score is not None
                comment.auto_comment = "No response."
            if answer.label in stray:
                # Text outside the answer cells: a TA decides (formgrader lists it as needing manual grading).
                grade.needs_manual_grade = grade.manual_score is None
                texts = "; ".join(f'"{t[:300]}"' for t in stray[answer.label]) or "see the flags in report.html"
                comment.auto_comment = ("The student wrote text outside the answer cells (not graded automatically), "
                                        f"near this question: {texts}")
        submission_id = ""
        try:
            notebook_row = gb.find_submission_notebook(notebook, assignment, sid)
            submission_id = notebook_row.id
            if stray:
                notebook_row.flagged = True  # formgrader's "Flagged?" column
        except MissingEntry:
            pass
        gb.db.commit()
    return submission_id


def _notebook_for_gradebook(result: SubmissionResult, config: GradingConfig):
    """The executed notebook, else (a failed run) the submitted one when it is a readable notebook."""
    if result.executed_notebook is None:
        # By the one reader prepare used: what it refuses (too large, too many cells, no notebook) is
        # not shown, what it repairs is shown repaired. Read by nbformat directly, a refused notebook
        # of 100,000 one-line cells still cost the coordinator 11 s here after 0.2 s to refuse it.
        try:
            return read_submission(Path(result.source), config.limits.submission_mb, tuple(config.points.questions))[0]
        except SubmissionError:  # not a notebook the lab reads: the gradebook rows exist without one
            return None
    try:
        return nbformat.reads(result.executed_notebook, as_version=4)
    except Exception:  # not a notebook at all: the gradebook rows exist without one
        return None


# -- the recorder the coordinator owns ------------------------------------------------------
class Recorder:
    """Writes results under `out` as they arrive; keeps the class's results for the tables."""

    def __init__(self, out: OutputFolder, config: GradingConfig, master: Path,
                 tables_every_s: float = TABLES_EVERY_S):
        self.out = out
        self.config = config
        self.master = master
        """The course's master, whose rubric notes the question pages show."""
        self.unreadable: list[Problem] = []
        """graded.json files that could not be read back (each is graded again)."""
        self.results = load_done(out.root, self.unreadable)
        self.problems: list = []
        """collect.Problem list, shown in the report."""
        self.roster_students: set[str] = set()
        self._people: dict[str, tuple[str, str]] | None = None
        self._late: dict[str, Lateness] = {}
        """Lateness by source: a result's source (and its timestamp.txt) does not change during a command."""
        self._sides: dict[str, dict] = {}
        """Each student's gradebook.json as the report read it; dropped when record() rewrites it."""
        self.tables_every_s = tables_every_s
        """0: rewrite the tables after every result (what the benchmark compares against)."""
        self._tables_due_at = 0.0
        """time.monotonic() from which the next result rewrites the tables (0: the first one does)."""
        self._tables_stale = False
        """Results recorded since the tables were last written."""
        self.tables_written = 0
        """How many times this command rewrote the tables (the benchmark reports it)."""

    def is_done(self, student_id: str) -> bool:
        """Graded already. A failed submission is not done: once the TA fixed the cause (fetched
        the assets, removed a duplicate), re-running the same command grades it again."""
        done = self.results.get(student_id)
        return done is not None and done.status != FAILED

    def record(self, result: SubmissionResult) -> None:
        result = complete(result, self.config.points)
        late = self._lateness(result.source)
        if late.problem and late.problem not in result.flags:  # a timestamp.txt that is no time
            result.flags = bounded([late.problem, *result.flags])
        folder = self.out.student(result.student_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OutputFolder.GRADED).unlink(missing_ok=True)  # a regrade is not done until it is rewritten
        if result.executed_notebook:
            atomic_write(folder / OutputFolder.EXECUTED, result.executed_notebook)
        atomic_write(folder / OutputFolder.GRADESCOPE, json.dumps(feedback.gradescope_json(result), indent=2))
        atomic_write(folder / OutputFolder.FEEDBACK, feedback.feedback_html(result))
        sanitised = write_gradebook(self.out, result, self.config, late)
        self._sides.pop(result.student_id, None)
        if sanitised:  # the TA learns why formgrader's copy differs from the answer in graded.json
            result.flags = bounded(result.flags + [f"formgrader's copy made safe to display ({len(sanitised)} "
                                                   f"change(s)): {sanitised[0]}"])
        # The executed notebook lives in executed.ipynb; graded.json stays small for reports.
        light = replace(result, executed_notebook=None)
        atomic_write(folder / OutputFolder.GRADED, json.dumps(light.to_dict(), indent=1))
        self.results[result.student_id] = light
        self._tables_stale = True
        self.flush_if_due()

    @property
    def next_rewrite_at(self) -> float:
        """time.monotonic() from which a result, or the pool's idle call, rewrites the tables."""
        return self._tables_due_at

    def flush_if_due(self) -> None:
        """While the runners work and no result arrives: the tables catch up once they are due, so
        between results they are never more than `tables_every_s` behind."""
        if self._tables_stale and time.monotonic() >= self._tables_due_at:
            self.write_tables()

    def flush(self) -> None:
        """Rewrite the tables if a result came since they were last written (the command's end)."""
        if self._tables_stale:
            self.write_tables()

    def enrol(self, roster) -> None:
        """The roster's students into the gradebook with their names and LMS ids (formgrader shows
        names; export keys LMS files by them); those with no submission are listed in the report."""
        if roster is None:
            return
        with Gradebook(self.out.nbgrader.gradebook_url) as gb, warnings.catch_warnings():
            warnings.simplefilter("ignore", category=SAWarning)
            lms_ids = roster.lms_ids
            for sid in sorted(roster.students):
                first, last = roster.names.get(sid, ("", ""))
                fields = {k: v for k, v in (("first_name", first), ("last_name", last),
                                            ("lms_user_id", lms_ids.get(sid, ""))) if v}
                gb.update_or_create_student(sid, **fields)
        self.roster_students = set(roster.students)
        self._people = None

    def people(self) -> dict[str, tuple[str, str]]:
        """Student id -> (name, LMS id) as the gradebook holds them, read once per command (after
        `enrol`): grading adds no names, and the LMS id it adds is the one grades_csv reads from the
        source anyway, so the tables rewritten after every result need not read the gradebook again."""
        if self._people is None:
            with Gradebook(self.out.nbgrader.gradebook_url) as gb:
                self._people = {s.id: (" ".join(p for p in (s.first_name, s.last_name) if p), s.lms_user_id or "")
                                for s in gb.students}
        return self._people

    def missing(self, people: dict[str, tuple[str, str]]) -> list[Problem]:
        """Roster students with no submission (nothing recorded for them)."""
        missing = sorted(self.roster_students - set(self.results))
        names = {sid: people.get(sid, ("", ""))[0] for sid in missing}
        return [Problem("roster", f"{sid}{f' ({names[sid]})' if names[sid] else ''}: no submission", sid)
                for sid in missing]

    def _lateness(self, source: str) -> Lateness:
        """A submission's lateness, read once per command (its timestamp.txt, its LMS file name)."""
        if source not in self._late:
            self._late[source] = lateness_of(source, self.config.late.due)
        return self._late[source]

    def write_tables(self) -> None:
        """grades.csv and report.html for every result so far; the next rewrite is due no sooner than
        `tables_every_s` from now, nor before this one's duration has become `TABLES_SHARE` of the gap."""
        started = time.monotonic()
        results = list(self.results.values())
        people = self.people()
        late = {r.student_id: self._lateness(r.source) for r in results}
        atomic_write(self.out.grades_csv, grades_csv(results, self.config, people, late))
        report.write_report(self.out, results, self.problems + self.unreadable + self.missing(people), self.config,
                            self.master, late, self._sides)
        finished = time.monotonic()
        self._tables_stale = False
        self.tables_written += 1
        gap = max(self.tables_every_s, (finished - started) * (1 - TABLES_SHARE) / TABLES_SHARE)
        self._tables_due_at = finished + gap if self.tables_every_s > 0 else 0.0
