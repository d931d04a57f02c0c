"""What a runner hands back to the coordinator: plain dataclasses that travel as JSON.

Runners (local processes or Ray workers) never touch the gradebook or the output folder; they
return a `SubmissionResult`, and `record.py` writes it. Everything here round-trips through
`to_dict` / `from_dict` so a result can cross a process or machine boundary and be saved as the
per-student `graded.json` that makes a batch resumable.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from alexnet_core.contract import CHECK_CELLS, answer_cell
from grading_config import Points

GRADED = "graded"
FAILED = "failed"


@dataclass
class CheckResult:
    """One automatic check, scored against one nbgrader grade cell."""

    name: str
    """Column name in grades.csv, e.g. 'trajectory', 'evidence', 'kernel_plots'."""
    grade_id: str | None
    """The nbgrader grade cell this score belongs to (None: informational only)."""
    score: float
    max_score: float
    reason: str = ""
    """Why points were lost; empty when the check earned everything."""
    details: dict[str, Any] = field(default_factory=dict)
    """Figures the feedback and the TA see (accuracies, envelope, fingerprints...)."""

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score


@dataclass
class Answer:
    """A free-text answer, waiting for a TA (or scored 0 when missing)."""

    label: str
    """Question label as students see it: 'Q1', 'Q3a', ..."""
    grade_id: str
    text: str
    answered: bool
    max_score: float
    note: str = ""
    """Shown to the TA beside the answer (e.g. Q3a: the student's own before-training accuracy)."""
    auto_score: float | None = None
    """Points given automatically (Q3a: the student's own number, `identity.q3a_auto_points`);
    None: the TA grades it. The TA still sees the answer and may change the score."""


@dataclass
class SubmissionResult:
    """Everything known about one graded (or failed) submission."""

    student_id: str
    source: str
    """The submitted file as the TA gave it (never modified)."""
    status: str = GRADED
    """'graded' or 'failed'."""
    reason: str = ""
    """One line: why it failed, or what the TA should know."""
    checks: list[CheckResult] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    """Things a TA should look at (evidence mismatch, extra code, tampering restored...)."""
    trajectory_submitted: dict | None = None
    """The trajectory record found in the student's own outputs, if any."""
    trajectory_rerun: dict | None = None
    """The trajectory record from our re-execution, if it got that far."""
    executed_notebook: str | None = None
    """The re-executed notebook as nbformat JSON (text), for the gradebook and feedback."""
    failed_cell: str | None = None
    """grade_id (or index) of the cell where execution stopped, if it did."""
    device: str = ""
    seconds: float = 0.0
    attempts: int = 1
    identity: dict = field(default_factory=dict)
    """Whose experiment this is: {"per_student", "submitter", "typed", "seed", "record_seed",
    "matches" (a classmate's id or "default seed" when the outputs are another run's), "q3a"}."""

    @property
    def final_accuracy(self) -> float | None:
        acc = (self.trajectory_rerun or {}).get("accuracy")
        return float(acc[-1]) if acc else None

    @property
    def total(self) -> float:
        """Automatic points so far (manual points are added by TAs in the gradebook)."""
        return sum(c.score for c in self.checks if c.grade_id) + sum(a.auto_score or 0.0 for a in self.answers)

    @property
    def auto_max(self) -> float:
        """The most the automatic checks can give."""
        return sum(c.max_score for c in self.checks if c.grade_id)

    @property
    def max_total(self) -> float:
        return self.auto_max + sum(a.max_score for a in self.answers)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        data = dict(data)
        data["checks"] = [CheckResult(**c) for c in data.get("checks", [])]
        data["answers"] = [Answer(**a) for a in data.get("answers", [])]
        return cls(**data)


@dataclass
class PreparedSubmission:
    """A submission ready to execute, with what was learnt about it on the way."""

    student_id: str
    source: str
    """The submitted file path (never modified, never written)."""
    notebook: str
    """Sanitised nbformat JSON (text), ready to execute."""
    evidence: dict
    """From the student's own outputs before clearing: {'trajectory', 'plots': {'kernels', 'kinds'}, 'executed_cells'}."""
    answers: list[Answer]
    """One per question of grading_config.Points, answered or not."""
    flags: list[str] = field(default_factory=list)
    """What a TA should know: restored cells, extra code, answers in the wrong cells..."""
    identity: dict = field(default_factory=dict)
    """The submitter's id, the id typed in the notebook, the seed the grader runs with."""


MAX_FLAGS = 20
MAX_FLAG_CHARS = 300


def bounded(flags: list[str]) -> list[str]:
    """At most MAX_FLAGS lines of at most MAX_FLAG_CHARS each, the last counting the rest: a
    notebook with 10,000 odd cells must not make a megabyte of flags (a CSV reader refuses it)."""
    shown = [f if len(f) <= MAX_FLAG_CHARS else f[:MAX_FLAG_CHARS - 1] + "…" for f in flags]
    if len(shown) > MAX_FLAGS:  # MAX_FLAGS lines in all, so bounding twice changes nothing
        shown = shown[:MAX_FLAGS - 1] + [f"... and {len(flags) - MAX_FLAGS + 1} more flags like these"]
    return shown


def complete(result: SubmissionResult, points: Points) -> SubmissionResult:
    """Every check and question present (at 0, with the reason, where the run never got there),
    and the flags bounded. Every result passes here before it is recorded."""
    result.flags = bounded(result.flags)
    have = {c.name for c in result.checks}
    why = result.reason or "not reached"
    for name, worth in points.checks().items():
        if name not in have:
            result.checks.append(CheckResult(name, CHECK_CELLS[name], 0.0, float(worth), reason=why))
    labels = {a.label for a in result.answers}
    for label, worth in points.questions.items():
        if label not in labels:
            result.answers.append(Answer(label, answer_cell(label), "", False, float(worth)))
    return result


def failed_result(student_id: str, source: str, reason: str, points: Points, **extra) -> SubmissionResult:
    """A submission that could not be graded: every point 0, the reason on every line."""
    return complete(SubmissionResult(student_id=student_id, source=source, status=FAILED, reason=reason, **extra), points)
