"""The student's check and the grader read a notebook by the same contract, so "ready" means graded.

Each test here is a fact that once had two copies that drifted apart: the student was told one
thing and the grader did another.
"""
import copy
import dataclasses
import json

import nbformat
import notebooks
import pytest
from notebooks import CONFIG, REPO

from alexnet_core.contract import MB, PLOT_MIME, TRAJECTORY_MIME
from alexnet_core.selfcheck import Expectations, check_node, check_notebook
from autograder.course import NbgraderRoot
from autograder.errors import SubmissionError
from autograder.submission.evidence import extract_evidence
from autograder.submission.sanitise import prepare

MASTER = REPO / "source" / "alexnet" / "alexnet.ipynb"


def _record_as_text(nb):
    """The training record stored as JSON text, as some notebook writers save JSON MIME data."""
    nb = copy.deepcopy(nb)
    for out in notebooks.cell_by_id(nb, "train").outputs:
        if TRAJECTORY_MIME in out.get("data", {}):
            out["data"][TRAJECTORY_MIME] = json.dumps(out["data"][TRAJECTORY_MIME])
    return nb


def test_a_training_record_saved_as_text_is_evidence_for_the_grader_too(student_run):
    nb = _record_as_text(notebooks.answer_all(student_run))
    shown = notebooks.cell_by_id(student_run, "train").outputs
    accuracy = next(o["data"][TRAJECTORY_MIME]["accuracy"] for o in shown if TRAJECTORY_MIME in o.get("data", {}))
    report = check_node(nb)
    assert report.ready, report.text()
    # The grader must find the same record: otherwise the student loses the evidence point.
    assert extract_evidence(nb)["trajectory"]["accuracy"] == accuracy


def _padded_to(nb, size: int, path):
    """`nb` written to `path` with a stream output that makes the file exactly `size` bytes."""
    nb = copy.deepcopy(nb)
    cell = notebooks.cell_by_id(nb, "pixels")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="")]
    nbformat.write(nb, str(path))
    while path.stat().st_size != size:  # the padding's own JSON shifts the size a little: converge
        text = cell.outputs[0]["text"]
        cell.outputs[0]["text"] = "x" * (len(text) + size - path.stat().st_size)
        nbformat.write(nb, str(path))
    assert path.stat().st_size == size
    return path


@pytest.mark.parametrize("size, accepted", [
    (1_030_000, True),     # over 10^6 bytes, under 1 MiB: once refused by the check, graded by the grader
    (MB + 10_000, False),  # over 1 MiB: refused by both
])
def test_the_size_limit_is_the_same_number_for_the_student_and_the_grader(
        tmp_path, course_root, smoke, release_nb, size, accepted):
    path = _padded_to(release_nb, size, tmp_path / "big.ipynb")
    report = check_notebook(path, Expectations(submission_mb=1.0))
    config = dataclasses.replace(CONFIG, limits=dataclasses.replace(CONFIG.limits, submission_mb=1.0))
    if accepted:
        assert report.fatal is None
        prepare("big", path, NbgraderRoot(course_root, config.course), MASTER, smoke, config)
    else:
        assert "more than the 1 MB accepted" in report.fatal
        with pytest.raises(SubmissionError, match="over the 1 MB limit"):
            prepare("big", path, NbgraderRoot(course_root, config.course), MASTER, smoke, config)


def test_a_duplicated_answer_cell_is_read_where_the_grader_reads_it(student_run, course_root, smoke, tmp_path):
    # The student copies the Q1 cell and writes the answer in the first copy only: nbgrader keeps
    # the last copy's id, so the answer is not graded, and the check must not call it ready.
    nb = notebooks.answer_all(student_run)
    q1 = notebooks.cell_by_id(nb, "answer_q1")
    blank = copy.deepcopy(q1)
    blank.source, blank.id = "YOUR ANSWER HERE", "answer-q1-copy"
    nb.cells.insert(nb.cells.index(q1) + 1, blank)
    report = check_node(nb)
    assert "Q1" in report.unanswered and not report.ready
    path = tmp_path / "dup.ipynb"
    nbformat.write(nb, str(path))
    prepared = prepare("dup", path, NbgraderRoot(course_root, CONFIG.course), MASTER, smoke, CONFIG)
    assert not next(a for a in prepared.answers if a.label == "Q1").answered


def test_kernels_drawn_before_training_are_missing_for_both(student_run):
    # A "trained kernels" picture drawn before training shows untrained weights: the grader's
    # evidence check counts no trained picture, and so must the student's check.
    nb = notebooks.answer_all(student_run)
    for out in notebooks.cell_by_id(nb, "trained_kernels").outputs:
        record = out.get("data", {}).get(PLOT_MIME)
        if record:
            record["epochs_trained"] = 0
    assert "trained" not in extract_evidence(nb)["plots"]["kernels"]
    report = check_node(nb)
    assert not report.ready and any("trained AlexNet-mini kernels" in p for p in report.problems)


def test_plot_records_typed_in_without_their_pictures_earn_nothing(student_run):
    # Evidence must be real: the three kernel records kept, their PNGs removed, as a student who
    # copied the records into an unrun notebook would hand it in.
    nb = notebooks.answer_all(student_run)
    for cell_id in ("pretrained_kernels", "untrained_kernels", "trained_kernels"):
        for out in notebooks.cell_by_id(nb, cell_id).outputs:
            out.get("data", {}).pop("image/png", None)
    assert extract_evidence(nb)["plots"]["kernels"] == {}
    report = check_node(nb)
    assert not report.ready and any("Kernel pictures missing" in p for p in report.problems)


# ---------------------------------------------------------------- one reader: each case, both sides
# Each case once made the check say READY where the grader refused the file or gave 0 for an answer.
# Now both read it with alexnet_core.structure: the same repair (a note for the student, a flag for the
# TA) or the same verdict on the answers.

def _answered_json(student_run) -> dict:
    return json.loads(nbformat.writes(notebooks.answer_all(student_run)))


def _cell_json(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _both(nb: dict, tmp_path, course_root, smoke):
    """(the check's report, the grader's prepared submission) for the same file."""
    path = tmp_path / "case.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    report = check_notebook(path)
    prepared = prepare("case", path, NbgraderRoot(course_root, CONFIG.course), MASTER, smoke, CONFIG)
    return report, prepared


def _version(value, minor=None):
    def mutate(nb):
        if value == "missing":
            del nb["nbformat"]
        else:
            nb["nbformat"] = value
        if minor is not None:
            nb["nbformat_minor"] = minor
    return mutate


def _no_source(grade_id):
    return lambda nb: _cell_json(nb, grade_id).pop("source")


def _cell_type(grade_id, kind):
    def mutate(nb):
        _cell_json(nb, grade_id)["cell_type"] = kind
    return mutate


REPAIRED = {
    "nbformat 5": (_version(5), "declared nbformat 5"),
    "nbformat 4.99": (_version(4, 99), "minor 99"),
    "nbformat missing": (_version("missing"), "declared nbformat missing"),
    "nbformat a string": (_version("4"), 'declared nbformat "4"'),
    "nbformat null": (_version(None), "declared nbformat null"),
    "a markdown cell with no source": (_no_source("question_q2"), "its source was missing"),
    "a code cell with no source": (_no_source("architecture"), "its source was missing"),
    "an unknown cell type (text)": (_cell_type("training_text", "heading"), 'cell type "heading"; read as a markdown'),
    "an unknown cell type (with outputs)": (_cell_type("pixels", "python"), 'cell type "python"; read as a code'),
    "no cell type": (lambda nb: _cell_json(nb, "conclusion").pop("cell_type"), "cell type null"),
}


@pytest.mark.parametrize("case", REPAIRED)
def test_what_the_grader_repairs_the_check_repairs_the_same_way(student_run, course_root, smoke, tmp_path, case):
    mutate, words = REPAIRED[case]
    nb = _answered_json(student_run)
    mutate(nb)
    report, prepared = _both(nb, tmp_path, course_root, smoke)
    assert report.ready, report.text()
    assert any(words in note for note in report.notes), report.notes
    assert any(words in flag for flag in prepared.flags), prepared.flags
    assert all(a.answered for a in prepared.answers)


@pytest.mark.parametrize("copy_text, place", [("YOUR ANSWER HERE", "after"), ("", "after"), ("  YOUR ANSWER HERE \n", "after"),
                                              ("YOUR ANSWER HERE", "at the end")])
def test_a_duplicated_answer_cell_is_graded_as_its_last_copy_for_both(student_run, course_root, smoke, tmp_path,
                                                                       copy_text, place):
    nb = _answered_json(student_run)
    q3b = _cell_json(nb, "answer_q3b")
    blank = {**copy.deepcopy(q3b), "id": "answer-q3b-copy", "source": copy_text}
    nb["cells"].insert(nb["cells"].index(q3b) + 1 if place == "after" else len(nb["cells"]), blank)
    report, prepared = _both(nb, tmp_path, course_root, smoke)
    assert not report.ready and report.unanswered == ["Q3b"]
    assert any("Q3b has 2 answer cells and only the last one is graded" in p for p in report.problems)
    assert [a.label for a in prepared.answers if not a.answered] == ["Q3b"]


def test_a_duplicated_answer_cell_whose_last_copy_is_answered_is_ready(student_run, course_root, smoke, tmp_path):
    nb = _answered_json(student_run)
    q1 = _cell_json(nb, "answer_q1")
    nb["cells"].insert(nb["cells"].index(q1), {**copy.deepcopy(q1), "id": "first", "source": "YOUR ANSWER HERE"})
    report, prepared = _both(nb, tmp_path, course_root, smoke)
    assert report.ready and any("Q1 has 2 answer cells" in n for n in report.notes)
    assert all(a.answered for a in prepared.answers)


def _strip(how):
    def mutate(nb):
        meta = _cell_json(nb, "answer_q3a")["metadata"]
        if how == "nbgrader deleted":
            del meta["nbgrader"]
        elif how == "all metadata deleted":
            meta.clear()
        elif how == "nbgrader null":
            meta["nbgrader"] = None
        elif how == "grade_id deleted":
            del meta["nbgrader"]["grade_id"]
        elif how == "grade_id a number":
            meta["nbgrader"]["grade_id"] = 7
        elif how == "metadata a list":
            cell = _cell_json(nb, "answer_q3a")
            cell["metadata"] = ["nbgrader"]
    return mutate


@pytest.mark.parametrize("how, found_by", [
    ("nbgrader deleted", "by its lab metadata"),
    ("nbgrader null", "by its lab metadata"),
    ("grade_id deleted", "by its lab metadata"),
    ("grade_id a number", "by its lab metadata"),
    ("all metadata deleted", "by its place right after the question"),
    ("metadata a list", "by its place right after the question"),
])
def test_an_answer_cell_that_lost_its_nbgrader_metadata_is_graded(student_run, course_root, smoke, tmp_path,
                                                                   how, found_by):
    nb = _answered_json(student_run)
    _strip(how)(nb)
    report, prepared = _both(nb, tmp_path, course_root, smoke)
    assert report.ready, report.text()
    assert any(f"recognised as the answer to Q3a {found_by}" in n for n in report.notes), report.notes
    assert any("recognised as the answer to Q3a" in f for f in prepared.flags), prepared.flags
    assert all(a.answered for a in prepared.answers)
    q3a = next(a for a in prepared.answers if a.label == "Q3a")
    assert "Q3a" in q3a.text or "My answer" in q3a.text


def test_an_unanswered_answer_cell_without_metadata_is_unanswered_for_both(student_run, course_root, smoke, tmp_path):
    nb = _answered_json(student_run)
    cell = _cell_json(nb, "answer_q2")
    cell["metadata"], cell["source"] = {}, "YOUR ANSWER HERE"
    report, prepared = _both(nb, tmp_path, course_root, smoke)
    assert report.unanswered == ["Q2"] and not report.ready
    assert [a.label for a in prepared.answers if not a.answered] == ["Q2"]


def test_an_answer_cell_with_no_source_is_unanswered_for_both(student_run, course_root, smoke, tmp_path):
    nb = _answered_json(student_run)
    _cell_json(nb, "answer_q4a").pop("source")
    report, prepared = _both(nb, tmp_path, course_root, smoke)
    assert report.unanswered == ["Q4a"] and not report.ready
    assert [a.label for a in prepared.answers if not a.answered] == ["Q4a"]


def test_a_file_that_is_no_notebook_is_refused_by_both_in_the_same_words(course_root, smoke, tmp_path):
    path = tmp_path / "case.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "cells": {"not": "a list"}}), encoding="utf-8")
    report = check_notebook(path)
    with pytest.raises(SubmissionError) as refused:
        prepare("case", path, NbgraderRoot(course_root, CONFIG.course), MASTER, smoke, CONFIG)
    assert report.fatal and report.fatal.rstrip(".") in str(refused.value)
