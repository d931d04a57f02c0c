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
from datetime import datetime

from nbgrader.api import Assignment, BaseCell, Comment, Grade, Notebook, SubmittedAssignment, SubmittedNotebook
from sqlalchemy import Table, and_, bindparam, func, select
from sqlalchemy.exc import IntegrityError, ProgrammingError, SAWarning

from autograder.gradebook import Gradebook
from autograder.manual.rubric import Rubric, RubricItem, comment_of, item_of, item_problem, score_of
from autograder.manual.states import (
    AnswerState,
    BadRequest,
    Conflict,
    GroupView,
    ItemInUse,
    ItemState,
    NotFound,
    Stale,
    StoreError,
    WriteResult,
    iso_utc,
    now_utc,
    who_as_stored,
)
from autograder.manual.tables import ANSWERS, APPLIED, GROUPS, ID_WIDTH, ITEMS, LOG, MEMBERS, metadata

OUTSIDE = "outside this page (formgrader or nbgrader)"
"""Who changed a grade the store did not write: nbgrader's tables do not say."""

_CHUNK = 500
"""Students per IN (...) list: well under any database's limit on bound parameters."""


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
        try:  # IF NOT EXISTS: a second server finds them made
            metadata.create_all(self.gradebook.engine)
        except (IntegrityError, ProgrammingError):  # two first opens at once (PostgreSQL): the other made them
            metadata.create_all(self.gradebook.engine)
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
        now = now_utc()
        rows = [self._row(question, item_id=item.id, position=start + offset, title=item.title, points=item.points,
                          score=item.score, comment=item.comment, version=1, deleted=False, by="the master", at=now)
                for offset, item in enumerate(new, 1)]
        try:  # a unique key refuses the same item twice (PostgreSQL at the insert, SQLite at the latest then)
            self.db.execute(ITEMS.insert(), rows)
            self._commit()
        except IntegrityError:  # another server seeded it at the same moment: theirs stands
            self.db.rollback()

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
        result = [ItemState(self._item(r), r.version, uses.get(r.item_id, 0), r.by, iso_utc(r.at))
                  for r in self._item_rows(question)]
        self.db.rollback()
        return result

    def add_item(self, question: str, data: Mapping, by: str) -> ItemState:
        """A new item at the end of the rubric. BadRequest when it breaks a rule or its id is taken."""
        self._question(question)
        by = who_as_stored(by)
        problem = item_problem(dict(data), self.max_points[question])
        if problem:
            raise BadRequest(f"{question}: the item {problem}")
        item = item_of(dict(data))
        now = now_utc()
        rows = {r.item_id: r for r in self._item_rows(question, include_deleted=True)}
        old = rows.get(item.id)
        if old is not None and not old.deleted:
            self.db.rollback()
            raise BadRequest(f"{question}: an item with id {item.id!r} exists already; choose another id")
        values = dict(title=item.title, points=item.points, score=item.score, comment=item.comment, deleted=False,
                      by=by, at=now)
        try:
            if old is not None:  # a deleted item's id comes back, as a new version of that row
                self.db.execute(ITEMS.update().where(and_(self._where(ITEMS, question, item_id=item.id),
                                                          ITEMS.c.deleted.is_(True)))
                                .values(version=ITEMS.c.version + 1, **values))
            else:
                top = max((r.position for r in rows.values()), default=-1)
                self.db.execute(ITEMS.insert().values(self._row(question, item_id=item.id, position=top + 1,
                                                                version=1, **values)))
            self._log(question, "add item", by, now, item_id=item.id, detail=repr(item.to_dict()))
            self._commit()
        except IntegrityError:
            self.db.rollback()
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
        applied to, in one transaction (`result.rescored`, `result.changed`). An answer whose grade
        was set in formgrader is not re-scored but listed in `result.conflicts`. `seen_version`:
        the item's version the TA's page showed; another TA's edit since is refused (Stale). An
        item cannot switch between points and a fixed score while applied."""
        self._question(question)
        by = who_as_stored(by)
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
        now = now_utc()
        where = and_(self._where(ITEMS, question, item_id=item_id), ITEMS.c.deleted.is_(False))
        if seen_version is not None:
            where = and_(where, ITEMS.c.version == seen_version)
        # The item's row first: an apply of it waits for this edit (and then scores with it).
        done = self.db.execute(ITEMS.update().where(where).values(
            version=ITEMS.c.version + 1, title=item.title, points=item.points, score=item.score, comment=item.comment,
            by=by, at=now)).rowcount
        if not done:
            now_row = self.db.execute(select(ITEMS).where(self._where(ITEMS, question, item_id=item_id))).first()
            self.db.rollback()
            if now_row is None or now_row.deleted:
                raise NotFound(f"{question}: no item {item_id!r} (deleted since your page loaded)")
            raise Stale(f"{question}: item {item_id!r} was changed by {now_row.by} at {iso_utc(now_row.at)} since your "
                        "page loaded; reload to see it", now_row.by, iso_utc(now_row.at))
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
            users = set(users)
            outside = {r.student: r for r in self.db.execute(select(ANSWERS).where(
                and_(self._where(ANSWERS, question), ANSWERS.c.outside.is_(True)))) if r.student in users}
            for student in sorted(outside):  # its grade is formgrader's now: the items do not drive it
                answer = outside[student]
                result.conflicts.append(Conflict(
                    student, answer.by, iso_utc(answer.at), f"{student}: not re-scored: its grade was set outside this "
                    "page; apply an item to it to grade it here again"))
            held = []
            for student in sorted(users - set(outside)):
                if self.db.execute(ANSWERS.update().where(self._where(ANSWERS, question, student=student))
                                   .values(version=ANSWERS.c.version + 1)).rowcount:
                    held.append(student)
            items = {r.item_id: self._item(r) for r in self._item_rows(question)}
            self._regrade(question, held, items, by, now, result, action="rescore", detail=item_id)
        self._commit()
        result.item = self._item_state(question, item_id)
        result.answers = list(self.answers(question, result.changed + [c.student for c in result.conflicts]).values())
        return result

    def delete_item(self, question: str, item_id: str, by: str) -> None:
        """Remove an item. ItemInUse (with the count) while any answer has it applied."""
        self._question(question)
        by = who_as_stored(by)
        now = now_utc()
        # The tombstone first, then the count, in one transaction: an apply of this item holds the
        # item's row until it commits (see apply), so the count sees it, or the apply sees the tombstone.
        done = self.db.execute(ITEMS.update().where(and_(self._where(ITEMS, question, item_id=item_id),
                                                         ITEMS.c.deleted.is_(False)))
                               .values(deleted=True, version=ITEMS.c.version + 1, by=by, at=now)).rowcount
        if not done:
            self.db.rollback()
            raise NotFound(f"{question}: no item {item_id!r}")
        uses = self.db.execute(select(func.count()).select_from(APPLIED)
                               .where(self._where(APPLIED, question, item_id=item_id))).scalar()
        if uses:
            self.db.rollback()
            raise ItemInUse(f"{question}: item {item_id!r} is applied to {uses} answer(s); remove it from them "
                            "first", uses)
        self._log(question, "delete item", by, now, item_id=item_id)
        self._commit()

    # -- answers --
    def _rows_of_gradebook(self, question: str, students: Sequence[str] | None = None) -> tuple[dict, dict]:
        """nbgrader's Grade and Comment rows of the question's answer cell, by student id (all,
        or those of `students`, read again and locked until the commit: FOR UPDATE on PostgreSQL,
        SQLite's write lock being held already by the caller's compare-and-set)."""
        cell = self.grade_ids[question]

        def query(entity):
            found = (self.db.query(entity, SubmittedAssignment.student_id)
                     .join(BaseCell, entity.cell_id == BaseCell.id)
                     .join(SubmittedNotebook, entity.notebook_id == SubmittedNotebook.id)
                     .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
                     .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                     .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                     .filter(BaseCell.name == cell, Notebook.name == self.scope["notebook"],
                             Assignment.name == self.scope["assignment"]))
            if students is None:
                return {sid: row for row, sid in found}
            rows = {}
            for start in range(0, len(students), _CHUNK):
                chunk = students[start:start + _CHUNK]
                locked = (found.filter(SubmittedAssignment.student_id.in_(chunk)).populate_existing()
                          .with_for_update(of=entity))
                rows.update({sid: row for row, sid in locked})
            return rows

        return query(Grade), query(Comment)

    def _load(self, question: str, students: Iterable[str] | None = None) -> dict[str, tuple]:
        """student -> (our answer row, nbgrader Grade, nbgrader Comment or None), for the students
        the gradebook has; our rows are made for those that have none yet (adopting what the
        gradebook holds: a grade entered in formgrader before the page was used)."""
        # Ours first: a version read is never newer than the grade shown with it, so a page that
        # straddled another TA's commit is refused at its next write rather than shown a stale grade.
        ours = list(self.db.execute(select(ANSWERS).where(self._where(ANSWERS, question))))
        grades, comments = self._rows_of_gradebook(question)
        wanted = set(grades) if students is None else set(students) & set(grades)
        rows = {r.student: r for r in ours if r.student in wanted}
        missing = sorted(wanted - set(rows))
        if missing:
            now = now_utc()
            made = []
            for sid in missing:
                comment = comments.get(sid)
                manual = grades[sid].manual_score
                # A comment typed in formgrader first is the TA's own words: the answer's note, which
                # the items' comments then go before, never a text the first item replaces.
                made.append(self._row(
                    question, student=sid, version=0, note=_text(comment).strip(), last_score=manual,
                    last_comment=comment.manual_comment if comment is not None else None,
                    outside=manual is not None, by=OUTSIDE if manual is not None else None,
                    at=now if manual is not None else None))
            try:
                self.db.execute(ANSWERS.insert(), made)
                self._commit()
            except IntegrityError:  # another server made some at the same moment: read theirs
                self.db.rollback()
            return self._load(question, students)
        return {sid: (rows[sid], grades[sid], comments.get(sid)) for sid in wanted}

    @staticmethod
    def _same_comment(a: str | None, b: str | None) -> bool:
        return (a or "").strip() == (b or "").strip()

    def _outside(self, answer, grade, comment) -> Conflict | None:
        """A conflict when nbgrader's rows no longer hold what this store last wrote there."""
        now_comment = comment.manual_comment if comment is not None else None
        if grade.manual_score == answer.last_score and self._same_comment(now_comment, answer.last_comment):
            return None
        shown = "no score" if grade.manual_score is None else f"{grade.manual_score:g}"
        return Conflict(answer.student, OUTSIDE, iso_utc(now_utc()),
                        f"{answer.student}: the grade was changed outside this page (now {shown}) since it was "
                        "saved here; reload to see it, then apply again to replace it")

    def _adopt(self, question: str, student: str, grade, comment, now: datetime) -> None:
        """Take a change made outside as the answer's new version (a TA whose page predates it is refused).
        The comment's own words (what the items applied here did not write) become the answer's note,
        so an item applied later keeps them after its comment instead of replacing them."""
        self.db.execute(ANSWERS.update().where(self._where(ANSWERS, question, student=student)).values(
            version=ANSWERS.c.version + 1, last_score=grade.manual_score, note=self._own_words(question, student, comment),
            last_comment=comment.manual_comment if comment is not None else None, outside=True, by=OUTSIDE, at=now))
        self._log(question, "changed outside", OUTSIDE, now, student=student,
                  detail=f"manual score {grade.manual_score!r}")

    def _own_words(self, question: str, student: str, comment) -> str:
        """A comment written outside this page less the applied items' comments it starts with (the
        layout `comment_of` writes them in): what a TA typed there."""
        text = _text(comment).strip()
        applied = set(self.db.execute(select(APPLIED.c.item_id).where(
            self._where(APPLIED, question, student=student))).scalars())
        for row in self._item_rows(question, include_deleted=True):
            said = (row.comment or "").strip()
            if row.item_id in applied and said and (text == said or text.startswith(said + "\n")):
                text = text[len(said):].lstrip("\n")
        return text.strip()

    def _confirm_outside(self, question: str, students: Sequence[str]) -> None:
        """Adopt the changes made outside among `students`, checked again holding their rows: read
        without locks, nbgrader's row and ours can straddle another TA's commit and only look
        different."""
        for student in students:  # held in the order every writer takes them
            self.db.execute(ANSWERS.update().where(self._where(ANSWERS, question, student=student))
                            .values(version=ANSWERS.c.version))
        grades, comments = self._rows_of_gradebook(question, list(students))
        rows = {r.student: r for r in self.db.execute(select(ANSWERS).where(self._where(ANSWERS, question)))}
        now = now_utc()
        for student in students:
            answer, grade = rows.get(student), grades.get(student)
            if answer is not None and grade is not None and self._outside(answer, grade, comments.get(student)):
                self._adopt(question, student, grade, comments.get(student), now)
        self._commit()

    def _grade_of(self, question: str, applied: set[str], items: Mapping[str, RubricItem], note: str,
                  grade, comment, had_items: bool) -> tuple[float | None, str | None]:
        """Set nbgrader's Grade and Comment from the applied items and the note; what was written.
        Only items score: a note is words to the student, so where no item is or was applied it
        leaves the score as it is (formgrader's, or none: the answer still waits for a TA), never
        a 0 behind the TA's back."""
        chosen = [item for item_id, item in items.items() if item_id in applied]  # the rubric's order
        text = comment_of(chosen, note) or None
        if chosen:
            score = score_of(self.max_points[question], chosen)
            grade.manual_score, grade.needs_manual_grade = score, False
        elif not had_items:
            score = grade.manual_score
        else:  # the last item removed: the answer waits for a TA again, as the grader left it
            score = None
            grade.manual_score, grade.needs_manual_grade = None, grade.auto_score is None
        if comment is not None:
            comment.manual_comment = text
        return score, text

    def _regrade(self, question: str, students: Sequence[str], items: Mapping[str, RubricItem], by: str,
                 now: datetime, result: WriteResult, *, action: str, detail: str = "", change=None,
                 note: str | None = None) -> None:
        """Answers whose version this transaction has just moved on (it holds their rows): nbgrader's
        rows read again and locked; a grade changed outside the page is adopted and refused (in
        `result.conflicts`); else `change(applied) -> applied` (and the `note`, when given) and the
        grade written to nbgrader's rows and ours (in `result.changed`). A few statements for the
        whole group, not a few per answer."""
        if not students:
            return
        wanted = set(students)
        grades, comments = self._rows_of_gradebook(question, sorted(wanted))
        answers = {r.student: r for r in self.db.execute(select(ANSWERS).where(self._where(ANSWERS, question)))
                   if r.student in wanted}
        applied: dict[str, set[str]] = {}
        for student, item_id in self.db.execute(select(APPLIED.c.student, APPLIED.c.item_id)
                                                .where(self._where(APPLIED, question))):
            if student in wanted:
                applied.setdefault(student, set()).add(item_id)
        added, removed, written, logged, unchanged = [], [], [], [], []
        for student in students:
            answer, grade, comment = answers.get(student), grades.get(student), comments.get(student)
            if answer is None or grade is None:
                result.conflicts.append(Conflict(student, None, None, f"{student}: no submission of {question} in "
                                                 "the gradebook"))
                continue
            outside = self._outside(answer, grade, comment)
            if outside:
                self._adopt(question, student, grade, comment, now)
                result.conflicts.append(outside)
                continue
            before = applied.get(student, set())
            after = change(before) if change else set(before)
            if (change is not None or note is not None) and after == before and (note is None or note == answer.note):
                # Nothing to change (an item removed that was not applied...): the grade is left as it
                # is, even one set in formgrader, and the version moves back, so no page goes stale.
                unchanged.append({"b_student": student})
                continue
            added += [self._row(question, student=student, item_id=i) for i in sorted(after - before)]
            removed += [{"b_student": student, "b_item": i} for i in sorted(before - after)]
            text_note = answer.note or "" if note is None else note
            score, text = self._grade_of(question, after, items, text_note, grade, comment, had_items=bool(before))
            written.append({"b_student": student, "b_score": score, "b_comment": text, "b_note": text_note})
            logged.append(self._row(question, student=student, item_id=detail if action != "note" else None,
                                    action=action, detail=detail[:2000] if action == "note" else "", by=by, at=now))
            result.changed.append(student)
        if unchanged:
            self.db.execute(ANSWERS.update().where(and_(self._where(ANSWERS, question),
                                                        ANSWERS.c.student == bindparam("b_student")))
                            .values(version=ANSWERS.c.version - 1), unchanged)
        if removed:
            self.db.execute(APPLIED.delete().where(and_(self._where(APPLIED, question),
                                                        APPLIED.c.student == bindparam("b_student"),
                                                        APPLIED.c.item_id == bindparam("b_item"))), removed)
        if added:
            self.db.execute(APPLIED.insert(), added)
        if written:
            self.db.execute(ANSWERS.update().where(and_(self._where(ANSWERS, question),
                                                        ANSWERS.c.student == bindparam("b_student")))
                            .values(last_score=bindparam("b_score"), last_comment=bindparam("b_comment"),
                                    note=bindparam("b_note"), outside=False, by=by, at=now), written)
            self.db.execute(LOG.insert(), logged)

    def answers(self, question: str, students: Iterable[str] | None = None) -> dict[str, AnswerState]:
        """Every answer's state (or those of `students`), by student id, for the students the
        gradebook has a submission of. A grade changed in formgrader since the store last wrote
        it is adopted here as a new version, by OUTSIDE."""
        self._question(question)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=SAWarning)
            state = self._load(question, students)
            suspects = sorted(sid for sid, (answer, grade, comment) in state.items()
                              if self._outside(answer, grade, comment))
            if suspects:
                self._confirm_outside(question, suspects)
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
                    needs_manual_grade=bool(grade.needs_manual_grade), by=answer.by, at=iso_utc(answer.at),
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

    def _refusal(self, question: str, student: str, seen: int) -> Conflict | None:
        """Move the answer's version on from `seen` (compare-and-set); a Conflict when it moved already."""
        where = and_(self._where(ANSWERS, question, student=student), ANSWERS.c.version == seen)
        if self.db.execute(ANSWERS.update().where(where).values(version=ANSWERS.c.version + 1)).rowcount:
            return None
        row = self.db.execute(select(ANSWERS).where(self._where(ANSWERS, question, student=student))).first()
        if row is None:
            return Conflict(student, None, None, f"{student}: no submission of {question} in the gradebook")
        by, at = row.by, iso_utc(row.at)
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
        by = who_as_stored(by)
        students = list(dict.fromkeys(students))
        result = WriteResult()
        now = now_utc()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=SAWarning)
            state = self._load(question, students)  # our rows for answers never seen before (own commit)
            # The item's row is held first (an update that changes nothing): its delete or edit waits
            # for this apply, or this apply for them, and then reads the item as they left it.
            held_item = ITEMS.update().where(and_(self._where(ITEMS, question, item_id=item_id),
                                                  ITEMS.c.deleted.is_(False))).values(version=ITEMS.c.version)
            if not self.db.execute(held_item).rowcount:
                self.db.rollback()
                raise NotFound(f"{question}: no item {item_id!r}")
            items = {r.item_id: self._item(r) for r in self._item_rows(question)}
            item = items[item_id]
            held = []
            for student in sorted(students):  # one order for every writer: no deadlock between two
                if student not in state:  # an id the page made up is shown cut, never stored
                    result.conflicts.append(Conflict(student[:ID_WIDTH], None, None,
                                                     f"{student[:ID_WIDTH]}: no submission of {question} in the gradebook"))
                elif not isinstance(seen.get(student), int):
                    result.conflicts.append(Conflict(student, None, None, f"{student}: no version seen was sent; "
                                                     "reload the page"))
                else:
                    refused = self._refusal(question, student, seen[student])
                    if refused:
                        result.conflicts.append(refused)
                    else:
                        held.append(student)

            def change(applied: set[str]) -> set[str]:
                applied = set(applied)
                if on:
                    if item.score is not None:  # one fixed score at a time
                        applied -= {i for i in applied if i in items and items[i].score is not None}
                    applied.add(item_id)
                else:
                    applied.discard(item_id)
                return applied

            self._regrade(question, held, items, by, now, result, action="apply" if on else "remove",
                          detail=item_id, change=change)
            self._commit()
        result.answers = list(self.answers(question, students).values())
        return result

    def set_note(self, question: str, student: str, note: str, seen: int, by: str) -> WriteResult:
        """The TA's own comment for one answer (after the items' comments); compare-and-set as apply."""
        self._question(question)
        by = who_as_stored(by)
        if not isinstance(note, str) or len(note) > 10_000:
            raise BadRequest("a note is text of at most 10,000 characters")
        result = WriteResult()
        now = now_utc()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=SAWarning)
            if student not in self._load(question, [student]):
                self.db.rollback()
                raise NotFound(f"{student[:ID_WIDTH]}: no submission of {question} in the gradebook")
            refused = self._refusal(question, student, seen)
            if refused:
                result.conflicts.append(refused)
            else:
                items = {r.item_id: self._item(r) for r in self._item_rows(question)}
                self._regrade(question, [student], items, by, now, result, action="note", detail=note, note=note)
            self._commit()
        result.answers = list(self.answers(question, [student]).values())
        return result

    def history(self, question: str, student: str | None = None, limit: int = 200) -> list[dict]:
        """The latest changes, newest first: {"at", "by", "action", "student", "item", "detail"}."""
        self._question(question)
        query = select(LOG).where(self._where(LOG, question)).order_by(LOG.c.id.desc()).limit(limit)
        if student is not None:
            query = query.where(LOG.c.student == student)
        rows = [{"at": iso_utc(r.at), "by": r.by, "action": r.action, "student": r.student, "item": r.item_id,
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
        by = who_as_stored(by)
        students = [s for s in dict.fromkeys(students) if s in answers]
        if not students:
            raise BadRequest(f"{question}: none of those students has an answer to move")
        pins, kinds = self._pins(question)
        views = {g.key: g for g in _resolve(suggested, answers, pins, kinds)}
        if to is not None and to not in views:
            self.db.rollback()
            raise NotFound(f"{question}: no group {to!r} (the groups changed since your page loaded); reload")
        now = now_utc()
        of = {s: key for key, g in views.items() for s in g.students}
        touched = {of[s] for s in students} | ({to} if to else set())
        pins_now: dict[str, str] = {}
        try:
            renamed: dict[str, str] = {}
            for key in sorted(touched):  # pin each group involved as it stands now
                view = views[key]
                if view.edited:
                    continue
                renamed[key] = self._new_group(question, view.kind, by, now)
                pins_now.update(dict.fromkeys(view.students, renamed[key]))
            target = renamed.get(to, to) if to else self._new_group(question, "ta", by, now)
            pins_now.update(dict.fromkeys(students, target))
            self._pin(question, pins_now, by, now)
            self._log(question, "move", by, now,
                      detail=f"{len(students)} answer(s) to {target}: {', '.join(students)}"[:2000])
            self._commit()
        except IntegrityError:  # another TA pinned one of these answers at the same moment
            self.db.rollback()
            raise StoreError(f"{question}: another TA moved some of these answers just now; reload and "
                             "move them again") from None
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

    def _pin(self, question: str, pins: Mapping[str, str], by: str, now: datetime) -> None:
        """Students -> the group key they are pinned to (replacing their pins)."""
        students = sorted(pins)
        for start in range(0, len(students), _CHUNK):
            self.db.execute(MEMBERS.delete().where(and_(self._where(MEMBERS, question),
                                                        MEMBERS.c.student.in_(students[start:start + _CHUNK]))))
        self.db.execute(MEMBERS.insert(), [self._row(question, student=sid, group_key=pins[sid], by=by, at=now)
                                           for sid in students])

def _text(comment) -> str:
    """nbgrader's manual comment of an answer cell ('' for none)."""
    return (comment.manual_comment if comment is not None else None) or ""


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
