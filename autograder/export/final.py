"""`alexnet-lab export OUT`: the gradebook -> final grades, LMS files and each student's final feedback.

The gradebook in `OUT/nbgrader` is the single source of what TAs entered (formgrader writes it);
`graded.json` adds what the gradebook does not hold (the pictures, the reasons, where the file came
from). For every student of the gradebook (roster students without a submission included):

- every grade cell: automatic points, a TA's manual points (and extra credit), the TA's comment;
- `pending`: answers still waiting for a TA. A pending student has no total and no final score:
  "not graded yet" never looks like a zero or like final. Export refuses (ExportRefused, exit 1)
  while anything is pending, listing who and which question, unless `allow_pending`;
- lateness (late.py) and the penalty of the course's late policy, also written into the gradebook
  (`late_submission_penalty`), so `nbgrader export` gives the same final score;
- points changed since grading (the config, the gradebook's cells and graded.json disagree):
  refused with what changed and what to run. Totals never disagree silently.

Writes `OUT/final/` (final_grades.csv, canvas.csv, brightspace.csv, moodle.csv, gradescope.json)
and rewrites each student's `OUT/<id>/feedback.html` and `gradescope.json` with the TA's points and
comments and the final total; nbgrader's own feedback copies (`OUT/nbgrader/feedback/`) are
removed, so each student has one feedback file.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import warnings
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path

from sqlalchemy.exc import SAWarning

from alexnet_core.contract import CHECK_CELLS, answer_label
from autograder import database
from autograder.course import OutputFolder
from autograder.errors import LabError
from autograder.export import lms
from autograder.export.late import describe_policy, penalty_percent
from autograder.files import atomic_write, csv_safe, exclusive_lock
from autograder.gradebook import Gradebook, MissingEntry
from autograder.reports import feedback
from autograder.sources import NO_TIME, Lateness, lateness_of, lms_id_from_source, parse_time
from autograder.submission.results import FAILED, SubmissionResult
from grading_config import GradingConfig

NO_SUBMISSION = "no submission"


class ExportRefused(LabError):
    """Export would give a wrong or unfinished grade; the message says what and what to do."""


@dataclass
class CellGrade:
    """One grade cell of one student, as the gradebook holds it."""

    name: str
    """The check's name ('trajectory') or the question's label ('Q1')."""
    grade_id: str
    max_score: float
    auto: float | None = None
    manual: float | None = None
    extra: float | None = None
    comment: str = ""
    """The TA's comment (formgrader), else the grader's automatic one."""
    ta_comment: bool = False
    pending: bool = False
    """Waits for a TA: answered (or flagged), no manual score yet."""
    reason: str = ""
    """Why an automatic check lost points (graded.json's reason; the gradebook has no comment for it)."""

    @property
    def score(self) -> float | None:
        if self.pending:
            return None
        base = self.manual if self.manual is not None else (self.auto or 0.0)
        return base + (self.extra or 0.0)


@dataclass
class StudentFinal:
    student_id: str
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    lms_id: str = ""
    status: str = NO_SUBMISSION
    checks: list[CellGrade] = field(default_factory=list)
    questions: list[CellGrade] = field(default_factory=list)
    max_total: float = 0.0
    lateness: Lateness = field(default_factory=Lateness)
    penalty_percent: float = 0.0
    submission_id: str = ""
    """nbgrader's SubmittedNotebook id: formgrader's page is /formgrader/submissions/<id>."""
    flags: list[str] = field(default_factory=list)
    result: SubmissionResult | None = None
    unknown_days: float = 1.0
    """The course's late.unknown_days: what a late file without a time is counted as."""

    @property
    def pending(self) -> list[str]:
        if self.status == NO_SUBMISSION:
            return [NO_SUBMISSION]
        return [c.name for c in self.checks + self.questions if c.pending]

    @property
    def total(self) -> float | None:
        """Points earned before the late penalty; None while anything waits for a TA."""
        if self.pending:
            return None
        return sum(c.score or 0.0 for c in self.checks + self.questions)

    @property
    def penalty_points(self) -> float | None:
        total = self.total
        return None if total is None else round(total * self.penalty_percent / 100, 4)

    @property
    def final(self) -> float | None:
        total = self.total
        return None if total is None else round(total - (self.penalty_points or 0.0), 4)

    @property
    def earned(self) -> float:
        """Points known so far (automatic and TA-graded), before the late penalty."""
        return sum(c.score or 0.0 for c in self.checks + self.questions)

    @property
    def known(self) -> float:
        """`earned` after the late penalty: the final grade once nothing is pending, and never more
        than it will be."""
        return round(self.earned - self.earned * self.penalty_percent / 100, 4)

    def feedback_lines(self) -> list[str]:
        """What the student reads beside the grade in an LMS: why automatic points were lost, the
        TA's comments, the late penalty, what still waits for a TA."""
        if self.status == NO_SUBMISSION:
            return []
        failed = self.result is not None and self.result.status == FAILED
        # A run that failed gives every check its reason: said once, first, not again per check.
        lines = [f"{c.name.replace('_', ' ')} {c.score or 0:g}/{c.max_score:g}"
                 + ("" if failed and c.reason == self.result.reason else f": {c.reason}")
                 for c in self.checks if c.reason and (c.score or 0) < c.max_score]
        if failed:
            lines.insert(0, f"not graded automatically: {self.result.reason}")
        lines += [f"{q.name} {q.score:g}/{q.max_score:g}: {q.comment}" for q in self.questions
                  if q.ta_comment and q.score is not None]
        if self.penalty_percent:
            lines.append(f"late penalty -{self.penalty_percent:g}%: {self.lateness.describe(self.unknown_days)}")
        if self.pending:
            lines.append(f"not final: waiting for a TA ({', '.join(self.pending)})")
        return lines


@dataclass
class ExportSummary:
    students: list[StudentFinal]
    files: dict[str, Path]
    warnings: list[str]
    pending: list[StudentFinal]

    def lines(self) -> list[str]:
        done = [s for s in self.students if s.final is not None]
        lines = [f"final grades: {len(done)} of {len(self.students)} student(s) complete"
                 + (f", {len(self.pending)} pending (empty grade, listed in the pending column)" if self.pending else "")]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"{name}: {path}" for name, path in self.files.items()]
        return lines


# -- reading ------------------------------------------------------------------------------
def _label_of(grade_id: str, config: GradingConfig) -> tuple[str, str] | None:
    """('check', 'trajectory') or ('question', 'Q1') for a grade cell; None for others."""
    for name, cell in CHECK_CELLS.items():
        if cell == grade_id:
            return "check", name
    label = answer_label(grade_id, tuple(config.points.questions))
    return ("question", label) if label else None


def read_gradebook(out: OutputFolder, config: GradingConfig, results: dict[str, SubmissionResult]) -> list[StudentFinal]:
    """Every student of the gradebook (and every graded.json), with what TAs entered."""
    assignment, notebook = config.course.assignment, config.course.notebook
    students: dict[str, StudentFinal] = {}
    with Gradebook(out.nbgrader.gradebook_url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", category=SAWarning)
        for student in gb.students:
            final = students.setdefault(student.id, StudentFinal(student.id))
            final.name = _name(student.first_name, student.last_name)
            final.first_name, final.last_name = student.first_name or "", student.last_name or ""
            final.lms_id = student.lms_user_id or ""
            try:
                sub = gb.find_submission_notebook(notebook, assignment, student.id)
            except MissingEntry:
                continue
            final.status = "graded"
            final.submission_id = sub.id
            comments = {c.name: c for c in sub.comments}
            for grade in sub.grades:
                kind = _label_of(grade.name, config)
                if kind is None:
                    continue
                comment = comments.get(grade.name)
                ta = bool(comment is not None and (comment.manual_comment or "").strip())
                text = (comment.manual_comment if ta else (comment.auto_comment if comment is not None else "")) or ""
                cell = CellGrade(kind[1], grade.name, float(grade.max_score or 0.0), grade.auto_score, grade.manual_score,
                                 grade.extra_credit, text.strip(), ta,
                                 pending=bool(grade.needs_manual_grade) and grade.manual_score is None)
                (final.checks if kind[0] == "check" else final.questions).append(cell)
            if sub.flagged:
                final.flags.append("flagged in formgrader")
            stamp = sub.assignment.timestamp
            final.lateness = _lateness(results.get(student.id), stamp, config)
    for sid, result in results.items():
        final = students.setdefault(sid, StudentFinal(sid))
        final.result = result
        if result.status == FAILED:
            final.status = FAILED
        final.flags = result.flags + final.flags
    order = {name: i for i, name in enumerate(CHECK_CELLS)}
    qorder = {label: i for i, label in enumerate(config.points.questions)}
    for final in students.values():
        final.unknown_days = config.late.unknown_days
        reasons = {c.grade_id: c.reason for c in final.result.checks} if final.result is not None else {}
        for cell in final.checks:
            cell.reason = reasons.get(cell.grade_id, "")
        final.checks.sort(key=lambda c: order.get(c.name, 99))
        final.questions.sort(key=lambda c: qorder.get(c.name, 99))
        final.max_total = sum(c.max_score for c in final.checks + final.questions) or (
            sum(config.points.checks().values()) + sum(config.points.questions.values()))
        if not final.lms_id and final.result is not None:
            final.lms_id = lms_id_from_source(final.result.source)
        final.penalty_percent = penalty_percent(final.lateness, config.late)
    return sorted(students.values(), key=lambda s: s.student_id)


def _name(first: str | None, last: str | None) -> str:
    return " ".join(p for p in (first or "", last or "") if p).strip()


def _lateness(result: SubmissionResult | None, stamp, config: GradingConfig) -> Lateness:
    """From where the file came from (late.py); for an nbgrader submitted/ tree whose timestamp.txt
    is no longer where it was at grading, from the timestamp the gradebook kept."""
    if result is None:
        return Lateness()
    known = lateness_of(result.source, config.late.due)
    if known.late or known.submitted_at is not None or "/submitted/" not in result.source.replace("\\", "/"):
        return known
    deadline = parse_time(config.late.due)
    if stamp is None or deadline is None:
        return known
    when = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
    seconds = (when - deadline).total_seconds()
    return Lateness(seconds > 0, max(seconds, 0.0) / 86400, when, "the gradebook's timestamp")


# -- consistency ----------------------------------------------------------------------------
def points_changed(students: list[StudentFinal], config: GradingConfig) -> list[str]:
    """Where the config, the gradebook's grade cells and graded.json disagree on a cell's points."""
    wanted = dict(config.points.checks()) | dict(config.points.questions)
    problems: dict[str, set[str]] = {}
    for s in students:
        for cell in s.checks + s.questions:
            if cell.name in wanted and abs(float(wanted[cell.name]) - cell.max_score) > 1e-9:
                problems.setdefault(f"{cell.name} is worth {float(wanted[cell.name]):g} in the config but "
                                    f"{cell.max_score:g} in the gradebook", set()).add(s.student_id)
        if s.result is None:
            continue
        graded = {c.name: c.max_score for c in s.result.checks if c.grade_id} | {a.label: a.max_score for a in s.result.answers}
        for name, worth in graded.items():
            if name in wanted and abs(float(wanted[name]) - float(worth)) > 1e-9:
                problems.setdefault(f"{name} was graded out of {float(worth):g} (grades.csv, feedback) but is worth "
                                    f"{float(wanted[name]):g} now", set()).add(s.student_id)
    return [f"{what} ({len(who)} student(s): {', '.join(sorted(who)[:5])}{' ...' if len(who) > 5 else ''})"
            for what, who in sorted(problems.items())]


def pending_lines(students: list[StudentFinal]) -> list[str]:
    return [f"{s.student_id}{f' ({s.name})' if s.name else ''}: {', '.join(s.pending)}"
            for s in students if s.pending and s.status != NO_SUBMISSION]


# -- writing --------------------------------------------------------------------------------
def final_columns(config: GradingConfig) -> list[str]:
    columns = ["student_id", "name", "lms_id", "status"]
    for name in CHECK_CELLS:
        columns += [f"{name}_auto", f"{name}_manual"]
    for label in config.points.questions:
        columns += [f"{label}_auto", f"{label}_manual", f"{label}_comment"]
    return columns + ["total", "max_total", "late", "days_late", "late_how", "late_penalty_percent", "late_penalty",
                      "final", "pending", "flags"]


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def final_grades_csv(students: list[StudentFinal], config: GradingConfig) -> str:
    columns = final_columns(config)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for s in students:
        row = {"student_id": s.student_id, "name": s.name, "lms_id": s.lms_id, "status": s.status,
               "total": _num(s.total), "max_total": _num(s.max_total),
               "late": "yes" if s.lateness.late else ("" if s.status == NO_SUBMISSION else "no"),
               # A late file without a time (Canvas's _LATE_) counts late.unknown_days; late_how says so.
               "days_late": "" if not s.lateness.late else f"{s.lateness.days_counted(config.late.unknown_days):.2f}",
               "late_how": s.lateness.describe(config.late.unknown_days) if s.lateness.late else "",
               "late_penalty_percent": _num(s.penalty_percent) if s.lateness.late else "",
               "late_penalty": _num(s.penalty_points) if s.lateness.late else "",
               "final": _num(s.final), "pending": "; ".join(s.pending), "flags": "; ".join(s.flags)}
        for c in s.checks:
            row[f"{c.name}_auto"], row[f"{c.name}_manual"] = _num(c.auto), _num(c.manual)
        for q in s.questions:
            # A pending answer has no automatic score: empty, never 0.
            row[f"{q.name}_auto"], row[f"{q.name}_manual"] = _num(q.auto), _num(q.manual)
            row[f"{q.name}_comment"] = q.comment if q.ta_comment else ""
        writer.writerow({k: csv_safe(v) for k, v in row.items() if k in columns})
    return buf.getvalue()


def write_gradebook_penalties(out: OutputFolder, students: list[StudentFinal], config: GradingConfig) -> None:
    """The late penalty in points into nbgrader's own column, so `nbgrader export` agrees."""
    assignment, notebook = config.course.assignment, config.course.notebook
    with Gradebook(out.nbgrader.gradebook_url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", category=SAWarning)
        for s in students:
            if not s.submission_id:
                continue
            try:
                sub = gb.find_submission_notebook(notebook, assignment, s.student_id)
            except MissingEntry:
                continue
            sub.late_submission_penalty = s.penalty_points or 0.0
        gb.db.commit()


def remove_nbgrader_feedback(out: OutputFolder, config: GradingConfig) -> list[Path]:
    """nbgrader's generate_feedback copies (formgrader's button): a second feedback file per
    student, which also shows hidden checks (nbgrader #917). Ours is OUT/<id>/feedback.html."""
    removed = []
    root = out.nbgrader.root / "feedback"
    for folder in sorted(root.glob(f"*/{config.course.assignment}")):
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def export(out: Path, config: GradingConfig, allow_pending: bool = False,
           results: dict[str, SubmissionResult] | None = None) -> ExportSummary:
    """Write OUT/final/ and the final feedback; ExportRefused when it would mislead. `results`: the
    graded.json files of OUT, when the caller has read them already."""
    out = OutputFolder.of(Path(out), config)
    database.open_checked(out.nbgrader)  # the gradebook OUT was graded into, reachable; else one line
    # grade writes the gradebook and graded.json as results come in: an export now would miss some
    # and write penalties beside it. While this export runs, a grade on OUT refuses the same way.
    with exclusive_lock(out.lock, f"{out.root} is in use by another command", holder=EXPORT_HOLDER,
                        advice="export when it has finished (grades still coming in would be missing)"):
        return _export_locked(out, config, allow_pending, results)


EXPORT_HOLDER = "`alexnet-lab export` exporting it"


def _export_locked(out: OutputFolder, config: GradingConfig, allow_pending: bool,
                   results: dict[str, SubmissionResult] | None) -> ExportSummary:
    from autograder.batch.record import load_done

    if results is None:
        results = load_done(out.root)
    students = read_gradebook(out, config, results)
    changed = points_changed(students, config)
    if changed:
        raise ExportRefused("points changed since the submissions were graded, so totals would disagree:\n  "
                            + "\n  ".join(changed) + "\nrun the same `alexnet-lab grade INPUT... --out "
                            f"{out.root} --regrade` (TA's manual grades are kept), then export again")
    pending = [s for s in students if s.pending and s.status != NO_SUBMISSION]
    if pending and not allow_pending:
        raise ExportRefused(f"manual grading is not finished for {len(pending)} student(s) (student: questions):\n  "
                            + "\n  ".join(pending_lines(students)) + "\ngrade them in formgrader "
                            f"(alexnet-lab formgrader {out.root}), or export anyway with --allow-pending "
                            "(their grades stay empty and are listed in the pending column)")
    warnings_ = []
    missing = [s for s in students if s.status == NO_SUBMISSION]
    if missing:
        warnings_.append(f"{len(missing)} roster student(s) with no submission: "
                         + ", ".join(f"{s.student_id}{f' ({s.name})' if s.name else ''}" for s in missing[:20]))
    write_gradebook_penalties(out, students, config)
    removed = remove_nbgrader_feedback(out, config)
    if removed:
        warnings_.append(f"removed nbgrader's generate_feedback copies for {len(removed)} student(s) "
                         f"({out.nbgrader.root / 'feedback'}): each student's one feedback file is OUT/<id>/feedback.html")

    folder = out.final
    files = {"final grades": folder / "final_grades.csv"}
    atomic_write(files["final grades"], final_grades_csv(students, config))
    points_possible = sum(config.points.checks().values()) + sum(config.points.questions.values())
    listed, shared = _one_student_per_lms_id(students)
    if shared:  # an LMS import would give both grades to one account: neither is guessed
        warnings_.append("LMS ids held by more than one student, left out of canvas.csv and brightspace.csv: "
                         + "; ".join(f"{lms_id} ({', '.join(who)})" for lms_id, who in sorted(shared.items())[:10])
                         + "; fix the roster's lms_id column")
    for name, text, skipped in lms.lms_files(listed, config.export, config.course.assignment, points_possible):
        files[name] = folder / name
        atomic_write(files[name], text)
        if skipped:
            warnings_.append(f"{name}: no LMS id for {', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''} "
                             "(not in the file; give them an lms_id in the roster)")
    warnings_ += lms_notes(students, config)
    gradescope = {s.student_id: final_gradescope(s) for s in students if s.status != NO_SUBMISSION}
    files["gradescope.json"] = folder / "gradescope.json"
    atomic_write(files["gradescope.json"], json.dumps(gradescope, indent=1))
    policy = describe_policy(config.late)
    for s in students:
        if s.result is None:
            continue
        student_folder = out.student(s.student_id)
        # graded.json holds no notebook; the pictures are in the executed notebook grading kept.
        executed = student_folder / OutputFolder.EXECUTED
        notebook = executed.read_text(encoding="utf-8") if executed.is_file() else None
        atomic_write(student_folder / OutputFolder.FEEDBACK,
                     feedback.feedback_html(s.result, final=final_view(s, policy), executed_notebook=notebook))
        atomic_write(student_folder / OutputFolder.GRADESCOPE, json.dumps(gradescope[s.student_id], indent=2))
    files["feedback"] = out.root / "<student_id>" / OutputFolder.FEEDBACK
    return ExportSummary(students, files, warnings_, pending)


def _one_student_per_lms_id(students: list[StudentFinal]) -> tuple[list[StudentFinal], dict[str, list[str]]]:
    """The students as the LMS files list them, an LMS id two students hold cleared from both; and
    those ids with their students."""
    holders: dict[str, list[str]] = {}
    for s in students:
        if s.lms_id:
            holders.setdefault(s.lms_id, []).append(s.student_id)
    shared = {lms_id: who for lms_id, who in holders.items() if len(who) > 1}
    return [replace(s, lms_id="") if s.lms_id in shared else s for s in students], shared


def lms_notes(students: list[StudentFinal], config: GradingConfig) -> list[str]:
    """What the TA must know before importing: where Canvas puts the grades, how days late were
    counted when the LMS gave no time."""
    notes = []
    if not config.export.canvas_assignment_id:
        title = config.export.lms_column or config.course.assignment
        notes.append(f"canvas.csv: the column is {title!r} without a Canvas assignment id, so Canvas fills an "
                     "assignment of exactly that name or creates a new one; to fill an existing assignment, set "
                     "[export] canvas_assignment_id = \"12345\" (the number in its address, .../assignments/12345)")
    no_id = [s.student_id for s in students if not s.lms_id]
    if no_id:  # Moodle's import stops at the first ID number no user has, importing nothing
        notes.append(f"moodle.csv: no lms_id for {', '.join(no_id[:10])}{' ...' if len(no_id) > 10 else ''}, so "
                     "their 'ID number' is the student id; Moodle's import refuses the whole file if one of them "
                     "is no user's ID number there: give them an lms_id in the roster (or delete their rows)")
    failed = [s for s in students if s.status == FAILED]
    if failed:  # a cut-off upload is a 0 in the LMS until the TA has the file again
        notes.append(f"{len(failed)} submission(s) could not be graded, so their checks score 0 in every LMS "
                     f"file ({'; '.join(f'{s.student_id}: {s.result.reason[:80]}' for s in failed[:5])}"
                     f"{' ...' if len(failed) > 5 else ''}); once a student sends the file again, grade it into this "
                     "folder (`alexnet-lab grade FILE --out OUT`, with `--roster` as before) and export again")
    if config.late.policy != "none":  # no time known: on time by default, which the TA should know
        timeless = [s.student_id for s in students if s.status != NO_SUBMISSION and not s.lateness.how]
        if timeless:
            notes.append(f"{len(timeless)} submission(s) whose files give no submission time ({', '.join(timeless[:10])}"
                         f"{' ...' if len(timeless) > 10 else ''}: a Moodle or Brightspace download, loose notebooks): "
                         "the late policy counts them on time; check their times in the LMS, or grade an nbgrader "
                         "submitted/ tree, whose timestamp.txt gives one")
    untimed = [s.student_id for s in students if s.lateness.late and s.lateness.days is None]
    if untimed:
        notes.append(f"{len(untimed)} late submission(s) without a time ({', '.join(untimed[:10])}"
                     f"{' ...' if len(untimed) > 10 else ''}): {NO_TIME} (Canvas's _LATE_), so each counts as "
                     f"late.unknown_days = {config.late.unknown_days:g} day(s) (final_grades.csv: days_late, late_how)")
    return notes


def final_view(s: StudentFinal, policy: str) -> dict:
    """What feedback.html shows of the final grade (reports/feedback.py renders it)."""
    return {
        "rows": [{"name": f"Question {q.name}", "score": q.score, "max_score": q.max_score, "comment": q.comment,
                  "ta": q.ta_comment, "pending": q.pending} for q in s.questions]
                + [{"name": c.name.replace("_", " "), "score": c.score, "max_score": c.max_score,
                    "comment": c.comment if c.ta_comment else "", "ta": c.ta_comment, "pending": c.pending,
                    "check": True} for c in s.checks if c.manual is not None or c.ta_comment],
        "total": s.total,
        "max_total": s.max_total,
        "late": s.lateness.describe(s.unknown_days) if s.lateness.late else "",
        "penalty_percent": s.penalty_percent,
        "penalty_points": s.penalty_points,
        "final": s.final,
        "pending": s.pending,
        "policy": policy,
    }


def final_gradescope(s: StudentFinal) -> dict:
    """Gradescope's results.json for one student, with the TA's points and comments: a question
    still waiting for a TA has no score (reports/feedback.py: gradescope_test), and the top-level
    score is the final grade, or the points known so far with an output that says it is not final."""
    tests = []
    for c in s.checks:
        if c.score is not None and c.score >= c.max_score:
            text = "all points"
        else:
            text = c.reason or (f"{c.score or 0:g} of {c.max_score:g} points" if not c.pending else "")
        if c.ta_comment:
            text = f"{text}\nTA: {c.comment}" if text else f"TA: {c.comment}"
        tests.append(feedback.gradescope_test(c.name.replace("_", " "), c.max_score,
                                              None if c.pending else c.score, text or feedback.MANUAL_NOTE))
    for q in s.questions:
        if q.pending:
            text = feedback.MANUAL_NOTE
        elif q.ta_comment:
            text = f"TA: {q.comment}"
        else:
            text = q.comment or ("all points" if (q.score or 0) >= q.max_score else "")
        tests.append(feedback.gradescope_test(f"Question {q.name}", q.max_score, q.score, text))
    if s.penalty_percent:
        # A test with max_score 0 and a negative score: Gradescope adds it to the tests' sum, and
        # the top-level score (which overrides that sum) already has the penalty taken off.
        tests.append(feedback.gradescope_test("late penalty", 0.0, -round(s.earned * s.penalty_percent / 100, 4),
                                              f"{s.lateness.describe(s.unknown_days)}: -{s.penalty_percent:g}%"))
    if s.final is not None:
        summary = f"Final grade: {s.final:g} of {s.max_total:g} points."
    else:
        summary = (f"Not final: {', '.join(s.pending)} wait for a TA. Points so far: {s.known:g} of "
                   f"{s.max_total:g}" + (f", after the late penalty of {s.penalty_percent:g}%" if s.penalty_percent else "")
                   + ".")
    if s.result is not None and s.result.status == FAILED:
        summary += f" Not graded automatically: {s.result.reason}"
    return feedback.gradescope_results(tests, s.final if s.final is not None else s.known, summary,
                                       s.result.seconds if s.result is not None else None)
