"""Grading one submission end to end: complete, blank and tampered, as a TA would look at them."""
import nbformat
from notebooks import CONFIG

from alexnet_core.contract import read_trajectory
from autograder.submission.results import GRADED

AUTOMATIC = CONFIG.points.trajectory + CONFIG.points.evidence + CONFIG.points.kernel_plots


def test_complete_submission_gets_every_automatic_point_and_seven_answers_waiting(graded):
    results, _ = graded
    r = results["complete"]
    assert r.status == GRADED, r.reason
    assert r.total == AUTOMATIC, [(c.name, c.reason) for c in r.checks]
    assert {c.grade_id for c in r.checks} == {"check_trajectory", "check_evidence", "check_kernels"}
    assert [a.label for a in r.answers if a.answered] == ["Q1", "Q2", "Q3a", "Q3b", "Q3c", "Q4a", "Q4b"]
    assert r.flags == []
    # The student's own run and ours agree: same seed, same data, same code.
    assert r.trajectory_submitted["accuracy"] == r.trajectory_rerun["accuracy"]
    q3a = next(a for a in r.answers if a.label == "Q3a")
    assert f"{r.trajectory_submitted['accuracy'][0]:.1f}%" in q3a.note


def test_blank_submission_has_answer_points_withheld_and_says_why(graded):
    results, _ = graded
    r = results["blank"]
    assert r.status == GRADED
    assert not any(a.answered for a in r.answers)
    assert all("placeholder" in a.note for a in r.answers)
    evidence = next(c for c in r.checks if c.name == "evidence")
    assert evidence.score == 0 and "no training output" in evidence.reason
    # The re-execution itself is the master's: those points do not depend on the student.
    assert next(c for c in r.checks if c.name == "trajectory").score == CONFIG.points.trajectory


def test_tampered_submission_is_restored_run_as_the_master_and_flagged(graded):
    results, _ = graded
    r = results["tampered"]
    assert r.status == GRADED
    executed = nbformat.reads(r.executed_notebook, as_version=4)
    train = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "train")
    assert "num_epochs=1" not in train.source
    assert len(read_trajectory(executed)["accuracy"]) == 6  # the full smoke run, not one epoch
    assert any("locked cell train was edited" in f for f in r.flags)
    assert any("extra code cell" in f and "not run" in f for f in r.flags)
    mismatch = [f for f in r.flags if f.startswith("evidence mismatch")]
    assert mismatch and "80.0" in mismatch[0] and str(r.trajectory_rerun["accuracy"][-1]) in mismatch[0]
    assert r.trajectory_submitted["accuracy"] == [9.9, 40.0, 60.0, 70.0, 80.0, 90.0]  # as hand-edited
    evidence = next(c for c in r.checks if c.name == "evidence")
    assert evidence.score < evidence.max_score and "does not match" in evidence.reason


def test_submitted_files_are_byte_identical_after_grading(graded, submissions):
    _, before = graded
    for name, path in submissions.items():
        assert path.read_bytes() == before[name], name
