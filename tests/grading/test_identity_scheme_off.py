"""A course that switches per-student seeds off runs today's fixed seed: the release says so, the
check asks for no id, the grader runs the profile's seed and reads no id."""
import dataclasses

import nbformat
import notebooks
import pytest

from autograder.authoring.release import register
from autograder.authoring.render import render_master
from autograder.config import select_profile
from autograder.course import NbgraderRoot
from autograder.demo.sample_class import type_id
from autograder.submission.sanitise import prepare


@pytest.fixture(scope="module")
def off(config):
    return dataclasses.replace(config, identity=dataclasses.replace(config.identity, per_student_seeds=False))


def test_the_release_of_a_fixed_seed_course_says_so(off, course):
    nb = render_master("local", select_profile(off, "smoke"), master=course.master, config=off)
    assert nb.metadata.alexnet_lab["per_student_seeds"] is False
    assert "per_student=False" in notebooks.cell_by_id(nb, "imports").source
    assert "everyone trains with the same fixed seed" in notebooks.cell_by_id(nb, "student_id_text").source


def test_the_grader_runs_the_fixed_seed_and_ignores_the_typed_id(off, course, smoke, tmp_path):
    root = tmp_path / "course"
    register(root, course.master, off, profile=select_profile(off, "smoke"))
    nb = type_id(notebooks.answer_all(nbformat.read(str(notebooks.release_path()), as_version=4)), "someone-else")
    path = tmp_path / "ada.ipynb"
    nbformat.write(nb, str(path))
    prepared = prepare("ada", path, NbgraderRoot(root, off.course), course.master, smoke, off)
    assert prepared.identity["seed"] == smoke.seed
    assert not any("student id" in f for f in prepared.flags), prepared.flags
    ran = nbformat.reads(prepared.notebook, as_version=4)
    assert "someone-else" not in notebooks.cell_by_id(ran, "student_id").source
