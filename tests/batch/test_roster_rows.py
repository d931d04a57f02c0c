"""One bad roster row, or one unreadable graded.json, is a problem of its own; the rest is used."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from notebooks import CONFIG

from autograder.batch import collect as collecting
from autograder.batch.collect import load_roster, safe_id
from autograder.batch.record import load_done
from autograder.errors import ConfigError
from autograder.submission.results import Answer, CheckResult, SubmissionResult, complete

NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'

ROWS = [  # (line text, what happens to it)
    ("student_id,lms_id,name", "header"),
    ("jsmith,12345,Jane Smith", "ok"),
    ("a/b,222,Alan Bee", "renamed"),
    ("../../etc,223,Eve Tc", "renamed"),
    ("..,333,Dot Dot", "skipped"),
    (",444,No Id", "skipped"),
    ("jsmith,555,Jane Again", "skipped"),
    ("a_b,556,Alan Again", "skipped"),  # the same folder as a/b once made safe
    ("short,666", "skipped"),
    ('many,777,Doe, Jane', "skipped"),
    ("=cmd|' /C calc'!A0,888,\"=HYPERLINK(\"\"http://x\"\")\"", "renamed"),
    (",,", "ignored"),  # an empty row, as spreadsheets write them
    ("cdoe,,Carl Doe", "ok"),
]


def _roster_bytes(extra: bytes = b"") -> bytes:
    return ("\n".join(line for line, _ in ROWS) + "\n").encode() + extra


def test_each_bad_row_is_a_problem_naming_file_line_and_fix_and_the_rest_is_used(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(_roster_bytes(b"mueller,999,M\xfcller Hans\n"))  # one Latin-1 line
    roster = load_roster(path)
    assert roster.students == {"jsmith", "a_b", "etc", "cmd_C_calc_A0", "cdoe", "mueller"}
    assert roster.by_lms["12345"] == "jsmith" and roster.by_lms["222"] == "a_b" and roster.by_lms["999"] == "mueller"
    assert "555" not in roster.by_lms and "556" not in roster.by_lms  # skipped rows map nothing
    lines = {}
    for problem in roster.problems:
        file, _, line = problem.origin.rpartition(" line ")
        assert file == str(path) and line.isdigit(), problem
        assert "\n" not in problem.message and len(problem.message) < 300, problem
        lines.setdefault(int(line), []).append(problem.message)
    for number, (_, fate) in enumerate(ROWS, 1):
        if fate in ("skipped", "renamed"):
            assert number in lines, (number, ROWS[number - 1])
            assert all(";" in m for m in lines[number])  # what happened; the fix
        elif fate in ("ok", "ignored", "header"):
            assert number not in lines, (number, lines.get(number))
    latin = len(ROWS) + 1
    assert any("UTF-8" in m for m in lines[latin])
    assert any("already on line 2" in m for m in lines[7]) and any("already on line 3" in m for m in lines[8])
    assert any("fields" in m and "quote" in m for m in lines[10])
    assert any("formula" in m for m in lines[11])


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_bom_or_excels_unicode_text_reads_like_plain_utf8(tmp_path, encoding):
    path = tmp_path / "roster.csv"
    path.write_text("student_id,lms_id,name\njsmith,12345,Jane Smith\nzoe,,Zoë Ünal\n", encoding=encoding)
    roster = load_roster(path)
    assert roster.students == {"jsmith", "zoe"} and roster.problems == []
    assert roster.map(None, "Unal Zoe") == "zoe"


def test_two_students_of_one_name_are_not_matched_by_name(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("student_id,lms_id,name\njs1,,Jane Smith\njs2,,Jane Smith\nann,,Ann Lee\n")
    roster = load_roster(path)
    assert roster.map(None, "Jane Smith") is None and roster.map(None, "Lee Ann") == "ann"


def test_the_batch_goes_on_with_a_bad_roster_and_reports_its_rows(tmp_path):
    roster_path = tmp_path / "roster.csv"
    roster_path.write_bytes(_roster_bytes())
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "smithjane_12345_1_alexnet.ipynb").write_text(NB)
    (inbox / "beealan_222_1_alexnet.ipynb").write_text(NB)
    (inbox / "again_555_1_alexnet.ipynb").write_text(NB)
    got = collecting.collect([inbox], tmp_path / "scratch", load_roster(roster_path), limits=CONFIG.limits)
    assert {s.student_id for s in got.submissions} == {"jsmith", "a_b", "555"}
    assert got.unknown == ["555"]  # its roster row was skipped: graded under the LMS id, and reported
    assert sum(str(roster_path) in p.origin for p in got.problems) >= 8


def test_a_roster_that_cannot_be_used_at_all_stops_with_one_line(tmp_path):
    for content in (b"", b"id,name\n1,A\n", b"\x00\x01\x02"):
        (tmp_path / "r.csv").write_bytes(content)
        with pytest.raises(ConfigError, match="student_id") as info:
            load_roster(tmp_path / "r.csv")
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_roster(tmp_path / "missing.csv")


def test_roster_ids_always_have_the_safe_form():
    for raw in ["a/b", "../x", ".hidden", "-x", "=1+2", "x" * 200, "ü", "grades.csv", "a\x00b"]:
        sid = safe_id(raw)
        assert sid and set(sid) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
        assert not sid.startswith((".", "-")) and len(sid) <= 64


# -- graded.json read back on a resumed run ---------------------------------------------------
def _good(sid: str) -> SubmissionResult:
    result = SubmissionResult(sid, f"{sid}.ipynb", checks=[CheckResult("trajectory", "check_trajectory", 3.0, 3.0)],
                              answers=[Answer("Q1", "answer_q1", "text", True, 2.0)],
                              trajectory_rerun={"accuracy": [10.0, 40.0]})
    return complete(result, CONFIG.points)


@pytest.mark.parametrize("content", [
    "{ cut off",
    "[1, 2]",
    "null",
    json.dumps({"student_id": "x"}),  # an older version: fields missing
    json.dumps({**_good("bad").to_dict(), "added_in_a_future_version": 1}),
    json.dumps({**_good("bad").to_dict(), "seconds": "slow"}),
    json.dumps({**_good("bad").to_dict(), "answers": [{"label": "Q1", "grade_id": "a", "text": None,
                                                       "answered": True, "max_score": 2}]}),
    json.dumps({**_good("bad").to_dict(), "trajectory_rerun": {"accuracy": ["high"]}}),
    json.dumps(_good("someone_else").to_dict()),  # moved into another student's folder
    "[" * 100_000 + "]" * 100_000,
    b"\xff\xfe not utf-8",
])
def test_an_unreadable_graded_json_is_a_problem_and_the_others_are_kept(tmp_path, content):
    for sid in ("good", "bad"):
        (tmp_path / sid).mkdir()
    (tmp_path / "good" / "graded.json").write_text(json.dumps(_good("good").to_dict()))
    target = tmp_path / "bad" / "graded.json"
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    problems = []
    done = load_done(tmp_path, problems)
    assert list(done) == ["good"] and done["good"] == replace(_good("good"))
    (problem,) = problems
    assert problem.origin == str(target) and "graded again" in problem.message and "\n" not in problem.message
