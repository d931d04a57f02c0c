"""What a TA gets from grading a mixed class with the local pool: CSV, gradebook, feedback, report."""
import csv
import json
import re
import subprocess

import nbformat
from nbgrader.api import Gradebook

from autograder.batch.record import BASE_COLUMNS

QUESTIONS = ["Q1", "Q2", "Q3a", "Q3b", "Q3c", "Q4a", "Q4b"]


def _rows(out):
    with (out / "grades.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, {r["student_id"]: r for r in reader}


def test_grades_csv_has_one_row_per_submission_and_the_contract_columns(graded_class):
    out, summary = graded_class
    columns, rows = _rows(out)
    assert columns[: len(BASE_COLUMNS) + 3] == BASE_COLUMNS + ["trajectory", "evidence", "kernel_plots"]
    assert set(QUESTIONS) <= set(columns)
    assert set(rows) == {"alice", "carol", "dave"}
    alice, carol, dave = rows["alice"], rows["carol"], rows["dave"]
    assert alice["status"] == "graded" and float(alice["total"]) == 6 and float(alice["max_total"]) == 16
    assert [alice[q] for q in QUESTIONS] == [""] * 7  # all seven wait for a TA
    assert [carol[q] for q in QUESTIONS] == ["", "", "", "0", "0", "0", "0"]
    assert float(carol["evidence"]) < 1 and "evidence" in carol["flags"].lower()
    assert float(carol["trajectory"]) == 3  # the re-run is fine; only what she showed was edited
    assert dave["status"] == "failed" and "json" in dave["reason"].lower()
    assert summary.graded == 2 and summary.failed == 1 and summary.problems == 1


def test_gradescope_json_follows_gradescope_schema_even_for_a_failed_run(graded_class):
    out, _ = graded_class
    for sid in ("alice", "dave"):
        data = json.loads((out / sid / "gradescope.json").read_text())
        assert isinstance(data["score"], float) and data["tests"]
        for test in data["tests"]:
            assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
            assert 0 <= test["score"] <= test["max_score"]
    failed = json.loads((out / "dave" / "gradescope.json").read_text())
    assert failed["score"] == 0 and "json" in failed["output"].lower()
    assert (out / "dave" / "feedback.html").exists() and (out / "dave" / "graded.json").exists()


def _hidden_lines(out):
    """Lines of the hidden tests in the course's source notebook (never shown to students)."""
    nb = nbformat.read(str(out / "nbgrader" / "source" / "alexnet" / "alexnet.ipynb"), as_version=4)
    lines = []
    for cell in nb.cells:
        found = re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S)
        lines += [line.strip() for block in found for line in block.splitlines() if len(line.strip()) > 12]
    return lines


def test_feedback_shows_the_trajectory_kernels_and_reasons_but_no_hidden_tests(graded_class):
    out, _ = graded_class
    alice = (out / "alice" / "feedback.html").read_text()
    carol = (out / "carol" / "feedback.html").read_text()
    assert "<svg" in alice and alice.count("data:image/png;base64,") == 3  # pretrained, untrained, trained
    assert "6 / 6" in alice
    assert "evidence" in carol and 'class="failed"' in carol
    for page in (alice, carol, (out / "carol" / "gradescope.json").read_text()):
        assert "HIDDEN TESTS" not in page
        for line in _hidden_lines(out):
            assert line not in page


def test_report_shows_failures_flags_duplicates_and_question_pages(graded_class):
    out, _ = graded_class
    report = (out / "report.html").read_text()
    failures = report.split("<h2>Failures")[1].split("<h2>")[0]
    assert "dave" in failures and "alice" not in failures
    evidence = report.split("<h2>Evidence mismatches")[1].split("<h2>")[0]
    assert "carol" in evidence and "alice" not in evidence
    duplicates = report.split("<h2>Identical or nearly identical")[1].split("<h2>")[0]
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td>(.*?)</tr>", duplicates, re.S)
    assert [(a, b) for a, b, _ in rows] == [("alice", "carol")]
    shared = re.sub(r"<[^>]+>|\s+", " ", rows[0][2])
    assert re.search(r"Q1 \( identical \), Q2 \(\d+ %\)", re.sub(r" +", " ", shared)), shared
    assert "Q3a" not in duplicates
    assert "notes.txt" in report.split("<h2>Input problems")[1]
    assert report.count("<svg") >= 2  # accuracy and totals distributions
    q1 = (out / "questions" / "Q1.html").read_text()
    assert all(sid in q1 for sid in ("alice", "carol", "dave"))
    q4b = (out / "questions" / "Q4b.html").read_text()
    assert "Alice on Q4b" in q4b and "No answer" in q4b.split('id="carol"')[1].split("<h2")[0]
    # The TA reads each question's rubric from the master beside the answers.
    from html import escape

    from autograder.authoring.render import rubric_notes
    assert escape(rubric_notes()["Q4b"], quote=True)[:60] in q4b


def test_gradebook_holds_every_score_for_formgrader_and_export(graded_class):
    out, _ = graded_class
    course = out / "nbgrader"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert {s.id for s in gb.students} == {"alice", "carol", "dave"}
        alice = {g.name: g for g in gb.find_submission_notebook("alexnet", "alexnet", "alice").grades}
        assert alice["check_trajectory"].auto_score == 3 and alice["check_kernels"].auto_score == 2
        assert all(alice[f"answer_{q.lower()}"].needs_manual_grade for q in QUESTIONS)
        carol = {g.name: g for g in gb.find_submission_notebook("alexnet", "alexnet", "carol").grades}
        assert carol["answer_q4b"].score == 0 and not carol["answer_q4b"].needs_manual_grade
        assert carol["answer_q1"].needs_manual_grade
        assert gb.find_submission("alexnet", "dave").score == 0
    assert (course / "autograded" / "alice" / "alexnet" / "alexnet.ipynb").exists()
    done = subprocess.run(["nbgrader", "export"], cwd=course, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    with (course / "grades.csv").open(newline="") as fh:
        exported = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert set(exported) == {"alice", "carol", "dave"}
    assert float(exported["alice"]["raw_score"]) == 6 and float(exported["alice"]["max_score"]) == 16
