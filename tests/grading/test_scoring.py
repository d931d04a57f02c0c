"""The automatic checks on records a run could produce: every lost point comes with its reason."""
import pytest
from notebooks import CONFIG

from alexnet_core.contract import PLOT_MIME, first_number, read_kernel_plots
from autograder.submission import scoring as check

POINTS = CONFIG.points
REFERENCE = {"lower": [0.0, 10.0, 20.0, 30.0, 30.0, 30.0], "upper": [35.0, 40.0, 55.0, 65.0, 75.0, 80.0]}
GOOD = [10.0, 25.0, 40.0, 50.0, 58.0, 66.0]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="


def trajectory(acc, **extra):
    return {"profile": "smoke", "epochs": len(acc) - 1, "lr": 0.015, "seed": 42, "accuracy": acc, **extra}


def notebook(*plots):
    outputs = [{"output_type": "display_data", "metadata": {}, "data": {PLOT_MIME: p, "image/png": PNG}} for p in plots]
    return {"cells": [{"cell_type": "code", "metadata": {}, "outputs": outputs, "source": ""}]}


KERNELS = [{"kind": "kernels", "model": "alexnet", "epochs_trained": None, "fingerprint": "a"},
           {"kind": "kernels", "model": "alexnet-mini", "epochs_trained": 0, "fingerprint": "b"},
           {"kind": "kernels", "model": "alexnet-mini", "epochs_trained": 5, "fingerprint": "c"}]


def test_a_good_trajectory_earns_every_point(smoke):
    result = check.check_trajectory(trajectory(GOOD), smoke, REFERENCE, POINTS)
    assert result.score == POINTS.trajectory and result.reason == ""


@pytest.mark.parametrize("acc, lost, words", [
    ([30.0] + GOOD[1:], 1, "outside the chance band"),
    (GOOD[:-1] + [95.0], 1, "outside the reference envelope at 1 epoch(s) (epoch 5: 95.0%"),
    ([10.0, 12.0, 20.0, 30.0, 40.0, CONFIG.profiles["smoke"].final_floor - 1], 1, "below the floor"),
    (GOOD[:3], 3, "6 are expected"),
])
def test_each_failed_part_of_the_trajectory_costs_its_share(smoke, acc, lost, words):
    result = check.check_trajectory(trajectory(acc), smoke, REFERENCE, POINTS)
    assert result.score == pytest.approx(POINTS.trajectory - lost * POINTS.trajectory / 3)
    assert words in result.reason


def test_no_trajectory_scores_zero_with_the_reason(smoke):
    result = check.check_trajectory(None, smoke, REFERENCE, POINTS)
    assert result.score == 0 and "train cell did not finish" in result.reason


def test_kernels_must_be_shown_and_change_with_training():
    assert check.check_kernels(notebook(*KERNELS), POINTS).score == POINTS.kernel_plots
    unchanged = check.check_kernels(notebook(KERNELS[0], KERNELS[1], {**KERNELS[2], "fingerprint": "b"}), POINTS)
    assert unchanged.score == POINTS.kernel_plots / 2 and "training changed nothing" in unchanged.reason
    missing = check.check_kernels(notebook(KERNELS[0]), POINTS)
    assert missing.score == 0 and "untrained, trained" in missing.reason


def test_evidence_agreement_within_tolerance_and_mismatch_flag(smoke):
    plots = {"kernels": read_kernel_plots(notebook(*KERNELS))}
    near = [a + smoke.evidence_tolerance - 0.5 for a in GOOD]
    ok, flags = check.check_evidence({"trajectory": trajectory(near), "plots": plots}, trajectory(GOOD), smoke, POINTS)
    assert ok.score == POINTS.evidence and flags == []
    edited = trajectory(GOOD, lr=0.1)
    bad, flags = check.check_evidence({"trajectory": edited, "plots": plots}, trajectory(GOOD), smoke, POINTS)
    assert bad.score == POINTS.evidence / 2 and "lr 0.1 submitted vs 0.015 re-run" in flags[0]


def test_q3a_note_sets_the_written_number_beside_the_students_own_run():
    note = check.q3a_note("Q3a: I see about 10% before training.", trajectory(GOOD), trajectory([9.6] + GOOD[1:]))
    assert note == "wrote 10; own before-training accuracy 10.0%; re-run 9.6%"
    assert first_number("My answer to Q3a: it guesses") is None
