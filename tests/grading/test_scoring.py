"""The automatic checks on records a run could produce: every lost point comes with its reason."""
import base64
import math

import pytest
from notebooks import CONFIG

from alexnet_core.contract import (
    PICTURE_KEY,
    PLOT_MIME,
    first_number,
    kernel_plot_evidence,
    picture_fingerprint,
    read_kernel_plots,
    trajectory_evidence,
)
from autograder.submission import scoring as check

POINTS = CONFIG.points
REFERENCE = {"lower": [0.0, 10.0, 20.0, 30.0, 30.0, 30.0], "upper": [35.0, 40.0, 55.0, 65.0, 75.0, 80.0]}
GOOD = [10.0, 25.0, 40.0, 50.0, 58.0, 66.0]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="


def trajectory(acc, **extra):
    return {"profile": "smoke", "epochs": len(acc) - 1, "lr": 0.015, "seed": 42, "accuracy": acc, **extra}


def signed(record, png=PNG):
    """The record as `alexnet_core.plots` emits it beside `png`: with that picture's fingerprint."""
    return {**record, PICTURE_KEY: picture_fingerprint(base64.b64decode(png))}


def notebook(*plots, png=PNG, sign=True, sign_as=None):
    outputs = [{"output_type": "display_data", "metadata": {},
                "data": {PLOT_MIME: signed(p, sign_as or png) if sign else p, "image/png": png}} for p in plots]
    return {"cells": [{"cell_type": "code", "metadata": {}, "outputs": outputs, "source": ""}]}


KERNELS = [{"kind": "kernels", "model": "alexnet", "epochs_trained": None, "fingerprint": "a"},
           {"kind": "kernels", "model": "alexnet-mini", "epochs_trained": 0, "fingerprint": "b"},
           {"kind": "kernels", "model": "alexnet-mini", "epochs_trained": 5, "fingerprint": "c"}]


def rerun_plots():
    """The re-run's kernel plots as `job` reads them: the same kernels, drawn the same size."""
    return read_kernel_plots(notebook(*KERNELS))


def test_a_good_trajectory_earns_every_point(smoke):
    result = check.check_trajectory(trajectory(GOOD), smoke, REFERENCE, POINTS)
    assert result.score == POINTS.trajectory and result.reason == ""


@pytest.mark.parametrize("acc, words", [
    ([30.0] + GOOD[1:], "outside the chance band"),
    (GOOD[:-1] + [95.0], "outside the reference envelope at 1 epoch(s) (epoch 5: 95.0%"),
    ([10.0, 12.0, 20.0, 30.0, 40.0, CONFIG.profiles["smoke"].final_floor - 1], "below the floor"),
    (GOOD[:-1] + [math.nan], "outside the reference envelope at 1 epoch(s) (epoch 5: nan%"),
])
def test_a_rerun_unlike_the_reference_keeps_its_points_and_alarms_the_ta(smoke, acc, words):
    """The student's seed is not theirs to answer for: a re-run outside the reference costs nothing
    and raises the runner alarm, with the re-run and the reference's median run in the flag."""
    # The envelope's last epoch opened down to 0 here, so that the floor speaks for itself.
    reference = {**REFERENCE, "lower": REFERENCE["lower"][:-1] + [0.0], "median_run": GOOD}
    result = check.check_trajectory(trajectory(acc), smoke, reference, POINTS, submitted=trajectory(GOOD))
    assert result.score == POINTS.trajectory and result.reason == ""
    alarm = result.details["runner_alarm"]
    assert words in alarm["problems"][0] and alarm["rerun"] == acc and alarm["submitted"] == GOOD
    [flag] = check.trajectory_flags(result)
    assert flag.startswith(check.RUNNER_ALARM) and words in flag and "grade --regrade" in flag
    assert "reference median [10.0, 25.0, 40.0" in flag and len(flag) <= 300


def test_a_runner_with_another_recipe_alarms_even_inside_the_envelope(smoke):
    result = check.check_trajectory(trajectory(GOOD, lr=smoke.lr * 10), smoke, REFERENCE, POINTS)
    assert result.passed and result.details["runner_alarm"]["problems"] == [
        f"trained with lr {smoke.lr * 10}, the smoke profile's is {smoke.lr}"]


def test_a_rerun_cut_short_earns_nothing_and_a_shorter_recipe_alarms(smoke):
    cut = check.check_trajectory({**trajectory(GOOD[:3]), "epochs": smoke.epochs}, smoke, REFERENCE, POINTS)
    assert cut.score == 0 and "6 are expected" in cut.reason and check.trajectory_flags(cut) == []
    shorter = check.check_trajectory(trajectory(GOOD[:3]), smoke, REFERENCE, POINTS)
    assert shorter.score == 0 and "trained with epochs 2" in check.trajectory_flags(shorter)[0]


def test_a_good_trajectory_raises_no_alarm(smoke):
    result = check.check_trajectory(trajectory(GOOD), smoke, REFERENCE, POINTS)
    assert "runner_alarm" not in result.details and check.trajectory_flags(result) == []


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
    ok, flags = check.check_evidence({"trajectory": trajectory(near), "plots": plots}, trajectory(GOOD), smoke, POINTS, rerun_plots())
    assert ok.score == POINTS.evidence and flags == []
    edited = trajectory(GOOD, lr=0.1)
    bad, flags = check.check_evidence({"trajectory": edited, "plots": plots}, trajectory(GOOD), smoke, POINTS, rerun_plots())
    assert bad.score == POINTS.evidence / 2 and "lr 0.1 submitted vs 0.015 re-run" in flags[0]


def test_q3a_note_sets_the_written_number_beside_the_students_own_run():
    note = check.q3a_note("Q3a: I see about 10% before training.", trajectory(GOOD), trajectory([9.6] + GOOD[1:]))
    assert note == "wrote 10; own before-training accuracy 10.0%; re-run 9.6%"
    assert first_number("My answer to Q3a: it guesses") is None


# ---------------------------------------------------------------- malformed evidence earns nothing

OTHER_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


def _evidence(nb, epochs=None):
    trajectory, problem = trajectory_evidence(nb, epochs)
    kernels, problems = kernel_plot_evidence(nb)
    return {"trajectory": trajectory, "trajectory_problem": problem, "plots": {"kernels": kernels, "problems": problems}}


def _with_trajectory(nb, record):
    nb["cells"].append({"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "train"}}, "source": "",
                        "outputs": [{"output_type": "display_data", "metadata": {},
                                     "data": {"application/vnd.alexnet-lab.trajectory+json": record}}]})
    return nb


@pytest.mark.parametrize("damage, words", [
    ({"sign": False}, "no fingerprint of its picture"),
    ({"png": OTHER_PNG, "fingerprint_of": PNG}, "does not match the picture"),
    ({"png": "not a picture", "sign_as": PNG}, "no picture beside it"),
])
def test_a_kernel_plot_counts_only_beside_the_picture_its_fingerprint_names(smoke, damage, words):
    fingerprint_of = damage.pop("fingerprint_of", None)
    nb = notebook(*KERNELS, **damage)
    if fingerprint_of:  # a real record moved beside another picture
        for out in nb["cells"][0]["outputs"]:
            out["data"][PLOT_MIME] = signed(out["data"][PLOT_MIME], fingerprint_of)
    shown, problems = kernel_plot_evidence(nb)
    assert shown == {} and len(problems) == 3 and all(words in p for p in problems)
    evidence = _evidence(_with_trajectory(nb, trajectory(GOOD)), smoke.epochs)
    result, flags = check.check_evidence(evidence, trajectory(GOOD), smoke, POINTS, rerun_plots())
    assert result.score == POINTS.evidence / 2 and "kernel plot(s)" in result.reason and words in result.reason
    assert any(f.startswith("malformed evidence:") and words in f for f in flags)
    assert check.check_kernels(nb, POINTS).score == 0


def test_a_signed_plot_with_its_own_picture_counts(smoke):
    assert sorted(read_kernel_plots(notebook(*KERNELS, png=OTHER_PNG))) == ["pretrained", "trained", "untrained"]


@pytest.mark.parametrize("accuracy, words", [
    ([math.nan] * 6, "not a percentage"),
    (GOOD[:-1] + [math.inf], "not a percentage"),
    (GOOD[:-1] + [-math.inf], "not a percentage"),
    (GOOD[:-1] + [100.5], "not a percentage"),
    (GOOD[:-1] + [-0.5], "not a percentage"),
    (GOOD[:-1] + [10 ** 400], "not a percentage"),
    (GOOD[:-1] + [True], "not a percentage"),
    (GOOD[:-1] + ["66"], "not a percentage"),
    ([], "empty"),
    ("about 60%", "not a list"),
])
def test_a_malformed_trajectory_is_flagged_and_earns_no_point(smoke, accuracy, words):
    record = {**trajectory(GOOD), "accuracy": accuracy}
    evidence = _evidence(_with_trajectory(notebook(*KERNELS), record), smoke.epochs)
    assert evidence["trajectory"] is None and words in evidence["trajectory_problem"]
    result, flags = check.check_evidence(evidence, trajectory(GOOD), smoke, POINTS, rerun_plots())
    assert result.score == POINTS.evidence / 2  # the plots' half only
    assert "malformed evidence" in result.reason and any("malformed evidence" in f for f in flags)
    # Even with nothing re-run to compare with, malformed evidence is not given the benefit of the doubt.
    alone, _ = check.check_evidence(evidence, None, smoke, POINTS, rerun_plots())
    assert alone.score == POINTS.evidence / 2


@pytest.mark.parametrize("accuracy, epochs", [
    (GOOD[:4], 3),          # a consistent record of fewer epochs than the recipe's
    (GOOD + [70.0], 6),     # more
    (GOOD, 7),              # a record whose own epochs disagree with its length
])
def test_a_trajectory_of_the_wrong_length_is_malformed_evidence(smoke, accuracy, epochs):
    assert smoke.epochs == len(GOOD) - 1
    record = {**trajectory(GOOD), "accuracy": accuracy, "epochs": epochs}
    evidence = _evidence(_with_trajectory(notebook(*KERNELS), record), smoke.epochs)
    assert evidence["trajectory"] is None and "accuracies for" in evidence["trajectory_problem"]
    # Evidence built without the recipe (an older runner) is judged against the profile all the same.
    unchecked = {**evidence, "trajectory": record, "trajectory_problem": None}
    for ev in (evidence, unchecked):
        result, flags = check.check_evidence(ev, trajectory(GOOD), smoke, POINTS, rerun_plots())
        assert result.score == POINTS.evidence / 2 and any("malformed evidence" in f for f in flags)


def test_a_nan_trajectory_never_agrees_with_the_rerun(smoke):
    same, why = check.trajectories_agree(trajectory([math.nan] * 6), trajectory(GOOD), smoke)
    assert not same and "differ" in why
