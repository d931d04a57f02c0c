"""A course changes its master and its settings: each command follows the release, or says why not.

The whole chain for an honest student is walked in tests/matrix; here, the one-line refusals a
course meets when its changes do not fit together, and the rules each command follows, without
running a notebook.
"""
from __future__ import annotations

import shutil

import nbformat
import pytest
from notebooks import REPO

from alexnet_core.contract import grade_id
from alexnet_core.profiles import PROFILE_ENV, RECIPES, active_profile, use_release_recipe, use_student_id
from alexnet_core.selfcheck import check_notebook
from autograder.cli import main
from autograder.config import load_config
from autograder.course import CourseFolder


@pytest.fixture
def course_root(tmp_path, monkeypatch):
    """A course folder of its own (a copy of the lab's source/), with nobody naming a profile."""
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    shutil.copytree(REPO / "source" / "alexnet", tmp_path / "source" / "alexnet",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _edit_master(root, edit):
    master = root / "source" / "alexnet" / "alexnet.ipynb"
    nb = nbformat.read(str(master), as_version=4)
    edit(nb)
    nbformat.write(nb, str(master))


def _add_q5(nb):
    answer = nbformat.from_dict(nbformat.v4.new_markdown_cell("YOUR ANSWER HERE"))
    answer.metadata.nbgrader = {"grade": True, "solution": True, "locked": False, "task": False,
                                "grade_id": "answer_q5", "schema_version": 3}
    answer.metadata.alexnet_lab = {"question": "Q5"}
    nb.cells.insert(-1, answer)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_a_question_added_to_the_master_needs_points(course_root, capsys):
    _edit_master(course_root, _add_q5)
    assert main(["--course", str(course_root), "release"]) == 2
    err = _one_line_error(capsys)
    assert "Q5" in err and "[points.questions]" in err and "alexnet.ipynb" in err
    (course_root / "alexnet-lab.toml").write_text("[points.questions]\nQ5 = 2\n")
    assert main(["--course", str(course_root), "release", "--variant", "local"]) == 0
    stamp = nbformat.read(str(CourseFolder(course_root, load_config(None, course_root).config.course)
                              .release_notebook("local")), 4).metadata.alexnet_lab
    assert stamp["questions"][-1] == "Q5"


def test_points_for_a_question_the_master_does_not_ask_are_refused(course_root, capsys):
    (course_root / "alexnet-lab.toml").write_text("[points.questions]\nQ7 = 1\n")
    assert main(["--course", str(course_root), "release"]) == 2
    err = _one_line_error(capsys)
    assert "points.questions.Q7" in err and "not a question of the master" in err
    (course_root / "alexnet-lab.toml").write_text("[points.min_answer_chars_per_question]\nQ9 = 1\n")
    assert main(["--course", str(course_root), "release"]) == 2
    assert "points.min_answer_chars_per_question.Q9" in _one_line_error(capsys)


def test_a_removed_question_needs_no_setting(course_root):
    _edit_master(course_root, lambda nb: setattr(nb, "cells", [
        c for c in nb.cells if grade_id(c) not in ("question_q4b", "answer_q4b")]))
    assert main(["--course", str(course_root), "release", "--variant", "local"]) == 0
    release = course_root / "release" / "local" / "alexnet" / "alexnet.ipynb"
    nb = nbformat.read(str(release), 4)
    assert "Q4b" not in nb.metadata.alexnet_lab["questions"]
    # The intro counts the questions the master asks, and the points they are worth.
    intro = next(c.source for c in nb.cells if c.get("id") == "intro")
    assert "The 6 questions are worth 8 points" in intro


def test_grade_follows_the_release_and_refuses_settings_changed_since(course_root, tmp_path, capsys):
    cli = ["--course", str(course_root)]
    assert main([*cli, "release", "--variant", "local", "--profile", "smoke"]) == 0
    (course_root / "alexnet-lab.toml").write_text("[profiles.smoke]\nepochs = 4\n")
    assert main([*cli, "grade", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = _one_line_error(capsys)
    assert "release/local/alexnet/alexnet.ipynb" in err and "epochs 5" in err and "epochs 4" in err
    assert "alexnet-lab release" in err
    # Releases of two variants with different profiles: the TA must say which one is graded.
    (course_root / "alexnet-lab.toml").write_text("")
    assert main([*cli, "release", "--variant", "colab", "--profile", "full"]) == 0
    assert main([*cli, "grade", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "--profile" in _one_line_error(capsys)


def test_the_student_check_follows_the_questions_the_release_asks(course_root, tmp_path, capsys):
    (course_root / "alexnet-lab.toml").write_text("[points.questions]\nQ5 = 2\n")
    _edit_master(course_root, _add_q5)
    assert main(["--course", str(course_root), "release", "--variant", "local", "--profile", "smoke"]) == 0
    nb = nbformat.read(str(course_root / "release" / "local" / "alexnet" / "alexnet.ipynb"), 4)
    for cell in nb.cells:
        if (cell.metadata.get("alexnet_lab") or {}).get("question") not in (None, "Q5"):
            cell.source = "An answer of my own, long enough to count."
    path = tmp_path / "mine.ipynb"
    nbformat.write(nb, str(path))
    # The student has no course file: the check reads the release's own list of questions.
    report = check_notebook(path)
    assert any(p.startswith("Unanswered: Q5 ") for p in report.problems), report.problems


def test_the_notebook_trains_the_release_recipe_unless_told_otherwise(monkeypatch):
    stamped = {**RECIPES["smoke"].__dict__, "epochs": 4, "lr": 0.02}
    try:
        recipe = use_student_id("s1234567", course_salt="salt", recipe=stamped)
        assert (recipe.name, recipe.epochs, recipe.lr) == ("smoke", 4, 0.02)
        # $ALEXNET_LAB_PROFILE naming the same profile keeps the course's settings of it ...
        monkeypatch.setenv(PROFILE_ENV, "smoke")
        assert active_profile().epochs == 4
        # ... naming another is telling the kernel otherwise: the library's own recipe of that name.
        monkeypatch.setenv(PROFILE_ENV, "full")
        assert active_profile().epochs == RECIPES["full"].epochs
        monkeypatch.delenv(PROFILE_ENV)
        # A stamp that is not a recipe is ignored: the notebook runs as an unstamped one would.
        assert use_student_id("s1234567", course_salt="salt", recipe={"epochs": "four"}).name == "full"
    finally:
        use_release_recipe(None)
        use_student_id("", course_salt="salt", per_student=False)
