"""The grading page's view of a class: the store's state, the answers' text and who wrote them,
shaped as the JSON the API answers (docs/ta.md, "Grading written answers").

Opened once per server (`server._DeskSlot`): the grader's config (the settings file the launcher
recorded, bound to the OUT's master), the store (`store.ManualGrading`, every write its own
transaction), the roster's names and formgrader's submission ids (nbgrader's gradebook). Answers'
text is read from OUT (`answers.question_answers`) when a question is opened, so a `grade` running
meanwhile adds its new students at the next load.
"""
from __future__ import annotations

import hashlib
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alexnet_core.contract import answer_cell
from autograder.config import for_master, load_config
from autograder.course import OutputFolder
from autograder.errors import LabError
from autograder.urls import submission_path
from grading_config import GradingConfig

CUT_CHARS = 4_000
"""An answer longer than this is sent cut (with its length); `GET .../answers/<id>` sends it whole."""
REREAD_S = 5.0
"""A submission in the gradebook with no result read yet makes the results read again, at most this
often (seconds): a graded.json that never comes (unreadable) must not cost a read per request."""
MAX_STUDENTS = 20_000
"""Most students one request may name (a class of 10,000 fits)."""


class NotFound(LabError):
    """A question, student or item that is not there (HTTP 404)."""


class Refused(LabError):
    """A write the store refused as a whole (HTTP 409), with what the page shows."""

    def __init__(self, message: str, **data):
        super().__init__(message)
        self.data = data


@contextmanager
def _refusals():
    """The store's refusals as the API's: unknown -> NotFound, in use or stale -> Refused."""
    from autograder.manual import states

    try:
        yield
    except states.NotFound as exc:
        raise NotFound(str(exc)) from None
    except states.ItemInUse as exc:
        raise Refused(str(exc), count=exc.count) from None
    except states.Stale as exc:
        raise Refused(str(exc), by=exc.by, at=exc.at) from None


@dataclass(frozen=True)
class Person:
    name: str
    submission_id: str


def roster(db_url: str, course_id: str, assignment: str, notebook: str) -> dict[str, Person]:
    """Each student's name (the roster's, as the gradebook holds it) and formgrader's id of their
    submitted notebook, in two queries (nbgrader's `student_dicts` scores every student)."""
    from nbgrader.api import Assignment, Notebook, Student, SubmittedAssignment, SubmittedNotebook

    from autograder.gradebook import Gradebook

    people: dict[str, Person] = {}
    with Gradebook(db_url, course_id) as gb:
        names = {sid: " ".join(p for p in (first, last) if p) for sid, first, last in
                 gb.db.query(Student.id, Student.first_name, Student.last_name)}
        rows = (gb.db.query(Student.id, SubmittedNotebook.id)
                .join(SubmittedAssignment, SubmittedAssignment.student_id == Student.id)
                .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                .filter(Assignment.name == assignment, Notebook.name == notebook))
        submissions = dict(rows)
    for sid in set(names) | set(submissions):
        people[sid] = Person(names.get(sid, ""), submissions.get(sid, ""))
    return people


class Desk:
    def __init__(self, out: OutputFolder, config: GradingConfig, store, db_url: str, base_url: str):
        self.grade_ids = {label: answer_cell(label) for label in config.points.questions}
        self.out = out
        self.config = config
        self.store = store
        self.db_url = db_url
        self.base_url = base_url.rstrip("/")
        self.lock = threading.RLock()
        self.people: dict[str, Person] = {}
        self.texts: dict[str, dict[str, str]] = {}
        self.notes: dict[str, dict[str, str]] = {}
        self.suggested: dict[str, tuple[str, list]] = {}
        self.results: tuple | None = None
        self.read_at = 0.0

    @classmethod
    def open(cls, out: Path, config_file: str | None, db_url: str | None, base_url: str = "/",
             master: str | None = None) -> Desk:
        """`master`: the course's master, whose rubrics seed the items; missing (formgrader started
        away from the course folder, a hub service), OUT's registered copy, which keeps them."""
        from autograder.manual.rubric import read_rubrics
        from autograder.manual.store import ManualGrading

        config = load_config(Path(config_file) if config_file else None).config
        folder = OutputFolder.of(Path(out), config)  # the gradebook.url of the settings, else OUT's SQLite
        registered = folder.nbgrader.source_notebook()
        if not registered.is_file():
            raise LabError(f"{registered}: no registered master in this OUT; grade first: alexnet-lab grade INPUT... "
                           f"--out {folder.root}")
        config = for_master(config, registered)  # the questions OUT was graded with
        url = db_url or folder.nbgrader.gradebook_url
        rubrics = read_rubrics(Path(master) if master and Path(master).is_file() else registered,
                               config.points.questions)
        grade_ids = {label: answer_cell(label) for label in config.points.questions}
        store = ManualGrading(url, config.course.course_id, config.course.assignment, config.course.notebook,
                              rubrics, grade_ids)
        return cls(folder, config, store, url, base_url)

    # ------------------------------------------------------------ reading

    def _question(self, question: str) -> str:
        if question not in self.config.points.questions:
            raise NotFound(f"no question {question!r} in this assignment "
                           f"(questions: {', '.join(self.config.points.questions)})")
        return question

    def submission_url(self, sid: str) -> str:
        person = self.people.get(sid)
        return f"{self.base_url}/{submission_path(person.submission_id)}" if person and person.submission_id else ""

    def _answer(self, question: str, sid: str, state: dict, text: str) -> dict:
        person = self.people.get(sid)
        return {
            "student": sid, "name": person.name if person else "",
            "text": text[:CUT_CHARS], "length": len(text), "cut": len(text) > CUT_CHARS,
            "grader_note": self.notes.get(question, {}).get(sid, ""), "submission_url": self.submission_url(sid),
            **state,
        }

    def _load(self, question: str) -> tuple[dict[str, str], list]:
        """The question's answers as OUT holds them now, their notes, and the suggested groups
        (recomputed only when the answers changed: a `grade` running meanwhile added some)."""
        from autograder.batch.record import load_done
        from autograder.manual.groups import suggest_groups

        texts: dict[str, str] = {}
        notes: dict[str, str] = {}
        # Read again only when grade recorded something since: a new folder, grades.csv rewritten,
        # or a submission in the gradebook whose graded.json was not there yet (written last).
        mark = tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (self.out.root, self.out.grades_csv))
        missing = self.results is not None and time.monotonic() - self.read_at > REREAD_S and any(
            person.submission_id and sid not in self.results[1] for sid, person in self.people.items())
        if self.results is None or self.results[0] != mark or missing:
            # Only the answers are kept: a result also holds its executed notebook (megabytes).
            self.results = (mark, {sid: {a.label: (a.text, a.note) for a in result.answers}
                                   for sid, result in sorted(load_done(self.out.root).items())})
            self.read_at = time.monotonic()
        for sid, answers in self.results[1].items():
            if question in answers:
                texts[sid], note = answers[question]
                if note:
                    notes[sid] = note[:500]
        digest = hashlib.sha256("\0".join(f"{k}\1{v}" for k, v in texts.items()).encode()).hexdigest()
        cached = self.suggested.get(question)
        if cached is None or cached[0] != digest:
            groups = suggest_groups(texts, near_ratio=self.config.runners.near_duplicate_ratio,
                                    similar_threshold=self.config.manual.similar_threshold)
            self.suggested[question] = cached = (digest, groups)
        self.texts[question], self.notes[question] = texts, notes
        return texts, cached[1]

    def _texts(self, question: str) -> dict[str, str]:
        if question not in self.texts:
            self._load(question)
        return self.texts[question]

    def _groups(self, question: str) -> list[dict]:
        texts, suggested = self._load(question)
        with _refusals():
            views = self.store.groups(question, suggested, texts)
        return [{"key": g.key, "kind": g.kind, "students": list(g.students), "edited": g.edited} for g in views]

    def _answers(self, question: str, states) -> list[dict]:
        texts = self._texts(question)
        return [self._answer(question, s.student, s.to_dict(), texts.get(s.student, "")) for s in states]

    # ------------------------------------------------------------ the API's answers

    def _graded(self) -> dict[str, tuple[set[str], set[str]]]:
        """question -> (students with an answer in the gradebook, those graded), in one query of
        plain columns: the progress bar's figures for every question (the store's full state is
        read per question, when one is opened; for 3,000 answers it is the slow part)."""
        from nbgrader.api import Assignment, BaseCell, Grade, Notebook, SubmittedAssignment, SubmittedNotebook
        from sqlalchemy import select

        label = {cell: q for q, cell in self.grade_ids.items()}
        query = (select(BaseCell.name, SubmittedAssignment.student_id, Grade.manual_score, Grade.auto_score,
                        Grade.needs_manual_grade)
                 .join(BaseCell, Grade.cell_id == BaseCell.id)
                 .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                 .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
                 .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                 .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                 .where(BaseCell.name.in_(list(label)), Notebook.name == self.config.course.notebook,
                        Assignment.name == self.config.course.assignment))
        found = {q: (set(), set()) for q in self.grade_ids}
        try:
            for cell, sid, manual, auto, needs in self.store.db.execute(query):
                every, graded = found[label[cell]]
                every.add(sid)
                # The store's rule (AnswerState.graded): a score, and no TA still owes one.
                if (manual if manual is not None else auto) is not None and not needs:
                    graded.add(sid)
        finally:
            self.store.db.rollback()
        return found

    def questions(self) -> list[dict]:
        """Per question: answers graded / total, groups and groups left (a group is left while one
        of its answers waits for a TA)."""
        with self.lock:
            found = []
            graded = self._graded()
            for question, worth in self.config.points.questions.items():
                every, done = graded.get(question, (set(), set()))
                groups = self._groups(question)
                waiting = every - done
                found.append({"question": question, "max_points": worth, "answers": len(every),
                              "graded": len(done), "groups": len(groups),
                              "groups_left": sum(1 for g in groups if waiting & set(g["students"]))})
            return found

    def question(self, question: str) -> dict:
        """The rubric, the groups and every answer (text cut at CUT_CHARS) of one question."""
        with self.lock:
            self._question(question)
            # Names and formgrader's ids: read again as a question opens (grade may add students).
            self.people = roster(self.db_url, self.config.course.course_id, self.config.course.assignment,
                                 self.config.course.notebook)
            groups = self._groups(question)
            with _refusals():
                items = [i.to_dict() for i in self.store.items(question)]
                states = self.store.answers(question)
                rubric = self.store.rubric(question)
            answers = {a["student"]: a for a in self._answers(question, states.values())}
            return {"question": question, "max_points": rubric.max_points, "notes": rubric.notes,
                    "items": items, "groups": groups, "answers": answers}

    def answer(self, question: str, student: str) -> dict:
        """One answer whole."""
        with self.lock:
            self._question(question)
            texts = self._texts(question)
            if student not in texts:
                texts = self._load(question)[0]
            if student not in texts:
                raise NotFound(f"{question}: no answer of {student!r}")
            return {"student": student, "text": texts[student], "length": len(texts[student])}

    def _students(self, data: dict, key: str = "students") -> list[str]:
        students = data.get(key)
        if not isinstance(students, list) or not students or not all(isinstance(s, str) for s in students):
            raise LabError(f"'{key}' must be a non-empty list of student ids")
        if len(students) > MAX_STUDENTS:
            raise LabError(f"'{key}' names {len(students)} students; at most {MAX_STUDENTS} at once")
        return students

    def apply(self, question: str, data: dict, who: str) -> dict:
        """Apply (`on`) or remove an item for students, each against the version the page saw."""
        with self.lock:
            self._question(question)
            item, on, seen = data.get("item"), data.get("on", True), data.get("seen", {})
            if not isinstance(item, str) or not isinstance(on, bool) or not isinstance(seen, dict):
                raise LabError('send {"item": ID, "students": [...], "on": true|false, "seen": {student: version}}')
            students = self._students(data)
            seen = {k: v for k, v in seen.items() if isinstance(v, int) and not isinstance(v, bool)}
            with _refusals():
                result = self.store.apply(question, item, students, on, seen, who)
            body = result.to_dict()
            body["answers"] = self._answers(question, result.answers)
            return body

    def note(self, question: str, data: dict, who: str) -> dict:
        """The TA's own note to one student (their comment: the items' comments, then this)."""
        with self.lock:
            self._question(question)
            student, note, seen = data.get("student"), data.get("note"), data.get("seen")
            if not isinstance(student, str) or not isinstance(note, str) or not isinstance(seen, int):
                raise LabError('send {"student": ID, "note": TEXT, "seen": version}')
            with _refusals():
                result = self.store.set_note(question, student, note, seen, who)
            body = result.to_dict()
            body["answers"] = self._answers(question, result.answers)
            return body

    def add_item(self, question: str, data: dict, who: str) -> dict:
        with self.lock:
            self._question(question)
            body = {k: v for k, v in data.items() if k in ("id", "title", "points", "score", "comment")}
            if not body.get("id"):
                body["id"] = self._new_item_id(question, str(body.get("title", "")))
            with _refusals():
                return {"item": self.store.add_item(question, body, who).to_dict()}

    def _new_item_id(self, question: str, title: str) -> str:
        """A short id from the title, unique in the question (the page does not ask for one)."""
        stem = "".join(c if c.isascii() and c.isalnum() else "-" for c in title.lower()).strip("-")
        stem = "-".join(part for part in stem.split("-") if part)[:30] or "item"
        taken = {i.item.id for i in self.store.items(question)}
        candidate, n = stem, 2
        while candidate in taken:
            candidate, n = f"{stem}-{n}", n + 1
        return candidate

    def edit_item(self, question: str, item: str, data: dict, who: str) -> dict:
        """Change an item; every answer it is applied to is re-scored (`rescored`)."""
        with self.lock:
            self._question(question)
            seen = data.get("version")
            changes = {k: v for k, v in data.items() if k in ("title", "points", "score", "comment")}
            with _refusals():
                result = self.store.edit_item(question, item, changes, who,
                                              seen_version=seen if isinstance(seen, int) else None)
            body = result.to_dict()
            body["answers"] = self._answers(question, result.answers)
            return body

    def delete_item(self, question: str, item: str, who: str) -> dict:
        with self.lock:
            self._question(question)
            with _refusals():
                self.store.delete_item(question, item, who)
            return {"deleted": item}

    def move(self, question: str, data: dict, who: str) -> dict:
        """Move answers to the group `to` (a key), or to a new group (`to` null): split, move out."""
        with self.lock:
            self._question(question)
            students, to = self._students(data), data.get("to")
            if to is not None and not isinstance(to, str):
                raise LabError("'to' must be a group key or null (a new group)")
            texts, suggested = self._load(question)
            with _refusals():
                key = self.store.move(question, students, to, suggested, texts, who)
            return {"group": key, "groups": self._groups(question)}

    def merge(self, question: str, data: dict, who: str) -> dict:
        """Merge the groups `groups` into the group `into`."""
        with self.lock:
            self._question(question)
            into, others = data.get("into"), data.get("groups")
            if not isinstance(into, str) or not isinstance(others, list) or not all(isinstance(k, str) for k in others):
                raise LabError('send {"into": KEY, "groups": [KEY, ...]}')
            texts, suggested = self._load(question)
            with _refusals():
                key = self.store.merge(question, [into, *[k for k in others if k != into]], suggested, texts, who)
            return {"group": key, "groups": self._groups(question)}
