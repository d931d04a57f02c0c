"""Per-student feedback: `feedback.html` (pictures and a checklist) and `gradescope.json` (Gradescope's results.json schema).

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

MANUAL_NOTE = "answered: a TA grades this by hand"
UNANSWERED_NOTE = "not answered (still the placeholder, or too short): 0 points"


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
def checklist(result: SubmissionResult) -> list[dict]:
    """One row per automatic check and per question: name, score, max, what happened."""
    rows = []
    for check in result.checks:
        if not check.grade_id:
            continue
        rows.append({
            "name": check.name.replace("_", " "),
            "score": check.score,
            "max_score": check.max_score,
            "status": "passed" if check.passed else "failed",
            "output": check.reason or "all points",
        })
    for answer in result.answers:
        rows.append({
            "question": answer.label,
            "name": f"Question {answer.label}",
            "score": None if answer.answered else 0.0,
            "max_score": answer.max_score,
            "status": "pending" if answer.answered else "failed",
            "output": MANUAL_NOTE if answer.answered else UNANSWERED_NOTE,
        })
    return rows


def gradescope_json(result: SubmissionResult) -> dict:
    """Gradescope's autograder schema; valid for failed runs too (every test at 0, with why)."""
    tests = []
    for row in checklist(result):
        tests.append({
            "name": row["name"],
            "score": row["score"] or 0.0,
            "max_score": row["max_score"],
            "status": "passed" if row["status"] == "passed" else "failed",
            "output": row["output"],
            "visibility": "visible",
        })
    if result.status == FAILED and not tests:
        tests.append({
            "name": "notebook runs",
            "score": 0.0,
            "max_score": 0.0,
            "status": "failed",
            "output": result.reason,
            "visibility": "visible",
        })
    summary = result.reason if result.status == FAILED else "Automatic checks done; written answers are graded by hand."
    return {
        "score": float(result.total),
        "execution_time": round(float(result.seconds), 1),
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def feedback_html(result: SubmissionResult, final: dict | None = None) -> str:
    """The student's page: what was checked, why points were lost, and the pictures. `final` (from
    `alexnet-lab export`, export/final.py: final_view) adds the TA's points and comments per
    question, the late penalty and the final total; without it the page says answers wait for a TA."""
    return templates().get_template("feedback.html.j2").render(
        final=final,
        r=result,
        failed=result.status == FAILED,
        # With the final grade, answers are in the TA's table; the checklist keeps the automatic checks.
        rows=[row for row in checklist(result) if not (final and row.get("question"))],
        trajectory=trajectory_chart(result),
        kernels=kernel_images(result.executed_notebook),
        auto_total=result.total,
        auto_max=result.auto_max,
        manual_max=sum(a.max_score for a in result.answers if a.answered),
    )
