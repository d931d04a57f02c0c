"""The committed student release: questions, answer cells, locks, and nothing instructor-only."""
import json

import nbformat

from alexnet_core.profiles import recipe_fields
import pytest

import notebooks
from autograder.authoring.render import rubric_notes

from notebooks import CONFIG

from autograder.course import CourseFolder


@pytest.fixture(scope="module")
def release():
    return nbformat.read(str(notebooks.release_path()), as_version=4)


def test_release_is_a_valid_notebook_of_the_default_variant(release):
    nbformat.validate(release)
    assert release.metadata["alexnet_lab"] == {
        "assignment": CONFIG.course.assignment, "variant": CONFIG.course.default_variant,
        "profile": CONFIG.course.default_profile, "min_answer_chars": CONFIG.points.min_answer_chars,
        "submission_mb": CONFIG.limits.submission_mb, "per_student_seeds": CONFIG.identity.per_student_seeds,
        "recipe": recipe_fields(CONFIG.profiles[CONFIG.course.default_profile]),
        "questions": list(CONFIG.points.questions),
        "min_answer_chars_per_question": CONFIG.points.min_answer_chars_per_question}
    assert all(not c.get("outputs") for c in release.cells if c.cell_type == "code")


def test_every_question_is_followed_by_its_answer_cell(release):
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in release.cells]
    for label, points in CONFIG.points.questions.items():
        q, a = f"question_{label.lower()}", f"answer_{label.lower()}"
        assert ids.index(a) == ids.index(q) + 1, label
        question, answer = release.cells[ids.index(q)], release.cells[ids.index(a)]
        assert f"[{label}]" in question.source and question.metadata.nbgrader.locked
        assert answer.cell_type == "markdown" and answer.source == "YOUR ANSWER HERE"
        assert answer.metadata.nbgrader.grade and answer.metadata.nbgrader.solution
        assert answer.metadata.nbgrader.points == points
        assert answer.metadata.alexnet_lab == {"question": label}


def test_every_code_cell_is_locked_but_the_student_id(release):
    for cell in release.cells:
        if cell.cell_type == "code" and cell.metadata.nbgrader["grade_id"] != "student_id":
            nbg = cell.metadata.nbgrader
            assert nbg["locked"] and cell.metadata.editable is False and cell.metadata.deletable is False, nbg
    id_cell = notebooks.cell_by_id(release, "student_id")
    assert id_cell.metadata.deletable is False and id_cell.metadata.get("editable", True)


def test_no_rubric_or_hidden_test_reaches_students(release):
    text = json.dumps(release)
    assert "HIDDEN TESTS" not in text and "rubric" not in text
    for hidden in notebooks.hidden_tests().values():
        for line in hidden.splitlines():
            if len(line.strip()) > 12:
                assert line.strip() not in text
    for note in rubric_notes(CourseFolder(notebooks.REPO, CONFIG.course).master).values():
        assert note[:60] not in text


def test_automatic_checks_are_locked_grade_cells_with_points(release):
    p = CONFIG.points
    for grade_id, points in (("check_trajectory", p.trajectory), ("check_evidence", p.evidence),
                             ("check_kernels", p.kernel_plots)):
        cell = notebooks.cell_by_id(release, grade_id)
        assert cell.metadata.nbgrader.grade and cell.metadata.nbgrader.locked
        assert cell.metadata.nbgrader.points == points
        assert "Checked after submission" in cell.source
