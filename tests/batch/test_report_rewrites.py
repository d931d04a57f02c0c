"""The class tables (grades.csv, report.html) are rewritten a bounded number of times per batch.

They cover the whole class, so rewriting them after every result made a class of thousands cost
the coordinator the square of its size (benchmarks/bench_recorder.py measures it). What the TA
notices: after the command the tables hold every result; while runners work, they catch up within
a few seconds; each student's own files and graded.json are written as each result arrives.
"""
from __future__ import annotations

import csv
import time

import pytest

from autograder.authoring.release import register
from autograder.batch.record import Recorder
from autograder.config import for_master, select_profile
from autograder.course import OutputFolder
from autograder.submission.results import Answer, CheckResult, SubmissionResult


def _result(student_id: str, config) -> SubmissionResult:
    checks = [CheckResult(name, cell, value, value)
              for (name, value), cell in zip(config.points.checks().items(),
                                             ("check_trajectory", "check_evidence", "check_kernels"))]
    answers = [Answer(label, f"answer_{label.lower()}", f"{student_id} answers {label} in their own words.", True,
                      float(value)) for label, value in config.points.questions.items()]
    return SubmissionResult(student_id=student_id, source=f"/nonexistent/{student_id}.ipynb", checks=checks,
                            answers=answers, trajectory_rerun={"accuracy": [10.0, 40.0, 55.0]})


def _rows(out: OutputFolder) -> list[str]:
    with out.grades_csv.open(newline="", encoding="utf-8") as fh:
        return [row["student_id"] for row in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def registered(tmp_path_factory, course, config):
    config = for_master(config, course.master)
    out = OutputFolder(tmp_path_factory.mktemp("rewrites") / "out", config.course)
    register(out.nbgrader.root, course.master, config, select_profile(config, "smoke"))
    return out, config


def test_a_burst_of_results_rewrites_the_tables_a_few_times_and_the_end_holds_everyone(registered, course):
    out, config = registered
    recorder = Recorder(out, config, course.master, tables_every_s=60.0)
    students = [f"s{i:02d}" for i in range(25)]
    for sid in students:
        recorder.record(_result(sid, config))
        assert (out.student(sid) / OutputFolder.GRADED).is_file()  # the student's own record: at once
    assert recorder.tables_written == 1  # the first result; the rest arrived within the interval
    assert _rows(out) == students[:1]
    recorder.flush()  # the command's end
    assert sorted(_rows(out)) == students and recorder.tables_written == 2
    assert all(sid in out.report.read_text(encoding="utf-8") for sid in students)
    recorder.flush()  # nothing new: nothing rewritten
    assert recorder.tables_written == 2


def test_while_runners_work_the_tables_catch_up_once_due(registered, course):
    out, config = registered
    recorder = Recorder(out, config, course.master, tables_every_s=0.5)
    recorder.record(_result("t01", config))
    recorder.record(_result("t02", config))  # within the interval: not in the tables yet
    assert "t02" not in _rows(out)
    recorder.flush_if_due()  # the pool's idle call, too early: nothing yet
    if time.monotonic() < recorder.next_rewrite_at:
        assert "t02" not in _rows(out)
    time.sleep(max(0.0, recorder.next_rewrite_at - time.monotonic()) + 0.05)
    recorder.flush_if_due()  # the pool's idle call once the interval has passed
    assert {"t01", "t02"} <= set(_rows(out))
