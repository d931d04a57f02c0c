"""What the manual-grading store returns (answer, item and group states, write results) and what
it refuses (its errors, each with a message for the TA and the HTTP status the page maps it to).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from autograder.errors import LabError
from autograder.manual.rubric import RubricItem
from autograder.manual.tables import WHO_MAX


class StoreError(LabError):
    """A request the store refuses; the message is for the TA."""


class NotFound(StoreError, KeyError):
    """An unknown question, item or group (HTTP 404)."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


class BadRequest(StoreError, ValueError):
    """An item that breaks the rubric's rules, an empty title... (HTTP 400)."""


class ItemInUse(StoreError):
    """An item still applied cannot be deleted (HTTP 409); `count` answers use it."""

    def __init__(self, message: str, count: int):
        super().__init__(message)
        self.count = count


class Stale(StoreError):
    """An item changed by someone else since the TA's page loaded (HTTP 409)."""

    def __init__(self, message: str, by: str | None, at: str | None):
        super().__init__(message)
        self.by, self.at = by, at


# -- what the store returns --------------------------------------------------------------------
def iso_utc(when: datetime | None) -> str | None:
    return None if when is None else when.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def who_as_stored(by) -> str:
    """Who, as stored: a name the TA typed may be anything, the column holds 200 characters."""
    text = " ".join(str(by or "").split())
    return text[:WHO_MAX] or "unknown"


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as nbgrader stores its times


@dataclass(frozen=True)
class Conflict:
    """An answer a write did not touch: someone changed it since the TA's page loaded."""

    student: str
    by: str | None
    at: str | None
    """ISO time, UTC ("...Z")."""
    message: str

    def to_dict(self) -> dict:
        return {"student": self.student, "by": self.by, "at": self.at, "message": self.message}


@dataclass(frozen=True)
class AnswerState:
    """One answer's manual grading as the store and nbgrader's gradebook hold it."""

    student: str
    version: int
    """What the page sends back as `seen` to change it."""
    applied: tuple[str, ...]
    """Item ids applied, in the rubric's order."""
    note: str
    """The TA's own comment for this answer (after the items' comments)."""
    score: float | None
    """The points the student gets now: the manual score, else the automatic one (None: waiting)."""
    manual_score: float | None
    comment: str
    """The comment the student reads (nbgrader's manual comment)."""
    needs_manual_grade: bool
    by: str | None
    """Who made the last change (None: nobody yet)."""
    at: str | None
    outside: bool
    """The grade was last changed outside this page (formgrader): the items may not explain it."""

    @property
    def graded(self) -> bool:
        return self.score is not None and not self.needs_manual_grade

    def to_dict(self) -> dict:
        return {"student": self.student, "version": self.version, "applied": list(self.applied), "note": self.note,
                "score": self.score, "manual_score": self.manual_score, "comment": self.comment,
                "needs_manual_grade": self.needs_manual_grade, "graded": self.graded, "by": self.by, "at": self.at,
                "outside": self.outside}


@dataclass(frozen=True)
class ItemState:
    item: RubricItem
    version: int
    uses: int
    """How many answers it is applied to."""
    by: str | None
    at: str | None

    def to_dict(self) -> dict:
        return {**self.item.to_dict(), "version": self.version, "uses": self.uses, "by": self.by, "at": self.at}


@dataclass
class WriteResult:
    """What an apply, a note or an item edit did: answers changed, answers refused, and the
    current state of every answer it was asked about (the page redraws from it)."""

    changed: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    answers: list[AnswerState] = field(default_factory=list)
    item: ItemState | None = None

    @property
    def rescored(self) -> int:
        return len(self.changed)

    def to_dict(self) -> dict:
        data = {"changed": self.changed, "conflicts": [c.to_dict() for c in self.conflicts],
                "answers": [a.to_dict() for a in self.answers]}
        if self.item is not None:
            data.update(item=self.item.to_dict(), rescored=self.rescored)
        return data


@dataclass(frozen=True)
class GroupView:
    key: str
    kind: str
    """The suggestion's kind ("identical", "near", "similar", "single"), or "ta" for a group a TA made."""
    students: tuple[str, ...]
    answer: str
    edited: bool
    """A TA moved answers in or out: its members are pinned."""

    def to_dict(self) -> dict:
        return {"key": self.key, "kind": self.kind, "students": list(self.students), "answer": self.answer,
                "edited": self.edited}
