"""Property: when the student's check says READY, the grader takes the notebook and grades every answer
the check counted; and whatever a file holds, the grader either prepares it or refuses it in one line.

Hypothesis mutates an executed, answered release notebook (as JSON: anything a hand edit or another
tool could leave) and runs the check (`check_node`) and the grader's preparation (read_submission +
sanitise.prepare, everything but the re-execution). Derandomized and without an example database, so a
CI run tries the same notebooks every time.
"""
import copy
import json

import nbformat
import notebooks
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from notebooks import CONFIG, REPO

from alexnet_core.contract import PLACEHOLDER, QUESTIONS, answer_cell
from alexnet_core.selfcheck import check_node
from autograder.course import NbgraderRoot
from autograder.errors import SubmissionError
from autograder.submission.sanitise import prepare

MASTER = REPO / "source" / "alexnet" / "alexnet.ipynb"
JUNK = [None, 0, -1, 2.5, True, "", "x", "bad id!", [], ["a", 1], {}, {"grade_id": 3}, {"grade_id": "mine"}]
TEXTS = ["", " ", PLACEHOLDER, "short", PLACEHOLDER + "\nMy own words, long enough to count as an answer.",
         "An answer written in a student's own words, long enough.", ["A list ", "of lines that is long enough."]]


class Saved(str):
    """A notebook's JSON text, shown by a short name when hypothesis reports a failing example."""

    def __repr__(self):
        return "<the executed, answered release>"


@pytest.fixture(scope="module")
def answered_json(student_run) -> Saved:
    """The executed release with every question answered, as the JSON text a student saves."""
    return Saved(nbformat.writes(notebooks.answer_all(copy.deepcopy(student_run))))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("property")


# ---------------------------------------------------------------- mutations of the notebook's JSON

def _index(nb, target) -> int:
    """A target is a position (any integer, wrapped) or a question label: its answer cell, where one is."""
    cells = nb["cells"]
    if isinstance(target, str):
        return next((n for n, c in enumerate(cells) if c is _answer(nb, target)), 0)
    return target % len(cells)


def _cell(nb, i):
    cells = nb.get("cells")
    return cells[_index(nb, i)] if isinstance(cells, list) and cells else None


def _answer(nb, label):
    for cell in nb.get("cells") or []:
        if isinstance(cell, dict) and ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id") == answer_cell(label):
            return cell
    return None


def drop_cell(nb, i):
    if nb["cells"]:
        del nb["cells"][_index(nb, i)]


def duplicate_cell(nb, i, text, before):
    """A copy of a cell (Jupyter gives it a fresh id), placed before or after it, with other text."""
    cells = nb["cells"]
    if cells:
        at = _index(nb, i)
        copy_ = copy.deepcopy(cells[at])
        if isinstance(copy_, dict):
            copy_["id"] = f"copy-{len(cells)}"
            if text is not None:
                copy_["source"] = text
        cells.insert(at if before else at + 1, copy_)


def move_cell(nb, i, j):
    cells = nb["cells"]
    if cells:
        cells.insert(_index(nb, j), cells.pop(_index(nb, i)))


def delete_metadata(nb, i, key):
    cell = _cell(nb, i)
    if isinstance(cell, dict):
        if key == "metadata":
            cell.pop("metadata", None)
        elif isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop(key, None)


def corrupt_metadata(nb, i, key, value):
    cell = _cell(nb, i)
    if isinstance(cell, dict):
        if key == "metadata":
            cell["metadata"] = value
        elif isinstance(cell.get("metadata"), dict):
            cell["metadata"][key] = value


def corrupt_nbgrader(nb, i, key, value):
    cell = _cell(nb, i)
    nbg = cell.get("metadata", {}).get("nbgrader") if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict) else None
    if isinstance(nbg, dict):
        nbg[key] = value


def set_version(nb, key, value):
    if value == "missing":
        nb.pop(key, None)
    else:
        nb[key] = value


def remove_source(nb, i):
    cell = _cell(nb, i)
    if isinstance(cell, dict):
        cell.pop("source", None)


def set_source(nb, i, value):
    cell = _cell(nb, i)
    if isinstance(cell, dict):
        cell["source"] = value


def set_cell_type(nb, i, value):
    cell = _cell(nb, i)
    if isinstance(cell, dict):
        if value == "missing":
            cell.pop("cell_type", None)
        else:
            cell["cell_type"] = value


def answer_text(nb, label, text):
    cell = _answer(nb, label)
    if cell is not None:
        cell["source"] = text


def strip_answer_metadata(nb, label, how):
    cell = _answer(nb, label)
    if cell is None:
        return
    if how == "nbgrader":
        del cell["metadata"]["nbgrader"]
    elif how == "all":
        cell["metadata"] = {}
    elif how == "null":
        cell["metadata"]["nbgrader"] = None
    else:
        del cell["metadata"]["nbgrader"]["grade_id"]


def add_cell(nb, i, cell_type, text):
    cell = {"cell_type": cell_type, "metadata": {}, "source": text}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    nb["cells"].insert(_index(nb, i) if nb["cells"] else 0, cell)


def set_id(nb, i, value):
    cell = _cell(nb, i)
    if isinstance(cell, dict):
        other = _cell(nb, _index(nb, i) + 1)
        cell["id"] = other.get("id") if value == "twin" and isinstance(other, dict) else value


def corrupt_stamp(nb, key, value):
    stamp = nb.get("metadata", {}).get("alexnet_lab")
    if isinstance(stamp, dict) and key != "assignment":  # another assignment is refused by design
        stamp[key] = value


def corrupt_outputs(nb, i, value):
    cell = _cell(nb, i)
    if isinstance(cell, dict) and cell.get("cell_type") == "code":
        cell["outputs"] = value if not isinstance(value, list) else [value, *cell.get("outputs", [])]


indices = st.one_of(st.integers(0, 200), st.sampled_from(QUESTIONS))  # anywhere, or an answer cell
junk = st.sampled_from(JUNK)
labels = st.sampled_from(QUESTIONS)
texts = st.sampled_from(TEXTS)
mutations = st.one_of(
    st.tuples(st.just(drop_cell), indices),
    st.tuples(st.just(duplicate_cell), indices, st.sampled_from([None, PLACEHOLDER, "", "too short"]), st.booleans()),
    st.tuples(st.just(move_cell), indices, indices),
    st.tuples(st.just(delete_metadata), indices, st.sampled_from(["metadata", "nbgrader", "alexnet_lab", "tags"])),
    st.tuples(st.just(corrupt_metadata), indices, st.sampled_from(["metadata", "nbgrader", "alexnet_lab", "tags",
                                                                   "editable", "scrolled"]), junk),
    st.tuples(st.just(corrupt_nbgrader), indices, st.sampled_from(["grade_id", "solution", "grade", "locked",
                                                                   "points", "schema_version"]), junk),
    st.tuples(st.just(set_version), st.sampled_from(["nbformat", "nbformat_minor"]),
              st.sampled_from([3, 4, 5, 99, "4", 4.0, None, "missing", -1, 0])),
    st.tuples(st.just(remove_source), indices),
    st.tuples(st.just(set_source), indices, st.one_of(junk, texts)),
    st.tuples(st.just(set_cell_type), indices, st.sampled_from(["code", "markdown", "raw", "heading", "missing", None, 7])),
    st.tuples(st.just(answer_text), labels, texts),
    st.tuples(st.just(strip_answer_metadata), labels, st.sampled_from(["nbgrader", "all", "null", "grade_id"])),
    st.tuples(st.just(add_cell), indices, st.sampled_from(["code", "markdown", "raw"]), texts),
    st.tuples(st.just(set_id), indices, st.sampled_from(["twin", "", "bad id!", 7, None, "x" * 80, "fine-id"])),
    st.tuples(st.just(corrupt_stamp), st.sampled_from(["profile", "variant", "min_answer_chars", "submission_mb"]), junk),
    st.tuples(st.just(corrupt_outputs), indices, junk),
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=st.lists(mutations, min_size=1, max_size=4))
def test_ready_means_the_grader_takes_it_and_grades_every_answer_counted(answered_json, folder, course_root, smoke,
                                                                          steps):
    nb = json.loads(answered_json)
    for mutate, *args in steps:
        mutate(nb, *args)
    report = check_node(copy.deepcopy(nb))
    path = folder / "student.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    try:
        prepared = prepare("student", path, NbgraderRoot(course_root, CONFIG.course), MASTER, smoke, CONFIG)
    except SubmissionError as refused:  # the only way the grader may say no: one line, naming the file
        assert not report.ready, f"check said READY, grader refused: {refused}\n{report.text()}"
        assert str(refused).startswith("student.ipynb") and "\n" not in str(refused)
        return
    counted = len(QUESTIONS) - len(report.unanswered)
    graded = sum(a.answered for a in prepared.answers)
    if report.ready:
        assert graded >= counted, f"check counted {counted} answered, the grader {graded}\n{report.text()}"
