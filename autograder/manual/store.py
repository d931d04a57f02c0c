"""The manual-grading store: rubric items, what is applied to which answer, answer groups as the TAs
edited them, who changed what and when; beside nbgrader's tables, in the same database.

Every grade goes to nbgrader's gradebook through nbgrader's own ORM (`Grade.manual_score`,
`Comment.manual_comment` of the answer cell, `needs_manual_grade` cleared) in the same transaction
as our rows, so formgrader, `alexnet-lab export`, feedback.html and `nbgrader export` read what the
page wrote. The tables are SQLAlchemy Core tables of our own (`alexnet_lab_*`), created on first
open; only portable SQL, so SQLite and PostgreSQL behave alike.

Several TAs, possibly on several servers sharing one PostgreSQL, write at once. The guard is the
database's compare-and-set, never a lock in this process: each answer has a version, and a write
is `UPDATE ... SET version = version + 1 WHERE version = :seen` (a row lock on PostgreSQL, the
write lock on SQLite); no row updated means someone else changed it since the TA's page loaded,
and that answer is refused naming who and when, while the rest of a group still applies. A grade
changed in formgrader (nbgrader's rows no longer hold what this store last wrote) is adopted as a
change made "outside this page": the version moves on, so a TA whose page predates it is refused.

Groups: the suggestion (`autograder.manual.groups.suggest_groups`, passed in by the caller, who
may cache it) plus the TA's edits. An edited group is pinned: its members are stored with a
group key of their own, so later suggestions cannot take them apart; an answer not pinned
(a submission that arrived while TAs grade) follows the pinned group most of its suggested
group's members are in, or stays in its suggested group.
"""
from __future__ import annotations

import secrets
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nbgrader.api import Assignment, BaseCell, Comment, Grade, Notebook, SubmittedAssignment, SubmittedNotebook
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError, SAWarning

from autograder.errors import LabError
from autograder.gradebook import Gradebook
from autograder.manual.rubric import Rubric, RubricItem, comment_of, item_of, item_problem, score_of

OUTSIDE = "outside this page (formgrader or nbgrader)"
"""Who changed a grade the store did not write: nbgrader's tables do not say."""

_ID = 128  # nbgrader's own column width for course, assignment, notebook and student ids
metadata = MetaData()


def _scope_columns() -> list[Column]:
    """Which answers a row is about: nbgrader's course, assignment and notebook, and our question label."""
    return [Column("course_id", String(_ID), nullable=False), Column("assignment", String(_ID), nullable=False),
            Column("notebook", String(_ID), nullable=False), Column("question", String(32), nullable=False)]


ITEMS = Table(
    "alexnet_lab_items", metadata, *_scope_columns(),
    Column("item_id", String(40), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("points", Float), Column("score", Float),
    Column("comment", Text, nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("deleted", Boolean, nullable=False, default=False),  # a tombstone: the master's seed does not bring it back
    Column("by", String(200)), Column("at", DateTime),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "item_id", name="alexnet_lab_items_key"),
)
ANSWERS = Table(
    "alexnet_lab_answers", metadata, *_scope_columns(),
    Column("student", String(_ID), nullable=False),
    Column("version", Integer, nullable=False, default=0),
    Column("note", Text, nullable=False, default=""),
    # What this store last wrote to nbgrader's Grade/Comment (or found there): a difference is a
    # change made outside the page.
    Column("last_score", Float), Column("last_comment", Text),
    Column("outside", Boolean, nullable=False, default=False),
    Column("by", String(200)), Column("at", DateTime),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "student", name="alexnet_lab_answers_key"),
)
APPLIED = Table(
    "alexnet_lab_applied", metadata, *_scope_columns(),
    Column("student", String(_ID), nullable=False),
    Column("item_id", String(40), nullable=False),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "student", "item_id",
                     name="alexnet_lab_applied_key"),
    ForeignKeyConstraint(["course_id", "assignment", "notebook", "question", "item_id"],
                         [ITEMS.c.course_id, ITEMS.c.assignment, ITEMS.c.notebook, ITEMS.c.question, ITEMS.c.item_id],
                         name="alexnet_lab_applied_item"),
)
GROUPS = Table(
    "alexnet_lab_groups", metadata, *_scope_columns(),
    Column("group_key", String(40), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("by", String(200)), Column("at", DateTime),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "group_key", name="alexnet_lab_groups_key"),
)
MEMBERS = Table(
    "alexnet_lab_members", metadata, *_scope_columns(),
    Column("student", String(_ID), nullable=False),
    Column("group_key", String(40), nullable=False),
    Column("by", String(200)), Column("at", DateTime),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "student", name="alexnet_lab_members_key"),
)
LOG = Table(
    "alexnet_lab_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True), *_scope_columns(),
    Column("student", String(_ID)), Column("item_id", String(40)),
    Column("action", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("by", String(200)), Column("at", DateTime, nullable=False),
)


# -- errors ------------------------------------------------------------------------------------
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
def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _now() -> datetime:
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


# -- the store ---------------------------------------------------------------------------------
class ManualGrading:
    """The manual grading of one notebook of one assignment. Open it once per server (it holds an
    nbgrader Gradebook, i.e. an engine and a session); every method is one transaction.

    `rubrics`: the master's (`rubric.read_rubrics`), which seed the items of each question the
    first time (items added to the master later are added; items edited or deleted here stay as
    the TAs left them). `grade_ids`: question label -> the answer cell's grade id.
    """

    def __init__(self, db_url: str, course_id: str, assignment: str, notebook: str,
                 rubrics: Mapping[str, Rubric], grade_ids: Mapping[str, str]):
        missing = sorted(set(rubrics) - set(grade_ids))
        if missing:
            raise BadRequest(f"no grade id for question(s) {', '.join(missing)}")
        self.scope = {"course_id": course_id, "assignment": assignment, "notebook": notebook}
        self.max_points = {q: r.max_points for q, r in rubrics.items()}
        self.notes = {q: r.notes for q, r in rubrics.items()}
        self.grade_ids = dict(grade_ids)
        self.gradebook = Gradebook(db_url, course_id)
        self.db = self.gradebook.db
        metadata.create_all(self.gradebook.engine)  # IF NOT EXISTS: a second server finds them made
        for question, rubric in rubrics.items():
            self._seed(question, rubric)

    def close(self) -> None:
        self.gradebook.close()

    def __enter__(self) -> ManualGrading:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def questions(self) -> list[str]:
        return list(self.max_points)

    # -- plumbing --
    def _where(self, table: Table, question: str, **more) -> object:
        clauses = [table.c[k] == v for k, v in self.scope.items()] + [table.c.question == question]
        clauses += [table.c[k] == v for k, v in more.items()]
        return and_(*clauses)

    def _row(self, question: str, **values) -> dict:
        return {**self.scope, "question": question, **values}

    def _question(self, question: str) -> None:
        if question not in self.max_points:
            raise NotFound(f"no question {question!r}; the questions are {', '.join(self.questions)}")

    def _log(self, question: str, action: str, by: str | None, at: datetime, student: str | None = None,
             item_id: str | None = None, detail: str = "") -> None:
        self.db.execute(LOG.insert().values(self._row(question, student=student, item_id=item_id, action=action,
                                                      detail=detail[:2000], by=by, at=at)))

    def _commit(self) -> None:
        try:
            self.db.commit()
        except Exception:
            self.db.rollback()
            raise

    def _seed(self, question: str, rubric: Rubric) -> None:
        """The master's items this question lacks (edited and deleted ones are left as they are)."""
        known = set(self.db.execute(select(ITEMS.c.item_id).where(self._where(ITEMS, question))).scalars())
        new = [item for item in rubric.items if item.id not in known]
        if not new:
            self.db.rollback()
            return
        top = self.db.execute(select(func.max(ITEMS.c.position)).where(self._where(ITEMS, question))).scalar()
        start = -1 if top is None else top
        now = _now()
        for offset, item in enumerate(new, 1):
            self.db.execute(ITEMS.insert().values(self._row(
                question, item_id=item.id, position=start + offset, title=item.title, points=item.points,
                score=item.score, comment=item.comment, version=1, deleted=False, by="the master", at=now)))
        try:
            self._commit()
        except IntegrityError:  # another server seeded it at the same moment: theirs stands
            pass

    # -- rubric items --
    def _item_rows(self, question: str, include_deleted: bool = False) -> list:
        query = select(ITEMS).where(self._where(ITEMS, question)).order_by(ITEMS.c.position)
        if not include_deleted:
            query = query.where(ITEMS.c.deleted.is_(False))
        return list(self.db.execute(query))

    @staticmethod
    def _item(row) -> RubricItem:
        return RubricItem(row.item_id, row.title, row.points, row.score, row.comment or "")

    def rubric(self, question: str) -> Rubric:
        """The question's rubric as it is now (the master's, as edited here)."""
        self._question(question)
        items = tuple(self._item(r) for r in self._item_rows(question))
        self.db.rollback()
        return Rubric(question, self.max_points[question], items, self.notes[question])

    def items(self, question: str) -> list[ItemState]:
        """The question's items in order, each with its version and how many answers use it."""
        self._question(question)
        uses = dict(self.db.execute(select(APPLIED.c.item_id, func.count()).where(self._where(APPLIED, question))
                                    .group_by(APPLIED.c.item_id)).all())
        result = [ItemState(self._item(r), r.version, uses.get(r.item_id, 0), r.by, _iso(r.at))
                  for r in self._item_rows(question)]
        self.db.rollback()
        return result

    def add_item(self, question: str, data: Mapping, by: str) -> ItemState:
        """A new item at the end of the rubric. BadRequest when it breaks a rule or its id is taken."""
        self._question(question)
        problem = item_problem(dict(data), self.max_points[question])
        if problem:
            raise BadRequest(f"{question}: the item {problem}")
        item = item_of(dict(data))
        now = _now()
        rows = {r.item_id: r for r in self._item_rows(question, include_deleted=True)}
        old = rows.get(item.id)
        if old is not None and not old.deleted:
            self.db.rollback()
            raise BadRequest(f"{question}: an item with id {item.id!r} exists already; choose another id")
        values = dict(title=item.title, points=item.points, score=item.score, comment=item.comment, deleted=False,
                      by=by, at=now)
        if old is not None:  # a deleted item's id comes back, as a new version of that row
            self.db.execute(ITEMS.update().where(self._where(ITEMS, question, item_id=item.id))
                            .values(version=ITEMS.c.version + 1, **values))
        else:
            top = max((r.position for r in rows.values()), default=-1)
            self.db.execute(ITEMS.insert().values(self._row(question, item_id=item.id, position=top + 1, version=1,
                                                            **values)))
        self._log(question, "add item", by, now, item_id=item.id, detail=repr(item.to_dict()))
        try:
            self._commit()
        except IntegrityError:
            raise BadRequest(f"{question}: an item with id {item.id!r} was just added by someone else; "
                             "reload and choose another id") from None
        return self._item_state(question, item.id)

    def _item_state(self, question: str, item_id: str) -> ItemState:
        found = next((s for s in self.items(question) if s.item.id == item_id), None)
        if found is None:
            raise NotFound(f"{question}: no item {item_id!r}")
        return found

    def edit_item(self, question: str, item_id: str, changes: Mapping, by: str,
                  seen_version: int | None = None) -> WriteResult:
        """Change an item's title, points or score, or comment, and re-score every answer it is
        applied to, in one transaction (`result.rescored`, `result.changed`). An answer changed in
        formgrader since this store wrote it is not re-scored but listed in `result.conflicts`.
        `seen_version`: the item's version the TA's page showed; another TA's edit since is
        refused (Stale). An item cannot switch between points and a fixed score while applied."""
        self._question(question)
        unknown = sorted(set(changes) - {"title", "points", "score", "comment"})
        if unknown:
            raise BadRequest(f"{question}: an item has no {', '.join(unknown)}; change title, points, score or comment")
        rows = {r.item_id: r for r in self._item_rows(question)}
        row = rows.get(item_id)
        if row is None:
            self.db.rollback()
            raise NotFound(f"{question}: no item {item_id!r}")
        merged = self._item(row).to_dict()
        merged.update(changes)
        if "points" in changes and changes["points"] is not None:
            merged.pop("score", None)
        if "score" in changes and changes["score"] is not None:
            merged.pop("points", None)
        merged["id"] = item_id
        problem = item_problem(merged, self.max_points[question])
        if problem:
            self.db.rollback()
            raise BadRequest(f"{question}: item {item_id!r} {problem}")
        item = item_of(merged)
        now = _now()
        where = self._where(ITEMS, question, item_id=item_id)
        if seen_version is not None:
            where = and_(where, ITEMS.c.version == seen_version)
        done = self.db.execute(ITEMS.update().where(where).values(
            version=ITEMS.c.version + 1, title=item.title, points=item.points, score=item.score, comment=item.comment,
            by=by, at=now)).rowcount
        if not done:
            self.db.rollback()
            raise Stale(f"{question}: item {item_id!r} was changed by {row.by} at {_iso(row.at)} since your page "
                        "loaded; reload to see it", row.by, _iso(row.at))
        users = list(self.db.execute(select(APPLIED.c.student).where(self._where(APPLIED, question, item_id=item_id)))
                     .scalars())
        old = self._item(row)
        if users and (old.score is None) != (item.score is None):
            self.db.rollback()
            raise BadRequest(f"{question}: item {item_id!r} is applied to {len(users)} answer(s); it cannot change "
                             "between points and a fixed score while applied (add a new item instead)")
        self._log(question, "edit item", by, now, item_id=item_id, detail=f"{old.to_dict()!r} -> {item.to_dict()!r}")
        result = WriteResult()
        if users and (old.points, old.score, old.comment) != (item.points, item.score, item.comment):
            items = {r.item_id: self._item(r) for r in self._item_rows(question)}
            state = self._load(question, users)
            for student in users:
                current = state.get(student)
                if current is None:
                    continue
                answer, grade, comment = current
                if answer.outside:  # its grade is formgrader's now: the items do not drive it
                    result.conflicts.append(Conflict(
                        student, answer.by, _iso(answer.at), f"{student}: not re-scored: its grade was set outside "
                        "this page; apply an item to it to grade it here again"))
                    continue
                # Moved on first: from here this transaction holds the answer's row.
                self.db.execute(ANSWERS.update().where(self._where(ANSWERS, question, student=student))
                                .values(version=ANSWERS.c.version + 1))
                self._hold(grade, comment)
                outside = self._outside(answer, grade, comment)
                if outside:
                    self._adopt(question, student, grade, comment, now)
                    result.conflicts.append(outside)
                    continue
                self._write_grade(question, student, self._applied(question, student), items, answer.note, grade,
                                  comment, by, now)
                result.changed.append(student)
        self._commit()
        result.item = self._item_state(question, item_id)
        result.answers = list(self.answers(question, result.changed + [c.student for c in result.conflicts]).values())
        return result

    def delete_item(self, question: str, item_id: str, by: str) -> None:
        """Remove an item. ItemInUse (with the count) while any answer has it applied."""
        self._question(question)
        now = _now()
        uses = self.db.execute(select(func.count()).select_from(APPLIED)
                               .where(self._where(APPLIED, question, item_id=item_id))).scalar()
        if uses:
            self.db.rollback()
            raise ItemInUse(f"{question}: item {item_id!r} is applied to {uses} answer(s); remove it from them "
                            "first", uses)
        # The delete and the count are one statement's worth apart: the foreign key of the applied
        # rows refuses a delete that races an apply on PostgreSQL; the tombstone keeps the row.
        done = self.db.execute(ITEMS.update().where(and_(self._where(ITEMS, question, item_id=item_id),
                                                         ITEMS.c.deleted.is_(False)))
                               .values(deleted=True, version=ITEMS.c.version + 1, by=by, at=now)).rowcount
        if not done:
            self.db.rollback()
            raise NotFound(f"{question}: no item {item_id!r}")
        self._log(question, "delete item", by, now, item_id=item_id)
        self._commit()

    # -- answers --
    def _rows_of_gradebook(self, question: str) -> tuple[dict, dict]:
        """nbgrader's Grade and Comment rows of the question's answer cell, by student id."""
        cell = self.grade_ids[question]

        def query(entity):
            return (self.db.query(entity, SubmittedAssignment.student_id)
                    .join(BaseCell, entity.cell_id == BaseCell.id)
                    .join(SubmittedNotebook, entity.notebook_id == SubmittedNotebook.id)
                    .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
                    .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                    .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                    .filter(BaseCell.name == cell, Notebook.name == self.scope["notebook"],
                            Assignment.name == self.scope["assignment"]))

        grades = {sid: grade for grade, sid in query(Grade)}
        comments = {sid: comment for comment, sid in query(Comment)}
        return grades, comments

    def _load(self, question: str, students: Iterable[str] | None = None) -> dict[str, tuple]:
        """student -> (our answer row, nbgrader Grade, nbgrader Comment or None), for the students
        the gradebook has; our rows are made for those that have none yet (adopting what the
        gradebook holds: a grade entered in formgrader before the page was used)."""
        grades, comments = self._rows_of_gradebook(question)
        wanted = set(grades) if students is None else set(students) & set(grades)
        rows = {r.student: r for r in self.db.execute(select(ANSWERS).where(self._where(ANSWERS, question)))
                if r.student in wanted}
        missing = sorted(wanted - set(rows))
        if missing:
            now = _now()
            for sid in missing:
                comment = comments.get(sid)
                manual = grades[sid].manual_score
                self.db.execute(ANSWERS.insert().values(self._row(
                    question, student=sid, version=0, note="", last_score=manual,
                    last_comment=comment.manual_comment if comment is not None else None,
                    outside=manual is not None, by=OUTSIDE if manual is not None else None,
                    at=now if manual is not None else None)))
            try:
                self._commit()
            except IntegrityError:  # another server made them at the same moment: read theirs
                pass
            return self._load(question, students)
        return {sid: (rows[sid], grades[sid], comments.get(sid)) for sid in wanted}

    def _applied(self, question: str, student: str) -> set[str]:
        return set(self.db.execute(select(APPLIED.c.item_id).where(self._where(APPLIED, question, student=student)))
                   .scalars())

    def _hold(self, grade, comment) -> None:
        """nbgrader's rows read again and locked until the commit (SELECT ... FOR UPDATE on
        PostgreSQL; SQLite's write lock is held already): formgrader's save cannot slip in between
        the check for a change made outside and this store's write."""
        self.db.refresh(grade, with_for_update=True)
        if comment is not None:
            self.db.refresh(comment, with_for_update=True)

    @staticmethod
    def _same_comment(a: str | None, b: str | None) -> bool:
        return (a or "").strip() == (b or "").strip()

    def _outside(self, answer, grade, comment) -> Conflict | None:
        """A conflict when nbgrader's rows no longer hold what this store last wrote there."""
        now_comment = comment.manual_comment if comment is not None else None
        if grade.manual_score == answer.last_score and self._same_comment(now_comment, answer.last_comment):
            return None
        shown = "no score" if grade.manual_score is None else f"{grade.manual_score:g}"
        return Conflict(answer.student, OUTSIDE, _iso(_now()),
                        f"{answer.student}: the grade was changed outside this page (now {shown}) since it was "
                        "saved here; reload to see it, then apply again to replace it")

    def _adopt(self, question: str, student: str, grade, comment, now: datetime) -> None:
        """Take a change made outside as the answer's new version (a TA whose page predates it is refused)."""
        self.db.execute(ANSWERS.update().where(self._where(ANSWERS, question, student=student)).values(
            version=ANSWERS.c.version + 1, last_score=grade.manual_score,
            last_comment=comment.manual_comment if comment is not None else None, outside=True, by=OUTSIDE, at=now))
        self._log(question, "changed outside", OUTSIDE, now, student=student,
                  detail=f"manual score {grade.manual_score!r}")

    def _write_grade(self, question: str, student: str, applied: set[str], items: Mapping[str, RubricItem],
                     note: str, grade, comment, by: str, now: datetime) -> None:
        """The answer's score and comment from its applied items, into nbgrader's rows and ours
        (the version was moved on by the caller's compare-and-set)."""
        chosen = [item for item_id, item in items.items() if item_id in applied]  # the rubric's order
        if chosen or note.strip():
            score = score_of(self.max_points[question], chosen)
            text = comment_of(chosen, note) or None
            grade.manual_score = score
            grade.needs_manual_grade = False
        else:  # nothing applied any more: the answer waits for a TA again, as the grader left it
            score, text = None, None
            grade.manual_score = None
            grade.needs_manual_grade = grade.auto_score is None
        if comment is not None:
            comment.manual_comment = text
        self.db.execute(ANSWERS.update().where(self._where(ANSWERS, question, student=student)).values(
            last_score=score, last_comment=text, outside=False, by=by, at=now))

    def answers(self, question: str, students: Iterable[str] | None = None) -> dict[str, AnswerState]:
        """Every answer's state (or those of `students`), by student id, for the students the
        gradebook has a submission of. A grade changed in formgrader since the store last wrote
        it is adopted here as a new version, by OUTSIDE."""
        self._question(question)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=SAWarning)
            state = self._load(question, students)
            now = _now()
            adopted = False
            for student, (answer, grade, comment) in state.items():
                if self._outside(answer, grade, comment):
                    self._adopt(question, student, grade, comment, now)
                    adopted = True
            if adopted:
                self._commit()
                state = self._load(question, students)
            order = [r.item_id for r in self._item_rows(question)]
            applied: dict[str, set[str]] = {}
            for student, item_id in self.db.execute(select(APPLIED.c.student, APPLIED.c.item_id)
                                                    .where(self._where(APPLIED, question))):
                applied.setdefault(student, set()).add(item_id)
            result = {}
            for student in sorted(state):
                answer, grade, comment = state[student]
                manual = grade.manual_score
                score = manual if manual is not None else grade.auto_score
                result[student] = AnswerState(
                    student=student, version=answer.version,
                    applied=tuple(i for i in order if i in applied.get(student, ())), note=answer.note or "",
                    score=score, manual_score=manual,
                    comment=(comment.manual_comment or "") if comment is not None else "",
                    needs_manual_grade=bool(grade.needs_manual_grade), by=answer.by, at=_iso(answer.at),
                    outside=bool(answer.outside))
            self.db.rollback()
        return result

    def progress(self) -> dict[str, dict]:
        """Per question: {"graded": answers with a score no TA still owes, "total": answers}."""
        result = {}
        for question in self.questions:
            states = self.answers(question)
            result[question] = {"graded": sum(s.graded for s in states.values()), "total": len(states)}
        return result

    def _refusal(self, question: str, student: str, seen: int | None) -> Conflict | None:
        """Move the answer's version on from `seen` (compare-and-set); a Conflict when it moved already."""
        where = self._where(ANSWERS, question, student=student)
        if seen is not None:
            where = and_(where, ANSWERS.c.version == seen)
        if self.db.execute(ANSWERS.update().where(where).values(version=ANSWERS.c.version + 1)).rowcount:
            return None
        row = self.db.execute(select(ANSWERS).where(self._where(ANSWERS, question, student=student))).first()
        if row is None:
            return Conflict(student, None, None, f"{student}: no submission of {question} in the gradebook")
        by, at = row.by, _iso(row.at)
        return Conflict(student, by, at, f"{student}: changed by {by or 'someone'}"
                        f"{f' at {at}' if at else ''} since your page loaded; reload to see it")

    def apply(self, question: str, item_id: str, students: Sequence[str], on: bool, seen: Mapping[str, int],
              by: str) -> WriteResult:
        """Apply (`on`) or remove an item for `students`, each compared with the version the TA saw
        (`seen[student]`; a student missing from `seen` is refused). Answers changed since are
        refused one by one (`result.conflicts`); the others change in this one transaction, their
        grades written to nbgrader's gradebook. Applying a fixed-score item removes another fixed
        one the answer had (one fixed score at a time)."""
        self._question(question)
        items = {r.item_id: self._item(r) for r in self._item_rows(question)}
        if item_id not in items:
            self.db.rollback()
            raise NotFound(f"{question}: no item {item_id!r}")
        item = items[item_id]
        result = WriteResult()
        now = _now()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=SAWarning)
            state = self._load(question, students)
            for student in dict.fromkeys(students):
                if student not in state:
                    result.conflicts.append(Conflict(student, None, None,
                                                     f"{student}: no submission of {question} in the gradebook"))
                    continue
                if student not in seen:
                    result.conflicts.append(Conflict(student, None, None, f"{student}: no version seen was sent; "
                                                     "reload the page"))
                    continue
                refused = self._refusal(question, student, seen[student])
                if refused:
                    result.conflicts.append(refused)
                    continue
                answer, grade, comment = state[student]
                # Read after the compare-and-set: from here this transaction holds the answer's row.
                self._hold(grade, comment)
                outside = self._outside(answer, grade, comment)
                if outside:
                    self._adopt(question, student, grade, comment, now)
                    result.conflicts.append(outside)
                    continue
                applied = self._applied(question, student)
                if on and item_id not in applied:
                    if item.score is not None:
                        for other in [i for i in applied if items.get(i) and items[i].score is not None]:
                            self.db.execute(APPLIED.delete().where(self._where(APPLIED, question, student=student,
                                                                               item_id=other)))
                            applied.discard(other)
                    self.db.execute(APPLIED.insert().values(self._row(question, student=student, item_id=item_id)))
                    applied.add(item_id)
                elif not on and item_id in applied:
                    self.db.execute(APPLIED.delete().where(self._where(APPLIED, question, student=student,
                                                                       item_id=item_id)))
                    applied.discard(item_id)
                self._write_grade(question, student, applied, items, answer.note or "", grade, comment, by, now)
                self._log(question, "apply" if on else "remove", by, now, student=student, item_id=item_id)
                result.changed.append(student)
            self._commit()
        result.answers = list(self.answers(question, students).values())
        return result

    def set_note(self, question: str, student: str, note: str, seen: int, by: str) -> WriteResult:
        """The TA's own comment for one answer (after the items' comments); compare-and-set as apply."""
        self._question(question)
        if not isinstance(note, str) or len(note) > 10_000:
            raise BadRequest("a note is text of at most 10,000 characters")
        items = {r.item_id: self._item(r) for r in self._item_rows(question)}
        result = WriteResult()
        now = _now()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=SAWarning)
            state = self._load(question, [student])
            if student not in state:
                self.db.rollback()
                raise NotFound(f"{student}: no submission of {question} in the gradebook")
            refused = self._refusal(question, student, seen)
            answer, grade, comment = state[student]
            if not refused:
                self._hold(grade, comment)
                refused = self._outside(answer, grade, comment)
                if refused:
                    self._adopt(question, student, grade, comment, now)
            if refused:
                result.conflicts.append(refused)
            else:
                self.db.execute(ANSWERS.update().where(self._where(ANSWERS, question, student=student))
                                .values(note=note))
                self._write_grade(question, student, self._applied(question, student), items, note, grade, comment,
                                  by, now)
                self._log(question, "note", by, now, student=student, detail=note)
                result.changed.append(student)
            self._commit()
        result.answers = list(self.answers(question, [student]).values())
        return result

    def history(self, question: str, student: str | None = None, limit: int = 200) -> list[dict]:
        """The latest changes, newest first: {"at", "by", "action", "student", "item", "detail"}."""
        self._question(question)
        query = select(LOG).where(self._where(LOG, question)).order_by(LOG.c.id.desc()).limit(limit)
        if student is not None:
            query = query.where(LOG.c.student == student)
        rows = [{"at": _iso(r.at), "by": r.by, "action": r.action, "student": r.student, "item": r.item_id,
                 "detail": r.detail} for r in self.db.execute(query)]
        self.db.rollback()
        return rows

    # -- groups --
    def _pins(self, question: str) -> tuple[dict[str, str], dict[str, str]]:
        pins = dict(self.db.execute(select(MEMBERS.c.student, MEMBERS.c.group_key)
                                    .where(self._where(MEMBERS, question))).all())
        kinds = dict(self.db.execute(select(GROUPS.c.group_key, GROUPS.c.kind).where(self._where(GROUPS, question)))
                     .all())
        return pins, kinds

    def groups(self, question: str, suggested: Sequence, answers: Mapping[str, str]) -> list[GroupView]:
        """The groups to show: `suggested` (each with key, kind, students, answer: what
        `suggest_groups` returns for `answers`) with the TAs' edits. An answer a TA never moved
        follows the edited group most members of its suggested group are in (a new submission
        joins its look-alikes); every answer of `answers` is in exactly one group."""
        self._question(question)
        pins, kinds = self._pins(question)
        self.db.rollback()
        return _resolve(suggested, answers, pins, kinds)

    def move(self, question: str, students: Sequence[str], to: str | None, suggested: Sequence,
             answers: Mapping[str, str], by: str) -> str:
        """Move answers to the group `to` (a key the page showed) or, `to` None, to a new group;
        returns the key of the group they are in now. The groups they leave and the one they join
        are pinned as they stand (a split is a move to a new group)."""
        self._question(question)
        students = [s for s in dict.fromkeys(students) if s in answers]
        if not students:
            raise BadRequest(f"{question}: none of those students has an answer to move")
        pins, kinds = self._pins(question)
        views = {g.key: g for g in _resolve(suggested, answers, pins, kinds)}
        if to is not None and to not in views:
            self.db.rollback()
            raise NotFound(f"{question}: no group {to!r} (the groups changed since your page loaded); reload")
        now = _now()
        of = {s: key for key, g in views.items() for s in g.students}
        touched = {of[s] for s in students} | ({to} if to else set())
        renamed: dict[str, str] = {}
        for key in touched:  # pin each group involved as it stands now
            view = views[key]
            if view.edited:
                continue
            renamed[key] = self._new_group(question, view.kind, by, now)
            for s in view.students:
                self._pin(question, s, renamed[key], by, now)
        target = renamed.get(to, to) if to else self._new_group(question, "ta", by, now)
        for s in students:
            self._pin(question, s, target, by, now)
        self._log(question, "move", by, now, detail=f"{len(students)} answer(s) to {target}: {', '.join(students)}"[:2000])
        self._commit()
        return target

    def merge(self, question: str, keys: Sequence[str], suggested: Sequence, answers: Mapping[str, str],
              by: str) -> str:
        """Merge the groups `keys` into the first; returns the merged group's key."""
        if len(keys) < 2:
            raise BadRequest("merge needs two groups or more")
        pins, kinds = self._pins(question)
        views = {g.key: g for g in _resolve(suggested, answers, pins, kinds)}
        self.db.rollback()
        unknown = [k for k in keys if k not in views]
        if unknown:
            raise NotFound(f"{question}: no group {unknown[0]!r} (the groups changed since your page loaded); reload")
        moving = [s for k in keys[1:] for s in views[k].students]
        return self.move(question, moving, keys[0], suggested, answers, by)

    def _new_group(self, question: str, kind: str, by: str, now: datetime) -> str:
        key = "t" + secrets.token_hex(6)
        self.db.execute(GROUPS.insert().values(self._row(question, group_key=key, kind=kind, by=by, at=now)))
        return key

    def _pin(self, question: str, student: str, key: str, by: str, now: datetime) -> None:
        done = self.db.execute(MEMBERS.update().where(self._where(MEMBERS, question, student=student))
                               .values(group_key=key, by=by, at=now)).rowcount
        if not done:
            self.db.execute(MEMBERS.insert().values(self._row(question, student=student, group_key=key, by=by, at=now)))


def _resolve(suggested: Sequence, answers: Mapping[str, str], pins: Mapping[str, str],
             kinds: Mapping[str, str]) -> list[GroupView]:
    """Suggested groups + pinned members -> the groups shown, in the suggestion's order."""
    members: dict[str, list[str]] = {}
    order: list[tuple[str, object]] = []  # (key, the suggested group it came from or None)
    placed: set[str] = set()

    def add(key: str, source, student: str) -> None:
        if key not in members:
            members[key] = []
            order.append((key, source))
        if student not in placed:
            members[key].append(student)
            placed.add(student)

    for group in suggested:
        present = [s for s in group.students if s in answers]
        pinned = Counter(pins[s] for s in present if s in pins and pins[s] in kinds)
        follow = min(pinned, key=lambda k: (-pinned[k], k)) if pinned else None
        for s in present:
            if s in pins and pins[s] in kinds:
                add(pins[s], None, s)
            elif follow is not None:
                add(follow, None, s)
            else:
                add(group.key, group, s)
    for s in sorted(set(answers) - placed):  # an answer the suggestion left out: a group of its own
        key = pins.get(s) if pins.get(s) in kinds else "s-" + s
        add(key, None, s)
    views = []
    for key, source in order:
        students = tuple(sorted(members[key]))
        if not students:
            continue
        if source is not None and set(students) == {s for s in source.students if s in answers}:
            views.append(GroupView(key, source.kind, students, source.answer, False))
        else:
            views.append(GroupView(key, kinds.get(key, "single"), students, answers[students[0]], key in kinds))
    return views


__all__ = ["OUTSIDE", "AnswerState", "BadRequest", "Conflict", "GroupView", "ItemInUse", "ItemState",
           "ManualGrading", "NotFound", "Stale", "StoreError", "WriteResult"]
