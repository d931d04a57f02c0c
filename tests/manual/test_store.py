"""The manual-grading store on a graded class: items applied to groups land in nbgrader's gradebook
(so formgrader, export and feedback.html see them), an edited item re-scores everyone it touched,
several TAs (and formgrader) at once never lose a write silently, the coordinator keeps what TAs
entered, and group edits survive new submissions. SQLite here; the race also on a real PostgreSQL.

The class is `benchmarks/written_class.py`'s, recorded by the real Recorder (no kernel runs: what
is tested is what happens after grading).
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import threading
from collections import namedtuple
from dataclasses import replace
from pathlib import Path

import pytest
from notebooks import CONFIG, REPO

from alexnet_core.contract import answer_cell
from autograder.batch.record import Recorder
from autograder.cli import main
from autograder.config import for_master, with_gradebook_url
from autograder.course import OutputFolder
from autograder.gradebook import Gradebook
from autograder.manual.rubric import Rubric, RubricItem, read_rubrics, score_of
from autograder.manual.states import BadRequest, ItemInUse, Stale
from autograder.manual.store import OUTSIDE, ManualGrading
from benchmarks.written_class import graded_out, planted_class, result_of

MASTER = REPO / "source" / "alexnet" / "alexnet.ipynb"
BOUND = for_master(CONFIG, MASTER)
RUBRICS = read_rubrics(MASTER, BOUND.points.questions)
GRADE_IDS = {label: answer_cell(label) for label in BOUND.points.questions}
COURSE = BOUND.course
PLANTED = planted_class(12, seed=5)
FIRST = replace(PLANTED, students=PLANTED.students[:10])
"""Graded at first; the last two arrive while TAs grade."""
ITEMS = {i.id: i for i in RUBRICS["Q1"].items}  # data +1, compute +1, tricks +1, restates = 0


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return graded_out(tmp_path_factory.mktemp("store-class") / "out", BOUND, FIRST).root


@pytest.fixture
def out(built, tmp_path) -> OutputFolder:
    """A copy of the graded class per test (its SQLite gradebook included)."""
    shutil.copytree(built, tmp_path / "out", ignore=shutil.ignore_patterns(".work"))
    return OutputFolder.of(tmp_path / "out", BOUND)


def store(out: OutputFolder, rubrics=None) -> ManualGrading:
    return ManualGrading(out.nbgrader.gradebook_url, COURSE.course_id, COURSE.assignment, COURSE.notebook,
                         rubrics or RUBRICS, GRADE_IDS)


def waiting(s: ManualGrading, question: str = "Q1") -> list[str]:
    """Answered students whose answer waits for a TA."""
    return [sid for sid, a in s.answers(question).items() if a.needs_manual_grade]


def nbgrader_rows(out: OutputFolder, student: str, question: str = "Q1") -> tuple:
    """(manual_score, manual_comment, needs_manual_grade) as nbgrader's own API reads them."""
    with Gradebook(out.nbgrader.gradebook_url) as gb:
        grade = gb.find_grade(GRADE_IDS[question], COURSE.notebook, COURSE.assignment, student)
        comment = gb.find_comment(GRADE_IDS[question], COURSE.notebook, COURSE.assignment, student)
        return grade.manual_score, comment.manual_comment, grade.needs_manual_grade


def formgrader_save(out: OutputFolder, student: str, score: float, text: str, question: str = "Q1") -> None:
    """What formgrader stores when a TA types points and a comment on a submission's page."""
    with Gradebook(out.nbgrader.gradebook_url) as gb:
        grade = gb.find_grade(GRADE_IDS[question], COURSE.notebook, COURSE.assignment, student)
        grade.manual_score, grade.needs_manual_grade = score, False
        gb.find_comment(GRADE_IDS[question], COURSE.notebook, COURSE.assignment, student).manual_comment = text
        gb.db.commit()


def nbgrader_export(out: OutputFolder) -> dict[str, float]:
    """`nbgrader export` run in OUT's course root: each student's raw score."""
    bin_dir = Path(sys.executable).parent
    target = out.root / "nbgrader-export.csv"
    done = subprocess.run([str(bin_dir / "nbgrader"), "export", "--to", str(target)], cwd=out.nbgrader.root,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr[-2000:]
    with target.open(newline="") as fh:
        return {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(fh)}


def seen_of(s: ManualGrading, students, question: str = "Q1") -> dict[str, int]:
    states = s.answers(question)
    return {sid: states[sid].version for sid in students}


def test_an_item_applied_to_a_group_is_the_gradebooks_grade_and_comment(out):
    with store(out) as ana:
        group = waiting(ana)[:3]
        assert len(group) == 3 and all(nbgrader_rows(out, sid)[2] for sid in group)
        done = ana.apply("Q1", "data", group, True, seen_of(ana, group), "ana (root)")
        assert done.changed == group and not done.conflicts
        done = ana.apply("Q1", "compute", group, True, {a.student: a.version for a in done.answers}, "ana (root)")
        assert done.changed == group
        for sid in group:
            assert nbgrader_rows(out, sid) == (2.0, f"{ITEMS['data'].comment}\n{ITEMS['compute'].comment}", False)
        state = ana.answers("Q1", group)[group[0]]
        assert state.applied == ("data", "compute") and state.version == 2 and state.score == 2.0 and state.graded
        assert state.by == "ana (root)" and state.at.endswith("Z") and not state.outside
        # A fixed score replaces another fixed score; removing every item hands the answer back to the TAs.
        ana.apply("Q1", "restates", group[:1], True, seen_of(ana, group[:1]), "ana (root)")
        for item in ("data", "compute", "restates"):
            ana.apply("Q1", item, group[:1], False, seen_of(ana, group[:1]), "ana (root)")
        assert nbgrader_rows(out, group[0]) == (None, None, True)
        assert ana.progress()["Q1"]["graded"] == ana.progress()["Q1"]["total"] - len(waiting(ana))
        actions = [(h["action"], h["item"]) for h in ana.history("Q1", group[0])]
        assert actions[:3] == [("remove", "restates"), ("remove", "compute"), ("remove", "data")]


def test_an_edited_item_rescores_every_answer_in_the_gradebook_final_grades_and_feedback(out, capsys):
    with store(out) as ana:
        group = waiting(ana)[:3]
        ana.apply("Q1", "tricks", group, True, seen_of(ana, group), "ana")
        ana.apply("Q1", "data", group[:1], True, seen_of(ana, group[:1]), "ana")
        other = waiting(ana)[0]
        ana.apply("Q1", "compute", [other], True, seen_of(ana, [other]), "ana")
        before = nbgrader_export(out)
        edited = ana.edit_item("Q1", "tricks", {"points": 0.5, "comment": "Half a point: name the trick."}, "bo",
                               seen_version=1)
        assert edited.rescored == 3 and sorted(edited.changed) == sorted(group) and not edited.conflicts
        assert edited.item.version == 2 and edited.item.uses == 3 and edited.item.item.points == 0.5
    expected = {group[0]: 1.5, group[1]: 0.5, group[2]: 0.5, other: 1.0}
    for sid, score in expected.items():
        assert nbgrader_rows(out, sid)[0] == score
    assert "Half a point" in nbgrader_rows(out, group[1])[1] and "Half a point" not in nbgrader_rows(out, other)[1]

    assert main(["--course", str(REPO), "export", str(out.root), "--allow-pending"]) == 0
    capsys.readouterr()
    with (out.root / "final" / "final_grades.csv").open(newline="") as fh:
        final = {r["student_id"]: r for r in csv.DictReader(fh)}
    for sid, score in expected.items():
        assert float(final[sid]["Q1_manual"]) == score
    assert final[group[1]]["Q1_comment"] == "Half a point: name the trick."
    page = (out.root / group[1] / "feedback.html").read_text(encoding="utf-8")
    assert "Half a point: name the trick." in page and ITEMS["tricks"].comment not in page
    after = nbgrader_export(out)
    for sid in expected:  # nbgrader's own export sees the re-scoring: half a point less for each of the group
        assert after[sid] == pytest.approx(before[sid] - (0.5 if sid in group else 0.0))


def test_two_tas_with_stale_pages_lose_nothing_and_the_refusal_names_who(out):
    with store(out) as ana, store(out) as bo:
        s1, s2, s3, s4 = waiting(ana)[:4]
        seen_ana, seen_bo = seen_of(ana, [s1, s2, s3]), seen_of(bo, [s3, s4])  # both pages loaded
        assert not ana.apply("Q1", "data", [s1, s2, s3], True, seen_ana, "ana (root)").conflicts
        done = bo.apply("Q1", "compute", [s3, s4], True, seen_bo, "bo (root)")
        assert done.changed == [s4]  # the rest of the group still applies
        [conflict] = done.conflicts
        assert conflict.student == s3 and conflict.by == "ana (root)" and conflict.at
        assert "ana (root)" in conflict.message and conflict.at in conflict.message
        assert nbgrader_rows(out, s3)[0] == 1.0  # ana's grade stands
        # Bo reloads (the page redraws from done.answers) and applies again: both items now.
        again = bo.apply("Q1", "compute", [s3], True, {a.student: a.version for a in done.answers}, "bo (root)")
        assert again.changed == [s3] and nbgrader_rows(out, s3)[0] == 2.0
        assert ana.answers("Q1", [s3])[s3].applied == ("data", "compute")
        # Items too: an edit from a page that predates another TA's edit is refused, naming them.
        ana.edit_item("Q1", "data", {"title": "Data (ImageNet)"}, "ana (root)", seen_version=1)
        with pytest.raises(Stale, match=r"changed by ana \(root\)"):
            bo.edit_item("Q1", "data", {"points": 0.5}, "bo (root)", seen_version=1)
        assert nbgrader_rows(out, s1)[0] == 1.0


def _race(open_store, question: str, student: str, seen: int, items: list[str]) -> list:
    """Each item applied by its own store (its own connection, as on its own server), all at once."""
    barrier = threading.Barrier(len(items))
    results: dict[str, object] = {}

    def one(item):
        with open_store() as s:
            barrier.wait()
            try:
                results[item] = s.apply(question, item, [student], True, {student: seen}, f"ta-{item}")
            except Exception as exc:  # reported by the assertion below, not lost in the thread
                results[item] = exc

    threads = [threading.Thread(target=one, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[item] for item in items]


def _check_race(results, items, state, score) -> None:
    assert not [r for r in results if isinstance(r, Exception)], results
    winners = [item for item, r in zip(items, results) if r.changed]
    assert len(winners) == 1, results  # the same seen version: exactly one write, the others refused
    for item, r in zip(items, results):
        if item != winners[0]:
            [conflict] = r.conflicts
            assert conflict.by == f"ta-{winners[0]}" and f"ta-{winners[0]}" in conflict.message
    assert state.applied == (winners[0],) and state.by == f"ta-{winners[0]}" and state.version == 1
    assert score == score_of(RUBRICS["Q1"].max_points, [ITEMS[winners[0]]])  # the gradebook has the winner's


def test_concurrent_writers_on_one_answer_exactly_one_wins(out):
    items = ["data", "compute", "tricks", "restates"]
    with store(out) as s:
        student = waiting(s)[0]
    results = _race(lambda: store(out), "Q1", student, 0, items)
    with store(out) as s:
        state = s.answers("Q1", [student])[student]
    _check_race(results, items, state, nbgrader_rows(out, student)[0])


def test_a_grade_changed_in_formgrader_is_detected_never_overwritten(out):
    with store(out) as ana:
        s1, s2 = waiting(ana)[:2]
        ana.apply("Q1", "data", [s1, s2], True, seen_of(ana, [s1, s2]), "ana")
        page = seen_of(ana, [s1, s2])  # the page as loaded now
        formgrader_save(out, s1, 1.5, "Typed in formgrader.")
        done = ana.apply("Q1", "compute", [s1, s2], True, page, "ana")
        assert done.changed == [s2]
        [conflict] = done.conflicts
        assert conflict.student == s1 and conflict.by == OUTSIDE and "outside this page" in conflict.message
        assert nbgrader_rows(out, s1) == (1.5, "Typed in formgrader.", False)  # formgrader's grade stands
        state = ana.answers("Q1", [s1])[s1]
        assert state.outside and state.by == OUTSIDE and state.score == 1.5 and state.version > page[s1]
        # Re-scoring by an item edit leaves it alone too, and says so.
        formgrader_save(out, s2, 0.25, "Also typed in formgrader.")
        edited = ana.edit_item("Q1", "data", {"comment": "Data, reworded."}, "ana")
        assert sorted(c.student for c in edited.conflicts) == sorted([s1, s2]) and not edited.changed
        assert nbgrader_rows(out, s2)[0] == 0.25 and nbgrader_rows(out, s1)[0] == 1.5
        # Removing an item it does not have changes nothing: formgrader's grade stays, no page goes stale.
        noop = ana.apply("Q1", "tricks", [s1], False, {s1: state.version}, "ana")
        assert not noop.changed and not noop.conflicts and noop.answers[0].version == state.version
        assert nbgrader_rows(out, s1)[0] == 1.5
        # Once the TA has seen it, applying replaces it knowingly.
        again = ana.apply("Q1", "compute", [s1], True, {s1: state.version}, "ana")
        assert again.changed == [s1] and nbgrader_rows(out, s1)[0] == 2.0
        assert not ana.answers("Q1", [s1])[s1].outside


def test_a_comment_typed_in_formgrader_stays_the_tas_own_words_when_items_are_applied_later(out):
    """A TA who typed a comment in formgrader, then graded the group on the page, keeps that comment:
    it becomes the answer's note, after the items' comments, never replaced by the first item's."""
    with store(out) as ana:
        s1, s2 = waiting(ana)[:2]
        ana.apply("Q1", "data", [s2], True, seen_of(ana, [s2]), "ana")
        formgrader_save(out, s1, 1.0, "Typed in formgrader first.")  # before the page ever saw s1
        formgrader_save(out, s2, 1.5, f"{ITEMS['data'].comment}\nAdded in formgrader.")
        page = {sid: a for sid, a in ana.answers("Q1", [s1, s2]).items()}
        assert page[s1].note == "Typed in formgrader first." and page[s2].note == "Added in formgrader."
        done = ana.apply("Q1", "compute", [s1, s2], True, {sid: a.version for sid, a in page.items()}, "ana")
        assert sorted(done.changed) == sorted([s1, s2]) and not done.conflicts
        assert nbgrader_rows(out, s1)[1] == f"{ITEMS['compute'].comment}\nTyped in formgrader first."
        assert nbgrader_rows(out, s2)[1] == (f"{ITEMS['data'].comment}\n{ITEMS['compute'].comment}\n"
                                             "Added in formgrader.")


def test_an_applied_item_cannot_be_deleted_and_bad_items_are_refused(out):
    with store(out) as ana:
        group = waiting(ana)[:3]
        ana.apply("Q1", "tricks", group, True, seen_of(ana, group), "ana")
        with pytest.raises(ItemInUse, match="applied to 3 answer") as refused:
            ana.delete_item("Q1", "tricks", "ana")
        assert refused.value.count == 3
        ana.apply("Q1", "tricks", group, False, seen_of(ana, group), "ana")
        ana.delete_item("Q1", "tricks", "ana")
        assert "tricks" not in [i.item.id for i in ana.items("Q1")]
        with pytest.raises(BadRequest, match="outside 0..2"):
            ana.add_item("Q1", {"id": "great", "title": "Great", "score": 3, "comment": ""}, "ana")
        with pytest.raises(BadRequest, match="exists already"):
            ana.add_item("Q1", {"id": "data", "title": "Again", "points": 1}, "ana")
        ana.apply("Q1", "data", group[:1], True, seen_of(ana, group[:1]), "ana")
        with pytest.raises(BadRequest, match="while applied"):
            ana.edit_item("Q1", "data", {"score": 1}, "ana")
        added = ana.add_item("Q1", {"id": "bonus-figure", "title": "Cites a figure", "points": 0.5,
                                    "comment": "Good use of the figure."}, "ana")
        assert added.version == 1 and [i.item.id for i in ana.items("Q1")][-1] == "bonus-figure"


def test_items_are_seeded_from_the_master_once_and_then_belong_to_the_store(out):
    with store(out) as ana:
        ana.edit_item("Q1", "data", {"title": "Too little data"}, "ana")
        ana.delete_item("Q1", "compute", "ana")
    later = dict(RUBRICS)
    q1 = RUBRICS["Q1"]
    later["Q1"] = Rubric("Q1", q1.max_points, (*q1.items, RubricItem("new-one", "Added later", 1.0, None, "")), "")
    with store(out, later) as reopened:  # another server, or the same after the master gained an item
        ids = [i.item.id for i in reopened.items("Q1")]
        assert "compute" not in ids and ids[-1] == "new-one"
        assert reopened.rubric("Q1").items[0].title == "Too little data"


def test_the_coordinator_keeps_manual_grades_and_new_submissions_appear(out):
    with store(out) as ana:
        s1 = waiting(ana)[0]
        ana.apply("Q1", "data", [s1], True, seen_of(ana, [s1]), "ana")
        before = ana.answers("Q1", [s1])[s1]
        recorder = Recorder(out, BOUND, MASTER)
        recorder.record(result_of(PLANTED, s1, BOUND))  # a regrade of a graded student
        newcomer = PLANTED.students[10]
        recorder.record(result_of(PLANTED, newcomer, BOUND))  # a first grade while TAs grade
        assert nbgrader_rows(out, s1) == (1.0, ITEMS["data"].comment, False)
        after = ana.answers("Q1")
        assert after[s1].version == before.version and not after[s1].outside and after[s1].applied == ("data",)
        assert newcomer in after and after[newcomer].version == 0
        done = ana.apply("Q1", "compute", [newcomer], True, {newcomer: 0}, "ana")
        assert done.changed == [newcomer] and nbgrader_rows(out, newcomer)[0] == 1.0


Group = namedtuple("Group", "key kind students answer")


def test_group_edits_are_pinned_and_a_new_answer_joins_its_look_alikes(out):
    answers = {f"s{i}": f"answer {i}" for i in range(1, 7)}
    suggested = [Group("g1", "identical", ("s1", "s2", "s3"), "answer 1"),
                 Group("g2", "near", ("s4", "s5"), "answer 4"),
                 Group("g3", "single", ("s6",), "answer 6")]
    with store(out) as ana, store(out) as bo:
        assert [g.students for g in ana.groups("Q1", suggested, answers)] == [("s1", "s2", "s3"), ("s4", "s5"),
                                                                            ("s6",)]
        alone = ana.move("Q1", ["s3"], None, suggested, answers, "ana")  # split s3 out
        merged = ana.merge("Q1", ["g2", "g3"], suggested, answers, "ana")
        views = {g.key: g for g in bo.groups("Q1", suggested, answers)}  # another server sees the same
        assert views[alone].students == ("s3",) and views[merged].students == ("s4", "s5", "s6")
        rest = next(g for g in views.values() if g.students == ("s1", "s2"))
        assert rest.edited and rest.kind == "identical"
        # A new submission like s1's arrives; the suggestion (recomputed) gives g1 new members and key.
        answers["s7"] = "answer 1"
        suggested = [Group("g1b", "identical", ("s1", "s2", "s3", "s7"), "answer 1"), *suggested[1:]]
        views = bo.groups("Q1", suggested, answers)
        placed = [s for g in views for s in g.students]
        assert sorted(placed) == sorted(answers)  # every answer in exactly one group
        assert next(g for g in views if "s7" in g.students).students == ("s1", "s2", "s7")
        assert next(g for g in views if "s3" in g.students).students == ("s3",)


def test_the_race_on_a_real_postgresql(tmp_path, capsys):
    """The same compare-and-set on a server database: row locks instead of SQLite's file lock."""
    from postgres import running_postgres

    with running_postgres() as server:
        config = with_gradebook_url(BOUND, server.create_database("store"), "test")
        small = replace(PLANTED, students=PLANTED.students[:4])
        folder = graded_out(tmp_path / "out", config, small)
        url = folder.nbgrader.gradebook_url
        assert url.startswith("postgresql")

        def open_store():
            return ManualGrading(url, COURSE.course_id, COURSE.assignment, COURSE.notebook, RUBRICS, GRADE_IDS)

        with open_store() as s:
            student = [sid for sid, a in s.answers("Q1").items() if a.needs_manual_grade][0]
        items = ["data", "compute", "tricks", "restates"]
        results = _race(open_store, "Q1", student, 0, items)
        with open_store() as s:
            state = s.answers("Q1", [student])[student]
        with Gradebook(url) as gb:
            before = gb.find_grade(GRADE_IDS["Q1"], COURSE.notebook, COURSE.assignment, student).manual_score
        _check_race(results, items, state, before)
        with open_store() as s:  # an edit re-scores on the server database too
            winner = state.applied[0]
            change = {"points": 0.5} if ITEMS[winner].points is not None else {"score": 0.5}
            # Who is what the TA typed: any length, cut to the column's 200 characters (PostgreSQL enforces it).
            assert s.edit_item("Q1", winner, change, "ana " * 2000).rescored == 1
            assert s.answers("Q1", [student])[student].by == " ".join(["ana"] * 2000)[:200]
        with Gradebook(url) as gb:
            grade = gb.find_grade(GRADE_IDS["Q1"], COURSE.notebook, COURSE.assignment, student)
            assert grade.manual_score == 0.5 and grade.needs_manual_grade is False


def test_a_tas_note_follows_the_items_comments_and_is_compared_and_set(out):
    with store(out) as ana, store(out) as bo:
        s1 = waiting(ana)[0]
        page = seen_of(bo, [s1])
        done = ana.apply("Q1", "data", [s1], True, seen_of(ana, [s1]), "ana")
        noted = ana.set_note("Q1", s1, "See me about the second reason.", done.answers[0].version, "ana")
        assert noted.changed == [s1]
        assert nbgrader_rows(out, s1) == (1.0, f"{ITEMS['data'].comment}\nSee me about the second reason.", False)
        stale = bo.set_note("Q1", s1, "Bo's note.", page[s1], "bo")
        assert not stale.changed and stale.conflicts[0].by == "ana"
        assert "Bo's note" not in nbgrader_rows(out, s1)[1]
        assert [h["action"] for h in ana.history("Q1", s1)][:2] == ["note", "apply"]


def test_a_note_alone_is_no_grade_the_answer_keeps_waiting_or_keeps_formgraders_score(out):
    """Only items score: a TA who writes to a student first still owes the answer its grade (it is
    not a silent 0 that `n` and export skip), and a score typed in formgrader survives a note."""
    with store(out) as ana:
        s1, s2 = waiting(ana)[:2]
        noted = ana.set_note("Q1", s1, "Good start; see the rubric.", seen_of(ana, [s1])[s1], "ana")
        assert noted.changed == [s1] and s1 in waiting(ana)
        assert nbgrader_rows(out, s1) == (None, "Good start; see the rubric.", True)
        formgrader_save(out, s2, 1.5, "")
        ana.set_note("Q1", s2, "Kept your score.", seen_of(ana, [s2])[s2], "ana")
        assert nbgrader_rows(out, s2) == (1.5, "Kept your score.", False)
        done = ana.apply("Q1", "data", [s1], True, seen_of(ana, [s1]), "ana")
        assert nbgrader_rows(out, s1) == (1.0, f"{ITEMS['data'].comment}\nGood start; see the rubric.", False)
        ana.apply("Q1", "data", [s1], False, {s1: done.answers[0].version}, "ana")  # the last item removed
        assert nbgrader_rows(out, s1) == (None, "Good start; see the rubric.", True)


def test_the_suggested_groups_with_edits_hold_every_answer_once_as_the_class_grows(out):
    """With the real suggestion (autograder.manual.groups) of the planted class's answers."""
    from autograder.manual.groups import suggest_groups

    def suggestion(texts):
        return suggest_groups(texts, near_ratio=BOUND.runners.near_duplicate_ratio,
                              similar_threshold=BOUND.manual.similar_threshold)

    texts = {sid: PLANTED.answers["Q1"][sid].text for sid in FIRST.students}
    with store(out) as ana:
        views = ana.groups("Q1", suggestion(texts), texts)
        big = max(views, key=lambda g: len(g.students))
        assert len(big.students) >= 2
        moved = big.students[0]
        ana.move("Q1", [moved], None, suggestion(texts), texts, "ana")
        # A classmate copies the big group's answer and is graded while TAs work.
        texts["late"] = texts[big.students[1]]
        views = ana.groups("Q1", suggestion(texts), texts)
        placed = [s for g in views for s in g.students]
        assert sorted(placed) == sorted(texts)
        assert next(g for g in views if moved in g.students).students == (moved,)
        joined = next(g for g in views if "late" in g.students)
        assert set(big.students[1:]) <= set(joined.students)


def test_hostile_requests_are_refused_per_answer_and_stored_as_text(out):
    with store(out) as ana:
        s1 = waiting(ana)[0]
        who = "<img src=x onerror=alert(1)> " + "x" * 5000
        done = ana.apply("Q1", "data", [s1, "nobody", "y" * 1_000_000], True, {s1: 0, "nobody": 0}, who)
        assert done.changed == [s1]
        assert {c.student for c in done.conflicts} == {"nobody", "y" * 128}
        assert all(len(c.message) < 300 for c in done.conflicts)
        state = ana.answers("Q1", [s1])[s1]
        assert state.by.startswith("<img src=x onerror=alert(1)> x") and len(state.by) == 200
        with pytest.raises(BadRequest, match="at most 10,000"):
            ana.set_note("Q1", s1, "n" * 10_001, state.version, "ana")


def test_a_page_reading_while_another_ta_writes_never_sees_a_change_made_outside(out):
    """Read without locks, nbgrader's row and ours can straddle a commit; only a difference that
    holds under the rows' locks is formgrader's."""
    with store(out) as s:
        student = waiting(s)[0]
    stop = threading.Event()
    errors: list = []

    def writer():
        with store(out) as ana:
            try:
                for n in range(60):
                    version = ana.answers("Q1", [student])[student].version
                    ana.apply("Q1", "data", [student], n % 2 == 0, {student: version}, "ana")
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    with store(out) as bo:
        while not stop.is_set():
            bo.answers("Q1")
        thread.join()
        assert not errors, errors
        assert not bo.answers("Q1", [student])[student].outside
        assert "changed outside" not in [h["action"] for h in bo.history("Q1", student)]


def test_the_page_away_from_the_course_folder_still_starts_from_the_master_s_items(out):
    """formgrader started outside the course folder (or as a hub service) knows no course master:
    the grading page's items then come from OUT's own registered copy, which keeps the rubric (the
    TAs' side: a release never carries it)."""
    from autograder.manual.desk import Desk

    desk = Desk.open(out.root, None, None, master=None)
    try:
        items = desk.question("Q1")["items"]
    finally:
        desk.store.close()
    assert [i["id"] for i in items] == [i.id for i in RUBRICS["Q1"].items]
    assert [i["comment"] for i in items] == [i.comment for i in RUBRICS["Q1"].items]
