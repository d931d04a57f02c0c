"""The structured rubric in the master: its rules, refused by `alexnet-lab release` in one line
naming the cell, never reaching the release, and the one scoring rule the store and the page use."""
from __future__ import annotations

import json
import shutil

import nbformat
import pytest
from notebooks import CONFIG, REPO

from alexnet_core.profiles import PROFILE_ENV
from autograder.authoring.render import rubric_notes
from autograder.cli import main
from autograder.manual.rubric import RubricItem, comment_of, read_rubrics, score_of

MASTER = REPO / "source" / "alexnet" / "alexnet.ipynb"


@pytest.fixture
def course_root(tmp_path, monkeypatch):
    """A course of its own: a copy of the lab's source/."""
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    shutil.copytree(REPO / "source" / "alexnet", tmp_path / "source" / "alexnet",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _set_rubric(root, label, value, on_cell=None):
    """Give question `label`'s answer cell (or the cell with grade id `on_cell`) this rubric."""
    master = root / "source" / "alexnet" / "alexnet.ipynb"
    nb = nbformat.read(str(master), as_version=4)
    for cell in nb.cells:
        lab = cell.metadata.get("alexnet_lab", {})
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if (on_cell is None and lab.get("question") == label) or (on_cell is not None and gid == on_cell):
            cell.metadata.setdefault("alexnet_lab", {})["rubric"] = value
    nbformat.write(nb, str(master))


def _item(item_id="ok", **fields):
    return {"id": item_id, "title": "A title", "comment": "A comment.", **fields}


BROKEN = [
    # (rubric of Q1, whose points are 2; what the one line must say)
    ({"items": [_item("a", points=1), _item("a", points=1)]}, "repeats the id"),
    ({"items": [_item(points=1, title="  ")]}, "no title"),
    ({"items": [_item(points=1, score=1)]}, "exactly one of"),
    ({"items": [_item()]}, "exactly one of"),
    ({"items": [_item(score=2.5)]}, "outside 0..2"),
    ({"items": [_item(score=-1)]}, "outside 0..2"),
    ({"items": [_item(points=-3)]}, "outside -2..+2"),
    ({"items": [_item(points="1")]}, "not a number"),
    ({"items": [_item("has space", points=1)]}, "short id"),
    ({"items": [_item(points=1, weight=2)]}, "unknown key"),
    ({"notes": "x", "item": []}, "unknown key"),
    (["not", "a", "rubric"], "must be text"),
]


@pytest.mark.parametrize("rubric,says", BROKEN, ids=[s for _, s in BROKEN])
def test_release_refuses_a_broken_rubric_in_one_line_naming_the_cell(course_root, capsys, rubric, says):
    _set_rubric(course_root, "Q1", rubric)
    assert main(["--course", str(course_root), "release", "--variant", "local"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "alexnet.ipynb" in err and "answer_q1" in err and "question Q1" in err and says in err, err
    assert not (course_root / "release").exists()  # nothing built


def test_items_only_on_answer_cells(course_root, capsys):
    _set_rubric(course_root, None, {"items": [_item(points=1)]}, on_cell="question_q1")
    assert main(["--course", str(course_root), "release", "--variant", "local"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "question_q1" in err and "no answer cell" in err, err


def test_the_maximum_is_the_configs_points(course_root, capsys):
    """Q1 worth 3 in the course's settings: a fixed score of 3 is valid, 3.5 is not."""
    (course_root / "alexnet-lab.toml").write_text("[points.questions]\nQ1 = 3\n")
    _set_rubric(course_root, "Q1", {"items": [_item(score=3.5)]})
    assert main(["--course", str(course_root), "release", "--variant", "local"]) == 2
    assert "outside 0..3" in capsys.readouterr().err
    _set_rubric(course_root, "Q1", {"items": [_item(score=3)]})
    assert main(["--course", str(course_root), "release", "--variant", "local"]) == 0


def test_the_release_carries_no_rubric_items_or_notes(course_root):
    """The lab's own master, items and notes, through a real release: none of it reaches students."""
    assert main(["--course", str(course_root), "release", "--variant", "local"]) == 0
    released = (course_root / "release" / "local" / "alexnet" / "alexnet.ipynb").read_text(encoding="utf-8")
    assert '"rubric"' not in released
    rubrics = read_rubrics(MASTER, CONFIG.points.questions)
    texts = [r.notes for r in rubrics.values()] + [t for r in rubrics.values() for i in r.items
                                                   for t in (i.title, i.comment)]
    assert texts
    for text in texts:
        assert json.dumps(text)[1:-1] not in released, text


def test_a_plain_string_rubric_is_notes_only(course_root):
    """A course whose master predates items releases as before; the reports show its notes."""
    _set_rubric(course_root, "Q2", "Two points for shared patterns and kernels.")
    master = course_root / "source" / "alexnet" / "alexnet.ipynb"
    rubric = read_rubrics(master, CONFIG.points.questions)["Q2"]
    assert rubric.items == () and rubric.notes.startswith("Two points")
    assert rubric_notes(master)["Q2"] == "Two points for shared patterns and kernels."
    assert main(["--course", str(course_root), "release", "--variant", "local"]) == 0


def test_the_labs_master_has_items_for_every_question_and_keeps_the_notes():
    rubrics = read_rubrics(MASTER, CONFIG.points.questions)
    assert list(rubrics) == list(CONFIG.points.questions)
    notes = rubric_notes(MASTER)
    for label, rubric in rubrics.items():
        assert rubric.max_points == CONFIG.points.questions[label]
        assert len(rubric.items) >= 2, label
        assert rubric.notes and notes[label] == rubric.notes  # report.py's question pages show these
        # Every question can be given full marks and 0 with its own items.
        best = [i for i in rubric.items if (i.points or 0) > 0 or i.score == rubric.max_points]
        worst = [i for i in rubric.items if i.score == 0]
        fixed_best = [i for i in best if i.score is not None]
        full = score_of(rubric.max_points, fixed_best[:1] or [i for i in best if i.points])
        assert full == rubric.max_points, label
        assert worst and score_of(rubric.max_points, worst[:1]) == 0, label


def _d(points, item_id=None, comment=""):
    return RubricItem(item_id or f"d{points}", "t", float(points), None, comment)


def _f(score, item_id=None, comment=""):
    return RubricItem(item_id or f"f{score}", "t", None, float(score), comment)


@pytest.mark.parametrize("applied,expected", [
    ([], 0.0),                             # nothing applied: nothing earned
    ([_d(1)], 1.0),                        # credit adds from 0
    ([_d(1, "a"), _d(1, "b")], 2.0),
    ([_d(1, "a"), _d(1, "b"), _d(1, "c")], 2.0),   # capped at the question's points
    ([_d(-0.5)], 1.5),                     # deductions only: from full marks
    ([_d(-1, "a"), _d(-1.5, "b")], 0.0),   # never below 0
    ([_d(1), _d(-0.5)], 0.5),              # credit and a deduction: from 0
    ([_f(1.5)], 1.5),
    ([_f(1.5), _d(-1)], 0.5),              # a fixed score, then its deltas
    ([_f(2), _d(1)], 2.0),
    ([_d(0.1, "a"), _d(0.2, "b")], 0.3),  # no 0.30000000000000004
])
def test_the_scoring_rule(applied, expected):
    assert score_of(2.0, applied) == expected


def test_two_fixed_scores_are_refused_and_comments_keep_the_rubric_order():
    with pytest.raises(ValueError, match="at most one fixed"):
        score_of(2.0, [_f(1, "a"), _f(2, "b")])
    assert comment_of([_d(1, "a", "First."), _d(1, "b", ""), _f(1, "c", " Third. ")], "  my note ") == \
        "First.\nThird.\nmy note"
