"""The late policy and where lateness comes from, without grading anything: Canvas's file names,
nbgrader's timestamp.txt against the due date, the penalty per day / per submission with its cap,
and a bad policy refused when the config is read."""
from __future__ import annotations

import dataclasses

import pytest

from autograder.config import load_config
from autograder.errors import ConfigError
from autograder.export.final import StudentFinal, lms_notes
from autograder.export.late import penalty_percent
from autograder.sources import Lateness, lateness_of
from grading_config import Late

DUE = "2026-03-01T23:59:00+00:00"


def test_canvas_late_files_are_late_with_unknown_days_and_on_time_files_are_not():
    late = lateness_of("class.zip!jonesbob_LATE_1002_5002_alexnet.ipynb", DUE)
    assert late.late and late.days is None and "_LATE_" in late.how
    assert not lateness_of("class.zip!smithalice_1001_5001_alexnet.ipynb", DUE).late
    assert not lateness_of("folder/alice.ipynb", DUE).late


def test_nbgrader_timestamps_count_days_past_the_due_date(tmp_path):
    folder = tmp_path / "submitted" / "dan" / "alexnet"
    folder.mkdir(parents=True)
    notebook = folder / "alexnet.ipynb"
    notebook.write_text("{}")
    (folder / "timestamp.txt").write_text("2026-03-03 11:59:00.000000 UTC\n")
    late = lateness_of(str(notebook), DUE)
    assert late.late and late.days == pytest.approx(1.5)
    (folder / "timestamp.txt").write_text("2026-03-01 20:00:00 UTC")
    assert not lateness_of(str(notebook), DUE).late
    # Without a due date nothing is late: nbgrader's time alone says nothing.
    (folder / "timestamp.txt").write_text("2030-01-01 00:00:00 UTC")
    assert not lateness_of(str(notebook), "").late


@pytest.mark.parametrize("policy, days, expected", [
    (Late(policy="none"), 3.0, 0.0),
    (Late(policy="per_day", percent=10, cap_percent=50), 0.2, 10.0),   # a part of a day is a day
    (Late(policy="per_day", percent=10, cap_percent=50), 2.5, 30.0),
    (Late(policy="per_day", percent=10, cap_percent=50), 9.0, 50.0),   # capped
    (Late(policy="per_day", percent=10, cap_percent=50, unknown_days=2), None, 20.0),  # Canvas: no time given
    (Late(policy="per_submission", percent=25, cap_percent=20), 9.0, 20.0),
    (Late(policy="per_submission", percent=15, cap_percent=50), 0.1, 15.0),
])
def test_penalty_per_day_or_per_submission_is_capped(policy, days, expected):
    assert penalty_percent(Lateness(True, days), policy) == expected
    assert penalty_percent(Lateness(False, 0.0), policy) == 0.0


@pytest.mark.parametrize("toml, words", [
    ('[late]\npolicy = "weekly"\n', "late.policy = 'weekly' must be one of none, per_day, per_submission"),
    ('[late]\npercent = 150\n', "late.percent = 150.0 must be between 0 and 100"),
    ('[late]\ndue = "next friday"\n', "late.due = 'next friday' is not an ISO date"),
    ('[points.min_answer_chars_per_question]\nQ9 = -1\n', "points.min_answer_chars_per_question.Q9"),
])
def test_a_bad_late_policy_or_minimum_is_refused_naming_the_setting(tmp_path, toml, words):
    path = tmp_path / "course.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_a_good_late_policy_loads():
    config = load_config().config
    assert config.late.policy == "none"
    custom = dataclasses.replace(config.late, policy="per_day")
    assert penalty_percent(Lateness(True, 1.0), custom) == config.late.percent
    assert config.points.min_chars("Q3a") == 1 and config.points.min_chars("Q1") == config.points.min_answer_chars


def test_export_says_which_submissions_a_late_policy_cannot_time(config):
    """A Moodle download (or loose notebooks) gives no time: counted on time, and the TA is told who."""
    policy = dataclasses.replace(config, late=dataclasses.replace(config.late, policy="per_day", due=DUE))
    students = [StudentFinal("ada", status="graded", lateness=lateness_of("moodle.zip!Ada Lovelace_70311_"
                                                                          "assignsubmission_file/alexnet.ipynb", DUE)),
                StudentFinal("ben", status="graded", lateness=lateness_of("class.zip!okriben_1002_5002_a.ipynb", DUE)),
                StudentFinal("gus")]  # no submission: nothing to time
    [note] = [n for n in lms_notes(students, policy) if "no submission time" in n]
    assert "(ada:" in note and "ben" not in note and "gus" not in note
    assert not [n for n in lms_notes(students, config) if "no submission time" in n]  # no policy, nothing to say

