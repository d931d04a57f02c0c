"""The TA's whole job in a real browser: grade a class, grade Q1 by hand in formgrader, export.

Chromium (Debian's) is driven by Playwright through formgrader's own pages, as a TA would click
and type; what it saved is then followed into nbgrader's gradebook, the export's final grades,
the Canvas import file and the student's feedback page. The class report and a feedback page are
opened in the same browser, which must report no console errors, page errors or failed loads.
Then formgrader's other views, reached by clicking from its home page as the README tells a TA,
are checked against the gradebook, and again (through nbgrader's own API, which those pages call)
after a resumed run and a `--regrade`, with `nbgrader export` run in the course root.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser_ta import COMMAND_TIMEOUT_S, STUDENTS, grade_class, run_cli
from classes import all_answers
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

from alexnet_core.contract import ASSIGNMENT, QUESTIONS, answer_cell
from autograder.course import NbgraderRoot
from autograder.export.formgrader import sync_submitted

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect
except ImportError:  # no playwright: conftest skips every test here, with the reason
    PlaywrightTimeout = TimeoutError
    expect = None

STUDENT = "ada"
OTHER = "ben"
LATE = "cy"  # not on the roster: a file of no notebook, graded after the class
Q1_POINTS = 1.5
COMMENT = "Good point about edges; say which layer's kernels you mean."
NOTEBOOK = "alexnet"  # the notebook's name in the assignment (alexnet.ipynb)
# The columns of Canvas's gradebook import file that name the student; the rest are grades.
CANVAS_IDENTITY = {"Student", "ID", "SIS User ID", "SIS Login ID", "Section"}


WAIT_MS = 30_000


@contextmanager
def waiting(what: str, formgrader=None):
    """Turn a Playwright timeout into one line saying what never happened (and the server's log)."""
    try:
        yield
    except PlaywrightTimeout:
        log = f"\nformgrader's output:\n{formgrader.output()}" if formgrader else ""
        pytest.fail(f"{what}: nothing after {WAIT_MS // 1000} s{log}")


def _saved(response_info, what: str) -> None:
    response = response_info.value
    assert response.ok, f"formgrader did not save {what}: HTTP {response.status} from {response.url}"


def _put(page, api: str, timeout: int = WAIT_MS):
    """Wait for formgrader's own save: a PUT to /formgrader/api/grade/<id> or /formgrader/api/comment/<id>."""
    return page.expect_response(lambda r: f"/formgrader/api/{api}/" in r.url and r.request.method == "PUT",
                                timeout=timeout)


def _click_until_saved(page, button, what: str, formgrader):
    """Click a grade button and wait for formgrader's save. A click can land while the page still
    moves (its pictures loading on a busy machine) and miss the button; a TA then clicks again, so
    this does too, at most three times, before saying the save never came."""
    for _ in range(2):
        try:
            with _put(page, "grade", timeout=WAIT_MS // 3) as put:
                button.click()
            return put
        except PlaywrightTimeout:
            continue
    with waiting(f"formgrader never saved {what}", formgrader), _put(page, "grade") as put:
        button.click()
    return put


def _wait_until_ready(page, formgrader) -> None:
    """formgrade.js binds the score and comment inputs only once it has fetched them from the API."""
    with waiting(f"the manual grading page {page.url} never loaded its grades and comments", formgrader):
        page.wait_for_function(
            "() => window.formgrader && formgrader.grades && formgrader.grades.loaded"
            " && formgrader.comments && formgrader.comments.loaded",
            timeout=WAIT_MS)


def _open_submission(page, formgrader, student: str) -> str:
    """From formgrader's start page to the manual grading page of `student`'s notebook; its URL."""
    page.goto(formgrader.url)  # the token URL the command printed: logs the browser in
    assert "/formgrader" in page.url, f"the formgrader URL led to {page.url}"
    page.goto(f"{formgrader.base}/formgrader/manage_students/{student}/{ASSIGNMENT}")
    link = page.locator("a[href*='/formgrader/submissions/']", has_text=NOTEBOOK).first
    with waiting(f"{page.url} never listed {student}'s notebook", formgrader):
        link.click(timeout=WAIT_MS)
        page.wait_for_url(re.compile(r".*/formgrader/submissions/[0-9a-f]+/?$"), timeout=WAIT_MS)
    _wait_until_ready(page, formgrader)
    return page.url


def _row(rows: list[dict], *keys: str) -> dict:
    """The row that names one of `keys` in any column (student id, LMS id)."""
    for row in rows:
        if set(keys) & {str(v).strip() for v in row.values()}:
            return row
    raise AssertionError(f"no row for {keys} in {rows}")


def _read_csv(path) -> list[dict]:
    assert path.exists(), f"the export wrote no {path.name} (looked for {path})"
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def test_ta_grades_q1_in_formgrader_and_the_export_carries_it(graded, formgrader, page, config):
    points = config.points.questions
    q1 = answer_cell("Q1")

    # 1. In formgrader, as a TA: Q1 gets points and a comment; the other answers get full credit.
    submission_url = _open_submission(page, formgrader, STUDENT)
    score = page.locator(f"#{q1}")
    with waiting("formgrader never saved Q1's score", formgrader), _put(page, "grade") as put:
        score.fill(str(Q1_POINTS))
        score.blur()  # formgrader saves a score on change, i.e. when the TA leaves the field
    _saved(put, "Q1's score")
    comment = page.locator(f"#{q1}-comment")
    with waiting("formgrader never saved Q1's comment", formgrader), _put(page, "comment") as put:
        comment.fill(COMMENT)
        comment.blur()
    _saved(put, "Q1's comment")
    for label in QUESTIONS[1:]:
        cell = page.locator(".nbgrader_cell", has=page.locator(f"#{answer_cell(label)}"))
        put = _click_until_saved(page, cell.locator(".full-credit"), f"{label}'s full credit", formgrader)
        _saved(put, f"{label}'s full credit")

    # 2. What the page shows after a reload is what the server kept.
    page.goto(submission_url)
    _wait_until_ready(page, formgrader)
    assert float(page.locator(f"#{q1}").input_value()) == Q1_POINTS, "Q1's score is gone after a reload"
    assert page.locator(f"#{q1}-comment").input_value() == COMMENT, "Q1's comment is gone after a reload"

    # 3. nbgrader's gradebook has it (if this fails, formgrader lost the grade; if later ones do, the export).
    with Gradebook(f"sqlite:///{graded / 'nbgrader' / 'gradebook.db'}") as gb:
        grade = gb.find_grade(q1, NOTEBOOK, ASSIGNMENT, STUDENT)
        assert grade.manual_score == Q1_POINTS, f"gradebook: Q1 manual score {grade.manual_score}, not {Q1_POINTS}"
        assert gb.find_comment(q1, NOTEBOOK, ASSIGNMENT, STUDENT).manual_comment == COMMENT
        for label in QUESTIONS[1:]:
            assert gb.find_grade(answer_cell(label), NOTEBOOK, ASSIGNMENT, STUDENT).score == points[label]
        auto_score = sum(g.score for g in gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, STUDENT).grades
                         if not g.name.startswith("answer_"))
        untouched = gb.find_grade(q1, NOTEBOOK, ASSIGNMENT, OTHER)
        assert untouched.manual_score is None, f"{OTHER}'s Q1 changed too: {untouched.manual_score}"
    expected_total = auto_score + Q1_POINTS + sum(points[label] for label in QUESTIONS[1:])

    # 4. The export: final grades, the Canvas import file, the student's feedback page.
    done = run_cli("export", str(graded), "--allow-pending")
    assert done.returncode == 0, f"alexnet-lab export --allow-pending failed:\n{done.stdout}\n{done.stderr}"
    grades = _read_csv(graded / "final" / "final_grades.csv")
    final = _row(grades, STUDENT)
    q1_values = [v for k, v in final.items() if k and k.lower().startswith("q1") and v not in ("", None)]
    assert Q1_POINTS in map(_number, q1_values), f"final_grades.csv: no Q1 of {Q1_POINTS} in {final}"
    assert COMMENT in final.values(), f"final_grades.csv: the TA's comment is not in {STUDENT}'s row: {final}"
    assert _number(final["total"]) == expected_total, f"final_grades.csv: {STUDENT}'s total {final['total']}"
    assert "Q1" in _row(grades, OTHER)["pending"], f"final_grades.csv: {OTHER}'s ungraded Q1 is not pending"
    lms_id = STUDENTS[STUDENT][0]
    canvas = _read_csv(graded / "final" / "canvas.csv")
    grade_columns = [c for c in canvas[0] if c not in CANVAS_IDENTITY]
    row = _row(canvas, lms_id)
    assert [_number(row[c]) for c in grade_columns] == [expected_total], (
        f"canvas.csv: {STUDENT}'s row (Canvas id {lms_id}) should have the total {expected_total}: {row}")
    page.goto((graded / STUDENT / "feedback.html").as_uri())  # as the student will read it
    text = " ".join(page.locator("body").inner_text().split())
    assert COMMENT in text, f"{STUDENT}'s feedback.html does not show the TA's comment on Q1"
    assert re.search(rf"\b{re.escape(f'{Q1_POINTS:g}')}\s*/\s*{points['Q1']:g}\b", text), (
        f"{STUDENT}'s feedback.html does not show Q1's {Q1_POINTS:g} / {points['Q1']:g}")
    assert re.search(rf"\b{re.escape(f'{expected_total:g}')}\s*/", text), (
        f"{STUDENT}'s feedback.html does not show the total {expected_total:g}")

def _score_text(score: float, max_score: float) -> str:
    """A score as formgrader's pages write it (roundToPrecision to 2 places, then JavaScript's number text)."""
    return f"{round(score, 2):g} / {round(max_score, 2):g}"


def _row_of(page, cell: str, text: str):
    """The table row whose `td.<cell>` reads exactly `text` (formgrader's tables are filled by JavaScript)."""
    exactly = re.compile(rf"^\s*{re.escape(text)}\s*$")
    return page.locator("tbody tr").filter(has=page.locator(f"td.{cell}", has_text=exactly))


def test_formgraders_own_views_agree_with_the_gradebook(graded, formgrader, page):
    """Every view a TA reaches by clicking from formgrader's home page shows the class the gradebook holds:
    Manage Assignments' # Submissions, Manual Grading's submissions, Manage Students' students and
    scores, the student's assignment with its link, the submission's page with the answer; and
    formgrader's own autograde button (which would run a notebook outside the sandbox) changes nothing."""
    db = f"sqlite:///{graded / 'nbgrader' / 'gradebook.db'}"
    with Gradebook(db) as gb:
        expected = {s.student.id: (s.score, s.max_score) for s in gb.find_assignment(ASSIGNMENT).submissions}
    assert set(expected) == set(STUDENTS), f"the gradebook's submissions are {sorted(expected)}"
    count = str(len(expected))

    page.goto(formgrader.url)  # the token URL the command printed: logs in, then formgrader's home page
    with waiting("formgrader's Manage Assignments never listed the assignment's submissions", formgrader):
        page.get_by_role("link", name="Manage Assignments", exact=True).click()
        submissions = _row_of(page, "name", ASSIGNMENT).locator("td.num-submissions")
        expect(submissions).to_have_text(count, timeout=WAIT_MS)

    # Manage Submissions (the # Submissions link): every student graded, with the gradebook's score.
    with waiting("formgrader's Manage Submissions never listed the class", formgrader):
        submissions.get_by_role("link").click()
        for sid, (score, max_score) in expected.items():
            row = _row_of(page, "student-id", sid)
            expect(row.locator("td.score")).to_have_text(_score_text(score, max_score), timeout=WAIT_MS)
            expect(row.locator("td.status")).not_to_contain_text("needs autograding")

    # Manual Grading: the assignment, its notebook, one submission per student.
    with waiting("formgrader's Manual Grading never listed the submissions", formgrader):
        page.get_by_role("link", name="Manual Grading", exact=True).click()
        expect(_row_of(page, "name", ASSIGNMENT).locator("td.num-submissions")).to_have_text(count, timeout=WAIT_MS)
        _row_of(page, "name", ASSIGNMENT).get_by_role("link", name=ASSIGNMENT).click()
        _row_of(page, "name", NOTEBOOK).get_by_role("link", name=NOTEBOOK).click()
        expect(page.locator("tbody tr td.name a.name-hidden")).to_have_count(len(expected), timeout=WAIT_MS)

    # Manage Students: each student's score; one student -> the assignment -> the notebook -> the answer.
    with waiting("formgrader's Manage Students never showed the class", formgrader):
        page.get_by_role("link", name="Manage Students", exact=True).click()
        for sid, (score, max_score) in expected.items():
            expect(_row_of(page, "id", sid).locator("td.score")).to_have_text(_score_text(score, max_score),
                                                                                timeout=WAIT_MS)
        _row_of(page, "id", STUDENT).locator("td.name a").click()
        assignment = _row_of(page, "name", ASSIGNMENT)
        expect(assignment.locator("td.score")).to_have_text(_score_text(*expected[STUDENT]), timeout=WAIT_MS)
        assignment.get_by_role("link", name=ASSIGNMENT).click()
        _row_of(page, "name", NOTEBOOK).get_by_role("link", name=NOTEBOOK).click()
        page.wait_for_url(re.compile(r".*/formgrader/submissions/[0-9a-f]+/?$"), timeout=WAIT_MS)
    _wait_until_ready(page, formgrader)
    shown = " ".join(page.locator("body").inner_text().split())
    for label, text in all_answers(STUDENT).items():
        assert " ".join(text.split()) in shown, f"{STUDENT}'s submission page does not show their {label} answer"

    # formgrader's autograde button would run nbgrader's autograde here, outside the sandbox: it must
    # refuse and leave the notebook formgrader shows and the gradebook as they were.
    autograded = graded / "nbgrader" / "autograded" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    before = autograded.read_bytes()
    page.goto(formgrader.url)
    with waiting("formgrader's autograde button never answered", formgrader):
        _row_of(page, "name", ASSIGNMENT).locator("td.num-submissions a").click()
        with page.expect_response(lambda r: r.url.endswith(f"/{STUDENT}/autograde"), timeout=WAIT_MS) as answered:
            _row_of(page, "student-id", STUDENT).locator("td.autograde a").click()
    assert answered.value.ok and answered.value.json()["success"] is False, (
        f"formgrader's autograde of {STUDENT} did not refuse: {answered.value.text()[:500]}")
    assert autograded.read_bytes() == before, "formgrader's autograde rewrote the notebook it shows"
    with Gradebook(db) as gb:
        submission = gb.find_submission(ASSIGNMENT, STUDENT)
        assert (submission.score, submission.max_score) == expected[STUDENT], (
            "formgrader's autograde changed the grades")


def _number(value) -> float | None:
    try:
        return float(str(value).strip().strip("'"))
    except ValueError:
        return None


@pytest.mark.parametrize("page_name", ["report.html", f"{STUDENT}/feedback.html"])
def test_report_and_feedback_open_without_errors(graded, page, page_name):
    path = graded / page_name
    assert path.exists(), f"no {page_name} in the grading output"
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_load_state("networkidle")
    assert page.locator("body").inner_text().strip(), f"{page_name} shows nothing"
    assert not page.log.errors, f"{page_name} in Chromium:\n" + "\n".join(page.log.errors)


def _nbgrader_views(root, students) -> dict:
    """What nbgrader's own API (the one formgrader's pages call) says: the assignment's # submissions,
    the notebook's submissions, and per student (submitted, autograded, score, timestamp, notebooks listed)."""
    settings = Config()
    settings.CourseDirectory.root = str(root)
    api = NbGraderAPI(config=settings)
    views = {"# submissions": api.get_assignment(ASSIGNMENT)["num_submissions"],
             "notebook submissions": len(api.get_notebook_submissions(ASSIGNMENT, NOTEBOOK))}
    for sid in students:
        sub = api.get_submission(ASSIGNMENT, sid)
        listed = [nb["name"] for nb in api.get_student_notebook_submissions(sid, ASSIGNMENT) if nb["id"]]
        views[sid] = (sub["submitted"], sub["autograded"], sub["score"], sub["timestamp"], listed)
    return views


def test_a_class_graded_without_the_records_is_brought_in_line(graded, formgrader, config):
    """A class graded before `grade` wrote nbgrader's submitted/ records (or one whose timestamp
    drifted): what `alexnet-lab formgrader` does before it serves puts every view right again."""
    root = graded / "nbgrader"
    before = _nbgrader_views(root, STUDENTS)
    shutil.rmtree(root / "submitted")
    (root / "submitted" / OTHER / ASSIGNMENT).mkdir(parents=True)
    (root / "submitted" / OTHER / ASSIGNMENT / "timestamp.txt").write_text("2001-01-01 00:00:00.000000 UTC")
    assert _nbgrader_views(root, STUDENTS)["# submissions"] == 1  # what formgrader showed such a class
    assert sync_submitted(NbgraderRoot(root, config.course)) == len(STUDENTS)
    assert _nbgrader_views(root, STUDENTS) == before
    assert sync_submitted(NbgraderRoot(root, config.course)) == 0, "a second pass changed something again"


def test_resumed_and_regraded_runs_keep_formgraders_views_in_line_with_the_gradebook(graded, formgrader):
    """A file that is not a notebook gets a gradebook submission without a notebook; the resumed run
    grades it again (a failed submission is not done) and so does `--regrade`, each with a new
    timestamp (a loose file carries none): what formgrader counts must follow the gradebook each time.
    (Last in this module: it adds a student to the shared class.)"""
    root = graded / "nbgrader"
    before = _nbgrader_views(root, STUDENTS)
    broken = graded.parent / "late" / f"{LATE}.ipynb"
    broken.parent.mkdir(exist_ok=True)
    broken.write_text("not a notebook: the student uploaded the wrong file\n")
    stamps = []
    for extra in ((), (), ("--regrade",)):
        grade_class([broken], graded, None, *extra)
        views = _nbgrader_views(root, [*STUDENTS, LATE])
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            score = gb.find_submission(ASSIGNMENT, LATE).score
        assert views[LATE][:3] + (views[LATE][4],) == (True, True, score, []), (
            f"after `grade {' '.join(extra)}` nbgrader says of {LATE}: {views[LATE]} (the gradebook's score: {score})")
        assert (views["# submissions"], views["notebook submissions"]) == (len(STUDENTS) + 1, len(STUDENTS)), views
        assert all(views[sid] == before[sid] for sid in STUDENTS), f"grading {LATE} changed the others: {views}"
        stamps.append(views[LATE][3])
    assert len(set(stamps)) == len(stamps), f"the runs kept {LATE}'s timestamp ({stamps}): they tested nothing"

    # `nbgrader export`, run in the course root as nbgrader's docs say: every submission, the gradebook's score.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run([sys.executable, "-m", "nbgrader", "export"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, f"nbgrader export in {root} failed:\n{done.stdout}\n{done.stderr}"
    exported = {row["student_id"]: float(row["score"]) for row in _read_csv(root / "grades.csv")}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}
    assert exported == scores, f"nbgrader export wrote {exported}; the gradebook holds {scores}"
