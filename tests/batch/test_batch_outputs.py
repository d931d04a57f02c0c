"""What a TA gets from grading a mixed class with the local pool: CSV, gradebook, feedback, report."""
import csv
import json
import re
import subprocess

import nbformat
from bs4 import BeautifulSoup
from nbgrader.api import Gradebook

from autograder.authoring.render import rubric_notes
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
    # Graded with per-student seeds off, a release built with them on: nothing of alice's is
    # "edited" (the release is compared as it was built, from its stamp).
    assert alice["flags"] == "", alice["flags"]
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
        # What students wrote reaches these strings: Gradescope is told they are plain text.
        assert [data[k] for k in ("output_format", "test_output_format", "test_name_format")] == ["text"] * 3
        for test in data["tests"]:
            assert {"name", "max_score", "output", "visibility"} <= set(test)
            assert test["output_format"] == test["name_format"] == "text"
            # An answer waiting for a TA has no score and no status (never 0); every other test has both.
            assert ("score" in test) == ("status" in test)
            assert "score" not in test or 0 <= test["score"] <= test["max_score"]
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


def _sections(html: str) -> dict[str, list]:
    """The page's parts as a reader sees them: each h2's title -> the elements under it."""
    soup = BeautifulSoup(html, "html.parser")
    found = {}
    for h2 in soup.find_all("h2"):
        body = []
        for sibling in h2.find_next_siblings():
            if sibling.name == "h2":
                break
            body.append(sibling)
        found[h2.get_text(" ", strip=True)] = body
    return found


def _section(html: str, title: str) -> list:
    """The elements under the h2 whose title starts with `title`."""
    matches = [body for head, body in _sections(html).items() if head.startswith(title)]
    assert len(matches) == 1, f"no single section {title!r} in {list(_sections(html))}"
    return matches[0]


def _text(elements) -> str:
    return " ".join(e.get_text(" ", strip=True) for e in elements)


def _table_rows(elements) -> list[list[str]]:
    """The body rows of the tables among `elements`, as lists of cell texts."""
    return [[td.get_text(" ", strip=True) for td in tr.find_all("td")]
            for e in elements for tr in e.find_all("tr") if tr.find("td")]


def test_report_shows_failures_flags_duplicates_and_question_pages(graded_class, course):
    out, _ = graded_class
    report = (out / "report.html").read_text()
    assert [row[0] for row in _table_rows(_section(report, "Failures"))] == ["dave"]
    assert [row[0] for row in _table_rows(_section(report, "Evidence mismatches"))] == ["carol"]
    duplicates = _table_rows(_section(report, "Identical or nearly identical"))
    assert [row[0] for row in duplicates] == ["alice, carol"]  # one group (issue 11: groups, not pairs)
    assert re.fullmatch(r"Q1 \( ?identical ?\), Q2 \(\d+ ?%\)", duplicates[0][1]), duplicates[0][1]
    assert "notes.txt" in _text(_section(report, "Input problems"))
    assert len(BeautifulSoup(report, "html.parser").find_all("svg")) >= 2  # accuracy and totals distributions
    q1 = _sections((out / "questions" / "Q1.html").read_text())
    assert {"alice", "carol", "dave"} <= set(q1)
    q4b = _sections((out / "questions" / "Q4b.html").read_text())
    assert "Alice on Q4b" in _text(q4b["alice"]) and "Unanswered (0 points)" in _text(q4b["carol"])
    # The TA reads each question's rubric from the master beside the answers.
    rubric = " ".join(rubric_notes(course.master)["Q4b"].split())
    assert rubric[:60] in " ".join(_text(q4b["Rubric"]).split())


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
