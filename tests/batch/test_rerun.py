"""Running the same command again after the TA fixed something: failures are retried, new
students are welcome, and what was graded stays graded."""
import json

import nbformat
import notebooks

from autograder.batch.coordinator import grade
from autograder.config import select_profile
from autograder.submission.results import SubmissionResult


def _answered(nb, student):
    return notebooks.answer_all(nb, text_for=lambda label: f"{student} explains {label} in enough words here.")


def _result(out, sid) -> SubmissionResult:
    return SubmissionResult.from_dict(json.loads((out / sid / "graded.json").read_text()))


def test_a_failed_submission_is_graded_again_and_a_new_student_is_not_unknown(tmp_path, executed, course, config):
    inputs, out = tmp_path / "class", tmp_path / "out"
    inputs.mkdir()
    (inputs / "bob.ipynb").write_text('{"cells": [')  # cut off: fails in prepare, no execution
    first = grade([inputs], out, course, config, profile=select_profile(config, "smoke"), runners=1)
    assert (first.failed, first.graded) == (1, 0)
    assert _result(out, "bob").status == "failed"

    # The TA asks bob for his file again; ada's notebook arrives late. No roster was given:
    # students the grader added itself (bob) must not turn ada into an unknown id.
    nbformat.write(_answered(executed, "bob"), str(inputs / "bob.ipynb"))
    nbformat.write(_answered(executed, "ada"), str(inputs / "ada.ipynb"))
    second = grade([inputs], out, course, config, profile=select_profile(config, "smoke"), runners=1)
    assert (second.graded, second.failed, second.skipped) == (2, 0, 0)
    for sid in ("bob", "ada"):
        result = _result(out, sid)
        assert result.status == "graded"
        assert not any("roster" in flag for flag in result.flags), result.flags

    third = grade([inputs], out, course, config, profile=select_profile(config, "smoke"), runners=1)
    assert (third.graded, third.failed, third.skipped) == (0, 0, 2)
