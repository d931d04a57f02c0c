"""What a student controls stays data in the files a TA opens, and one output folder has one writer."""
import csv
import io
import math

import nbformat
import notebooks
import pytest
from bs4 import BeautifulSoup
from classes import REPO

from alexnet_core.contract import TRAJECTORY_MIME
from alexnet_core.selfcheck import check_node
from autograder.batch.record import grades_csv
from autograder.cli import main
from autograder.course import OutputFolder
from autograder.files import FORMULA_STARTS, exclusive_lock
from autograder.submission.evidence import extract_evidence
from autograder.submission.results import MAX_FLAGS, SubmissionResult, complete
from autograder.urls import formgrader_url, grading_page_url


def _csv_rows(text: str) -> dict[str, dict]:
    return {row["student_id"]: row for row in csv.DictReader(io.StringIO(text))}


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_no_cell_of_grades_csv_starts_a_spreadsheet_formula(config, start):
    evil = SubmissionResult(f"{start}HYPERLINK(\"http://x\")", "x.ipynb", status="failed",
                            reason=f"{start}cmd|' /C calc'!A0", flags=[f"{start}SUM(1,1)"])
    rows = _csv_rows(grades_csv([complete(evil, config.points)], config))
    (row,) = rows.values()
    for column in ("student_id", "reason", "flags"):
        cell = row[column]
        assert not cell.startswith(FORMULA_STARTS) and "\n" not in cell and "\r" not in cell, (column, cell)
        assert cell.lstrip("' ").lstrip(start) in (evil.student_id + evil.reason + "".join(evil.flags)), cell


def test_ten_thousand_flags_make_one_short_readable_field(config):
    flooded = SubmissionResult("flood", "flood.ipynb", flags=[f"text in cell {i}: " + "x" * 500 for i in range(10_000)])
    result = complete(flooded, config.points)
    assert len(result.flags) == MAX_FLAGS and "9981 more flags" in result.flags[-1]
    text = grades_csv([result], config)
    row = _csv_rows(text)["flood"]  # Python's csv reader refuses fields over 131,072 characters
    assert len(row["flags"]) < 10_000


@pytest.mark.parametrize("accuracy", [
    [math.nan] * 6,
    [10.0, 20.0, math.inf, 40.0, 50.0, 60.0],
    [10 ** 400] * 6,
    [10.0, 20.0, 30.0, 40.0, 50.0, 160.0],
    [10.0] * 5000,
])
def test_an_impossible_training_record_is_no_evidence_for_the_grader_or_the_check(executed, accuracy):
    nb = notebooks.answer_all(executed)
    for out in notebooks.cell_by_id(nb, "train").outputs:
        if TRAJECTORY_MIME in out.get("data", {}):
            out["data"][TRAJECTORY_MIME] = {**out["data"][TRAJECTORY_MIME], "accuracy": accuracy,
                                            "epochs": len(accuracy) - 1}
    assert extract_evidence(nb)["trajectory"] is None
    report = check_node(nb)
    assert not report.ready and any("malformed" in p for p in report.problems), report.text()


def test_a_second_grade_on_the_same_output_folder_says_who_holds_it(tmp_path, config, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), str(inbox / "ann.ipynb"))
    out = OutputFolder(tmp_path / "out", config.course)
    with exclusive_lock(out.lock, "held by this test", holder="`alexnet-lab grade` grading it"):
        code = main(["--course", str(REPO), "grade", str(inbox), "--out", str(out.root), "--profile", "smoke"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "is in use by another command (`alexnet-lab grade` grading it: pid" in err and "another --out" in err
    assert not out.grades_csv.exists()  # nothing was written by the refused run


def test_file_names_never_put_results_outside_the_output_or_over_its_own_files(tmp_path, config):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    names = ["grades.csv.ipynb", "report.html.ipynb", "...ipynb", "nbgrader.ipynb", "=cmd.ipynb", "questions.ipynb"]
    for name in names:
        (inbox / name).write_text('{"cells": [', encoding="utf-8")  # cut off: fails in prepare, cheaply
    before = set(tmp_path.iterdir()) | {out}
    assert main(["--course", str(REPO), "grade", str(inbox), "--out", str(out), "--profile", "smoke"]) == 0
    assert set(tmp_path.iterdir()) == before  # nothing landed beside OUT
    assert out.joinpath("grades.csv").is_file() and out.joinpath("report.html").is_file()
    assert (out / "nbgrader" / "gradebook.db").is_file() and (out / "questions").is_dir()
    rows = _csv_rows(out.joinpath("grades.csv").read_text())
    graded = [n for n in names if not n.startswith(".")]  # dot files are skipped, as macOS's ._ files are
    assert len(rows) == len(graded) and all(r["status"] == "failed" for r in rows.values())
    for sid in rows:
        assert (out / sid / "graded.json").is_file() and not sid.startswith((".", "'", "="))
    # Each TA-facing reason still names the file as it was handed in.
    assert {r["reason"].split(":")[0].removeprefix("'") for r in rows.values()} == set(graded)
    # Every link on the class report stays inside OUT (no scheme, no way up), but the grader's own
    # server's pages (formgrader, the grading page), whose addresses no student file can shape.
    soup = BeautifulSoup(out.joinpath("report.html").read_text(), "html.parser")
    server = (formgrader_url(), grading_page_url())
    links = [a["href"] for a in soup.find_all("a") if not a["href"].startswith(server)]
    assert links and all(":" not in href and not href.startswith(("/", "..")) for href in links), links
