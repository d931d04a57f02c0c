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

from alexnet_core.contract import MB, TRAJECTORY_MIME
from alexnet_core.selfcheck import Expectations, check_node, check_notebook
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
        prepare("big", path, course_root, MASTER, smoke, config)
    else:
        assert "more than the 1 MB accepted" in report.fatal
        with pytest.raises(SubmissionError, match="over the 1 MB limit"):
            prepare("big", path, course_root, MASTER, smoke, config)
