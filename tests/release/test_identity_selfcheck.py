"""The student id in the release, as the student's check (`alexnet-lab check`) judges it."""
import nbformat
import notebooks
from notebooks import CONFIG

from alexnet_core.contract import TRAJECTORY_MIME
from alexnet_core.identity import ID_CELL, derive_seed
from alexnet_core.selfcheck import Expectations, check_node, check_notebook
from autograder.demo.sample_class import type_id


def _id_problems(report) -> list[str]:
    return [p for p in report.problems if "Student id" in p or "student id" in p]


def test_the_release_asks_for_the_id_near_the_top_in_the_only_editable_code_cell():
    nb = nbformat.read(str(notebooks.release_path()), as_version=4)
    editable = [c for c in nb.cells if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("locked")]
    assert [c.metadata.nbgrader.grade_id for c in editable] == [ID_CELL]
    position = nb.cells.index(editable[0])
    imports = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "imports")
    assert position < imports and position < 6
    assert editable[0].source.splitlines()[-1].startswith('STUDENT_ID = ""')
    assert nb.metadata.alexnet_lab["per_student_seeds"] is True


def test_an_empty_id_is_refused_by_the_check_and_a_filled_in_one_passes(tmp_path):
    nb = nbformat.read(str(notebooks.release_path()), as_version=4)
    report = check_node(nb, "alexnet.ipynb", Expectations.from_notebook(nb))
    assert not report.ready
    assert any("the student id is empty" in p for p in _id_problems(report)), report.text()
    assert "the student id is empty" in report.text()

    path = tmp_path / "mine.ipynb"
    nbformat.write(type_id(nb, "s1234567"), str(path))
    report = check_notebook(path)
    assert _id_problems(report) == [] and "Student id filled in: s1234567." in report.passed


def test_a_placeholder_id_is_refused_and_the_hub_login_name_fills_an_empty_one(monkeypatch):
    nb = nbformat.read(str(notebooks.release_path()), as_version=4)
    report = check_node(type_id(nb, "your student id"), "alexnet.ipynb")
    assert any("placeholder" in p for p in _id_problems(report)), report.text()
    monkeypatch.setenv("JUPYTERHUB_USER", "s7654321")
    report = check_node(nb, "alexnet.ipynb")
    assert _id_problems(report) == [] and "Student id filled in: s7654321." in report.passed


def test_a_course_without_per_student_seeds_does_not_ask_for_an_id():
    nb = nbformat.read(str(notebooks.release_path()), as_version=4)
    nb.metadata.alexnet_lab["per_student_seeds"] = False
    assert _id_problems(check_node(nb, "alexnet.ipynb")) == []


def test_outputs_made_before_the_id_was_typed_are_pointed_out(executed_nb):
    # The shared run left the id cell empty (the fixed seed); typing an id afterwards does not make it yours.
    late = type_id(executed_nb, "s1234567")
    report = check_node(late, "alexnet.ipynb")
    assert any("made with seed 42, but your id gives seed" in n and "again from the top" in n for n in report.notes)
    record = next(o["data"][TRAJECTORY_MIME] for o in notebooks.cell_by_id(late, "train").outputs
                  if TRAJECTORY_MIME in o.get("data", {}))
    record["seed"] = derive_seed(CONFIG.identity.salt, "s1234567")  # as a run with this id records it
    assert not any("made with seed" in n for n in check_node(late, "alexnet.ipynb").notes)
