"""Per-student feedback: `feedback.html` (pictures and a checklist) and `gradescope.json` (Gradescope's results.json).

Both are built from a `SubmissionResult` alone, so a failed run still gets both files. Nothing
here reads a grade cell's source: hidden checks never reach a student (nbgrader issue #917).
"""
from __future__ import annotations

import base64
from functools import lru_cache

import nbformat
from jinja2 import Environment, PackageLoader, select_autoescape

from alexnet_core.contract import PLOT_MIME, kernel_role, mime_record
from autograder.reports import charts
from autograder.submission.results import FAILED, SubmissionResult
from autograder.submission.stray import STRAY_FLAGS, stray_by_question

MANUAL_NOTE = "answered: a TA grades this by hand"
UNANSWERED_NOTE = "not answered (still the placeholder, or too short): 0 points"
STRAY_NOTE = "text written outside the answer cell near this question: a TA decides"


@lru_cache(maxsize=1)
def templates() -> Environment:
    """The Jinja environment of autograder/reports/templates (autoescaped HTML)."""
    env = Environment(loader=PackageLoader("autograder.reports", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["points"] = lambda x: "" if x is None else f"{float(x):g}"
    return env


# -- figures --------------------------------------------------------------------------------
def envelope_bounds(details: dict) -> tuple[list[float], list[float]] | None:
    """(lower, upper) per epoch from the trajectory check's details (the envelope it judged by)."""
    lower, upper = details.get("lower"), details.get("upper")
    if isinstance(lower, list) and isinstance(upper, list):
        return [float(v) for v in lower], [float(v) for v in upper]
    return None


def trajectory_chart(result: SubmissionResult) -> dict | None:
    """Test accuracy per epoch: our re-run, the student's own run, the reference envelope, the floor."""
    check = next((c for c in result.checks if c.name == "trajectory"), None)
    details = check.details if check else {}
    return charts.trajectory((result.trajectory_rerun or {}).get("accuracy"),
                             (result.trajectory_submitted or {}).get("accuracy"),
                             envelope_bounds(details), details.get("floor"))


def kernel_images(executed_notebook: str | None) -> list[dict]:
    """The kernel plots of the executed notebook: {'src': data URI, 'caption': ...} each."""
    if not executed_notebook:
        return []
    try:
        nb = nbformat.reads(executed_notebook, as_version=4)
    except Exception:  # a result from a broken run: no pictures rather than no feedback
        return []
    images = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            meta, png = mime_record(out, PLOT_MIME), (out.get("data") or {}).get("image/png")
            if meta is None or meta.get("kind") != "kernels" or not png:
                continue
            role = kernel_role(meta)  # the contract's reading of which weights a plot shows
            trained = meta.get("epochs_trained")
            when = f"after {trained} epochs" if role == "trained" else role
            caption = f"{meta.get('model', 'model')}, layer {meta.get('layer_index', 0)}: {when}"
            if meta.get("standin"):
                caption += " (stand-in weights)"
            png = png if isinstance(png, str) else base64.b64encode(png).decode()
            images.append({"src": "data:image/png;base64," + png.replace("\n", ""), "caption": caption})
    return images


# -- the checklist both files share ---------------------------------------------------------
def _check_output(check) -> str:
    if check.reason:
        return check.reason
    return "all points" if check.passed else f"{check.score:g} of {check.max_score:g} points (no reason recorded)"


def _stray_questions(result: SubmissionResult, executed_notebook: str | None) -> set[str]:
    """Unanswered questions the gradebook leaves to a TA because the student wrote text outside
    the answer cells near them (the rule batch/record.py applies to the gradebook)."""
    if not any(marker in flag for flag in result.flags for marker in STRAY_FLAGS):
        return set()
    unanswered = {a.label for a in result.answers if not a.answered}
    try:
        nb = nbformat.reads(executed_notebook or result.executed_notebook or "", as_version=4)
    except Exception:  # no notebook (a failed run): record.py's rule without one
        return unanswered
    found = stray_by_question(nb, result.flags, tuple(a.label for a in result.answers))
    return set(found) & unanswered if found else unanswered


def checklist(result: SubmissionResult, executed_notebook: str | None = None) -> list[dict]:
    """One row per automatic check and per question: name, score, max, what happened. A score of
    None is an answer waiting for a TA: never shown as 0."""
    stray = _stray_questions(result, executed_notebook)
    rows = []
    for check in result.checks:
        if not check.grade_id:
            continue
        rows.append({
            "name": check.name.replace("_", " "),
            "score": check.score,
            "max_score": check.max_score,
            "status": "passed" if check.passed else "failed",
            "output": _check_output(check),
        })
    for answer in result.answers:
        row = {"question": answer.label, "name": f"Question {answer.label}", "max_score": answer.max_score}
        if answer.answered and answer.auto_score is not None:  # scored by the grader (Q3a's own number)
            row.update(score=answer.auto_score, status="passed" if answer.auto_score >= answer.max_score else "failed",
                       output=answer.note or "scored automatically")
        elif answer.answered:
            row.update(score=None, status="pending", output=MANUAL_NOTE)
        elif answer.label in stray:
            row.update(score=None, status="pending", output=STRAY_NOTE)
        else:
            row.update(score=0.0, status="failed", output=UNANSWERED_NOTE)
        rows.append(row)
    return rows


# -- Gradescope's results.json ("Autograder Specifications") ----------------------------------
# A test's "score" is optional when the top level has one, and the top-level "score" overrides
# the sum of the tests. So an answer waiting for a TA is a test with its max_score and no score
# and no status (never 0, never "failed"), and the top level always carries the points known so
# far, with an "output" that says they are not final.
PENDING = "pending"
TEXT = "text"
"""Every string Gradescope shows (names, outputs) is declared plain text: its default for outputs
renders some HTML, and outputs carry what students wrote (a file name, an answer's reason)."""


def gradescope_test(name: str, max_score: float, score: float | None, output: str) -> dict:
    """One entry of results.json's `tests`; `score` None: waiting for a TA."""
    test = {"name": name, "name_format": TEXT, "max_score": float(max_score), "output": output,
            "output_format": TEXT, "visibility": "visible"}
    if score is None:
        test["tags"] = [PENDING]
    else:
        test["score"] = float(score)
        test["status"] = "passed" if score >= max_score else "failed"
    return test


def gradescope_results(tests: list[dict], score: float, output: str, seconds: float | None = None) -> dict:
    """The whole results.json: the points known so far at the top, the tests under them."""
    data = {"score": float(score), "output": output, "output_format": TEXT, "test_output_format": TEXT,
            "test_name_format": TEXT, "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}
    if seconds is not None:
        data["execution_time"] = round(float(seconds), 1)
    return data


def pending_note(rows: list[dict]) -> str:
    """' Q1, Q2 (4 points) wait for a TA: ...' for rows whose score is None, else ''."""
    waiting = [r for r in rows if r["score"] is None]
    if not waiting:
        return ""
    names = ", ".join(r.get("question") or r["name"] for r in waiting)
    worth = sum(float(r["max_score"]) for r in waiting)
    return f" {names} ({worth:g} points) wait for a TA: this score is not the final grade."


def checks_total(result: SubmissionResult) -> float:
    """Points of the automatic checks alone (`result.total` adds answers the grader scored)."""
    return sum(c.score for c in result.checks if c.grade_id)


def gradescope_json(result: SubmissionResult) -> dict:
    """Gradescope's results.json for a graded run: automatic points scored, answers that wait for
    a TA without a score; valid for failed runs too (every test at 0, with why)."""
    rows = checklist(result)
    tests = [gradescope_test(r["name"], r["max_score"], r["score"], r["output"]) for r in rows]
    if result.status == FAILED and not tests:
        tests.append(gradescope_test("notebook runs", 0.0, 0.0, result.reason))
    if result.status == FAILED:
        summary = result.reason
    else:
        summary = f"Automatic checks: {checks_total(result):g} of {result.auto_max:g} points." + pending_note(rows)
    return gradescope_results(tests, result.total, summary, result.seconds)


def feedback_html(result: SubmissionResult, final: dict | None = None, executed_notebook: str | None = None) -> str:
    """The student's page: what was checked, why points were lost, and the pictures. `final` (from
    `alexnet-lab export`, export/final.py: final_view) adds the TA's points and comments per
    question, the late penalty and the final total; without it the page says answers wait for a TA.
    `executed_notebook`: where the pictures come from when `result` no longer carries the notebook
    (graded.json never does; export reads OUT/<id>/executed.ipynb)."""
    return templates().get_template("feedback.html.j2").render(
        final=final,
        r=result,
        failed=result.status == FAILED,
        # With the final grade, answers are in the TA's table; the checklist keeps the automatic checks.
        rows=[row for row in checklist(result, executed_notebook) if not (final and row.get("question"))],
        trajectory=trajectory_chart(result),
        kernels=kernel_images(executed_notebook or result.executed_notebook),
        auto_total=checks_total(result),
        auto_max=result.auto_max,
        manual_max=sum(a.max_score for a in result.answers if a.answered and a.auto_score is None),
    )
