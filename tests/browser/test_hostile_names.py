"""A roster name is text in formgrader (issue 19): nbgrader's templates print first_name and last_name
unescaped, so a name holding markup must reach the gradebook without it. Formgrader's Manage Students
page and a submission's page are opened in the real Chromium; no dialog may fire and the name shows.

This module grades its own small class (no kernel runs: the one notebook is refused) and serves it
with conftest's `formgrader` fixture, which takes this module's `graded`.
"""
from __future__ import annotations

import csv

import nbformat
import pytest
from browser_ta import grade_class
from nbgrader.api import Gradebook

from alexnet_core.contract import ASSIGNMENT

HOSTILE_FIRST = "<img src=x onerror=alert(1)>"
LAST = "Smith"
SHOWN_FIRST = "\u2039img src=x onerror=alert(1)\u203a"
STUDENT = "eve"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A roster whose name holds an <img onerror>, and that student's (refused) notebook, graded: OUT."""
    base = tmp_path_factory.mktemp("hostile_names")
    inbox = base / "inbox"
    inbox.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), str(inbox / f"{STUDENT}.ipynb"))
    roster = base / "roster.csv"
    with roster.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "first_name", "last_name"])
        writer.writerow([STUDENT, HOSTILE_FIRST, LAST])
    out = base / "out"
    grade_class([inbox], out, roster)
    assert (out / STUDENT / "graded.json").exists()
    return out


def _dialogs(page) -> list[str]:
    fired: list[str] = []

    def dismiss(dialog):
        fired.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return fired


def test_a_roster_name_with_markup_shows_as_text_in_formgrader(graded, formgrader, page):
    fired = _dialogs(page)
    page.goto(formgrader.url)  # the token URL: logs the browser in
    page.goto(f"{formgrader.base}/formgrader/manage_students")
    row = page.locator("tr", has_text=LAST).first
    row.wait_for(timeout=WAIT_MS)
    assert f"{LAST}, {SHOWN_FIRST}" in row.inner_text()
    assert page.locator("img[onerror]").count() == 0

    with Gradebook(f"sqlite:///{graded / 'nbgrader' / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, STUDENT).id
    page.goto(f"{formgrader.base}/formgrader/submissions/{submission}/")
    reveal = page.locator("span.glyphicon-eye-open.name-hidden").first  # the TA shows the student's name
    reveal.click(timeout=WAIT_MS)
    name = page.locator("a.name-shown").first  # nbgrader's template prints the names here unescaped
    name.wait_for(state="visible", timeout=WAIT_MS)
    assert name.inner_text().strip() == f"{LAST}, {SHOWN_FIRST}"
    assert page.locator("img[onerror]").count() == 0
    page.wait_for_timeout(500)  # an <img src=x> would have failed to load by now
    assert fired == [], f"a dialog fired: {fired}"
