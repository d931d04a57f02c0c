"""The class report: `report.html` for the TA and `questions/<label>.html`, one per question.

Built from the recorded results only (never from notebooks), so it can be rewritten while a batch
runs. Near-duplicate answers are found by `duplicates.py` (bounded in the answers' length).
Every string a student controls reaches these pages through Jinja's autoescaping, and links are
URL-encoded.
"""
from __future__ import annotations

import functools
import json
import statistics
from pathlib import Path

from alexnet_core.contract import is_short
from autograder.authoring.render import rubric_notes
from autograder.course import OutputFolder
from autograder.files import atomic_write
from autograder.reports import charts, identity
from autograder.reports.duplicates import DuplicatePair, copy_groups, group_by_students, near_duplicates
from autograder.reports.feedback import templates
from autograder.sources import Lateness, lateness_of
from autograder.submission.results import FAILED, SubmissionResult
from autograder.urls import DEFAULT_PORT, formgrader_url, grading_page_url, submission_url
from grading_config import GradingConfig

__all__ = ["DuplicatePair", "group_by_students", "near_duplicates", "rubric", "write_report"]


def _stats(values: list[float]) -> dict:
    if not values:
        return {}
    return {"n": len(values), "mean": statistics.fmean(values), "median": statistics.median(values),
            "min": min(values), "max": max(values)}


@functools.lru_cache(maxsize=4)
def rubric(master: Path) -> dict[str, str]:
    """The TA's rubric notes by question label, from the master (they never reach the release).
    Read once per process: the report is rewritten after every result."""
    return rubric_notes(master)


def _gradebook_side(out: OutputFolder, student_id: str) -> dict:
    """What record.py noted from the gradebook for a student: formgrader's submission id, stray text."""
    try:
        data = json.loads((out.student(student_id) / "gradebook.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_report(out: OutputFolder, results: list[SubmissionResult], problems: list, config: GradingConfig,
                 master: Path, late: dict[str, Lateness] | None = None, sides: dict[str, dict] | None = None) -> Path:
    """Write `report.html` and `questions/<label>.html`; return the report's path. `late`: student
    id -> Lateness, when the caller has it already (the recorder, which also writes grades.csv).
    `sides`: student id -> their gradebook.json, a cache the caller keeps between rewrites (filled
    here with the students it lacks; the caller drops a student's entry when it rewrites the file)."""
    results = sorted(results, key=lambda r: r.student_id)
    graded = [r for r in results if r.status != FAILED]
    failed = [r for r in results if r.status == FAILED]
    accuracies = [r.final_accuracy for r in results if r.final_accuracy is not None]
    totals = [r.total for r in results]
    seconds = [r.seconds for r in results if r.seconds]
    auto_max = max((r.auto_max for r in results), default=0)
    pairs = near_duplicates(results, config.runners.near_duplicate_ratio)
    evidence = [r for r in results for c in r.checks if c.name == "evidence" and not c.passed and r.status != FAILED]
    labels = list(config.points.questions)
    env = templates()

    html = env.get_template("report.html.j2").render(
        results=results,
        graded=graded,
        failed=failed,
        problems=problems,
        accuracy_chart=charts.histogram(accuracies, "final test accuracy (%)", value_range=(0, 100)),
        total_chart=charts.histogram(totals, f"automatic points (of {auto_max:g})", bins=max(int(auto_max), 1),
                                     value_range=(0, max(auto_max, 1))),
        time_chart=charts.histogram(seconds, "seconds per submission"),
        accuracy_stats=_stats(accuracies),
        total_stats=_stats(totals),
        time_stats=_stats(seconds),
        auto_max=auto_max,
        pairs=pairs,
        pair_rows=group_by_students(pairs),
        groups=copy_groups(pairs, tuple(config.points.questions)),
        late=late if late is not None else {r.student_id: lateness_of(r.source, config.late.due) for r in results},
        threshold=config.runners.near_duplicate_ratio,
        evidence=evidence,
        flagged=[r for r in results if r.flags],
        labels=labels,
        grading=grading_page_url(DEFAULT_PORT),
    )
    # Whose run each submission carries (per-student seeds): its own section, before the last table.
    html = html.replace("</body>", identity.section(results, env) + "</body>", 1)
    path = out.report
    atomic_write(path, html)

    duplicates_of: dict[tuple[str, str], list[str]] = {}
    for p in pairs:
        duplicates_of.setdefault((p.label, p.a), []).append(p.b)
        duplicates_of.setdefault((p.label, p.b), []).append(p.a)
    page = env.get_template("question.html.j2")
    sides = {} if sides is None else sides
    for r in results:
        if r.student_id not in sides:
            sides[r.student_id] = _gradebook_side(out, r.student_id)

    for label in labels:
        rows = []
        for r in results:
            answer = next((a for a in r.answers if a.label == label), None)
            side = sides[r.student_id]
            rows.append({
                "student_id": r.student_id,
                "answer": answer,
                "short": bool(answer and answer.answered and is_short(answer.text, config.points.min_chars(label))),
                "stray": side.get("stray", {}).get(label),
                "formgrader": submission_url(side["submission_id"]) if side.get("submission_id") else "",
                "same_as": sorted(duplicates_of.get((label, r.student_id), [])),
            })
        atomic_write(out.questions / f"{label}.html", page.render(
            label=label, rows=rows, points=config.points.questions[label], rubric=rubric(Path(master)).get(label, ""),
            min_chars=config.points.min_chars(label), formgrader=formgrader_url(DEFAULT_PORT), port=DEFAULT_PORT,
            grading=grading_page_url(DEFAULT_PORT, question=label)))
    return path
