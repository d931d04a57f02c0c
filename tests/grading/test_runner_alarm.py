"""The runner alarm against the committed smoke envelope: a runner that trains another recipe (lr,
epochs, data) raises it, with real training; an honest seed the old 12-seed envelope docked keeps
every point and raises nothing; the batch's summary says what to do."""
import dataclasses

import pytest
from notebooks import CONFIG

from autograder.authoring.reference import load_reference, train_seed
from autograder.batch.coordinator import BROKEN_RUNNER_ALARMS, BatchSummary
from autograder.course import NbgraderRoot, OutputFolder
from autograder.submission.job import Job, run_job
from autograder.submission.results import GRADED
from autograder.submission.sanitise import prepare
from autograder.submission.scoring import RUNNER_ALARM, check_trajectory, trajectory_flags

# The smoke envelope before the many-seed one (12 seeds, min/max widened by 8 points, commit
# 1a13982), and a held-out student seed it docked: student-00013 under the course salt, whose
# trajectory bench_false_reject.py recorded on this CPU (one torch thread).
OLD_LOWER, OLD_UPPER = [0.0, 2.8, 15.3, 30.1, 47.2, 51.7], [21.5, 36.2, 50.9, 63.4, 72.2, 75.8]
STUDENT_00013 = (324938519, [10.3, 18.0, 26.1, 28.3, 45.4, 53.7])


def _record(profile, seed, accuracy):
    """A re-run's training record as the notebook writes it with `profile`."""
    return {"profile": profile.name, "seed": seed, "epochs": profile.epochs, "lr": profile.lr, "accuracy": accuracy}


def test_an_honest_seed_the_old_envelope_docked_keeps_every_point_unflagged(course, smoke):
    seed, accuracy = STUDENT_00013
    assert [i for i, a in enumerate(accuracy) if not OLD_LOWER[i] <= a <= OLD_UPPER[i]] == [3, 4]
    check = check_trajectory(_record(smoke, seed, accuracy), smoke, load_reference(course, smoke), CONFIG.points)
    assert check.score == CONFIG.points.trajectory and check.reason == ""
    assert "runner_alarm" not in check.details and trajectory_flags(check) == []


@pytest.mark.parametrize("change, words", [
    # An eighth of the training images (another data set): it barely learns in five epochs.
    (dict(name="smoke-128", train_images=128), "outside the reference envelope"),
    # Three epochs: the record says so, and has too few points to earn anything.
    (dict(epochs=3), "trained with epochs 3, the smoke profile's is 5"),
])
def test_a_runner_training_another_recipe_raises_the_alarm(course, smoke, change, words):
    wrong = dataclasses.replace(smoke, **change)
    seed = 1213526493
    rerun = _record(wrong, seed, train_seed(wrong, seed, "cpu"))
    check = check_trajectory(rerun, smoke, load_reference(course, smoke), CONFIG.points)
    problems = check.details["runner_alarm"]["problems"]
    assert any(words in p for p in problems), problems
    [flag] = trajectory_flags(check)
    assert flag.startswith(RUNNER_ALARM) and "grade --regrade" in flag


def test_a_runner_whose_numerics_differ_raises_the_alarm_and_the_student_keeps_the_points(
        submissions, course_root, course, config, smoke):
    """A runner misconfigured with ten times the lr (its record agrees with itself, so only the
    numbers can tell): the course's envelope catches the re-run; the TA is told, the student not docked."""
    wrong = dataclasses.replace(smoke, lr=smoke.lr * 10)
    prepared = prepare("complete", submissions["complete"], NbgraderRoot(course_root, config.course), course.master,
                       wrong, config)
    result = run_job(Job(prepared, wrong, "cpu", 1, load_reference(course, smoke), config.limits, config.points,
                         hide=(str(course_root),)))
    assert result.status == GRADED, result.reason
    trajectory = next(c for c in result.checks if c.name == "trajectory")
    assert trajectory.score == config.points.trajectory and trajectory.reason == ""
    alarm = trajectory.details["runner_alarm"]
    assert alarm["rerun"] == result.trajectory_rerun["accuracy"] and alarm["submitted"] == result.trajectory_submitted["accuracy"]
    assert alarm["median_run"] and alarm["epochs"]  # the reference's run beside ours, the epochs it left
    assert [f for f in result.flags if f.startswith(RUNNER_ALARM)], result.flags


def test_the_batch_summary_counts_the_alarms_and_names_a_broken_runner(tmp_path):
    out = OutputFolder(tmp_path, CONFIG.course)
    assert not any("RUNNER ALARM" in line for line in BatchSummary(graded=70, out=out).lines())
    one = BatchSummary(graded=70, runner_alarms=1, out=out).lines()
    assert "RUNNER ALARM: 1 of 70 re-runs did not look like the reference" in one[2]
    assert "grade --regrade" in one[3] and "broken runner" not in " ".join(one)
    many = BatchSummary(graded=70, runner_alarms=BROKEN_RUNNER_ALARMS, out=out).lines()
    assert "is a broken runner, not seed variance" in many[2]
