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
