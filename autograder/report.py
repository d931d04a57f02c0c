"""The class report: `report.html` for the TA and `questions/<label>.html`, one per question.

Built from the recorded results only (never from notebooks), so it can be rewritten after every
result in milliseconds. Near-duplicate answers are compared pairwise with difflib; pair ratios
are cached by text, so a growing batch compares each new answer once against the others.
"""
from __future__ import annotations

import difflib
import hashlib
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from autograder import charts
from autograder.feedback import templates
from autograder.results import FAILED, SubmissionResult
from grading_config import CONFIG, GradingConfig

_ratio_cache: dict[tuple[str, str], float] = {}


@dataclass
class DuplicatePair:
    label: str
    a: str
    b: str
    ratio: float

    @property
    def identical(self) -> bool:
        return self.ratio >= 0.999


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _similarity(x: str, y: str, threshold: float) -> float:
    """difflib ratio of two normalised answers; cheap upper bounds first, cached by content."""
    if x == y:
        return 1.0
    key = tuple(sorted((hashlib.sha1(x.encode()).hexdigest(), hashlib.sha1(y.encode()).hexdigest())))
    if key not in _ratio_cache:
        matcher = difflib.SequenceMatcher(None, x, y, autojunk=False)
        if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
            _ratio_cache[key] = 0.0  # below the threshold: the exact value is never shown
        else:
            _ratio_cache[key] = matcher.ratio()
    return _ratio_cache[key]


def near_duplicates(results: list[SubmissionResult], threshold: float) -> list[DuplicatePair]:
    """Pairs of students whose answer to one question is identical or nearly so."""
    by_label: dict[str, list[tuple[str, str]]] = {}
    for r in results:
        for a in r.answers:
            if a.answered and a.text.strip():
                by_label.setdefault(a.label, []).append((r.student_id, _normalise(a.text)))
    pairs = []
    for label, answers in by_label.items():
        answers.sort()
        for i, (sa, ta) in enumerate(answers):
            for sb, tb in answers[i + 1:]:
                ratio = _similarity(ta, tb, threshold)
                if ratio >= threshold:
                    pairs.append(DuplicatePair(label, sa, sb, ratio))
    pairs.sort(key=lambda p: (-p.ratio, p.label, p.a, p.b))
    return pairs


def group_by_students(pairs: list[DuplicatePair]) -> list[dict]:
    """One row per pair of students with every question they share, most shared first."""
    grouped: dict[tuple[str, str], list[DuplicatePair]] = {}
    for p in pairs:
        grouped.setdefault((p.a, p.b), []).append(p)
    rows = [{"a": a, "b": b, "pairs": sorted(ps, key=lambda p: p.label)} for (a, b), ps in grouped.items()]
    rows.sort(key=lambda r: (-len(r["pairs"]), -max(p.ratio for p in r["pairs"]), r["a"], r["b"]))
    return rows


def _stats(values: list[float]) -> dict:
    if not values:
        return {}
    return {"n": len(values), "mean": statistics.fmean(values), "median": statistics.median(values),
            "min": min(values), "max": max(values)}


def write_report(out: Path, results: list[SubmissionResult], problems: list, config: GradingConfig = CONFIG) -> Path:
    """Write `out/report.html` and `out/questions/<label>.html`; return the report's path."""
    from autograder.record import atomic_write  # record imports this module lazily too

    results = sorted(results, key=lambda r: r.student_id)
    graded = [r for r in results if r.status != FAILED]
    failed = [r for r in results if r.status == FAILED]
    accuracies = [r.final_accuracy for r in results if r.final_accuracy is not None]
    totals = [r.total for r in results]
    seconds = [r.seconds for r in results if r.seconds]
    auto_max = max((sum(c.max_score for c in r.checks if c.grade_id) for r in results), default=0)
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
        threshold=config.runners.near_duplicate_ratio,
        evidence=evidence,
        flagged=[r for r in results if r.flags],
        labels=labels,
    )
    path = out / "report.html"
    atomic_write(path, html)

    duplicates_of: dict[tuple[str, str], list[str]] = {}
    for p in pairs:
        duplicates_of.setdefault((p.label, p.a), []).append(p.b)
        duplicates_of.setdefault((p.label, p.b), []).append(p.a)
    page = env.get_template("question.html.j2")
    for label in labels:
        rows = []
        for r in results:
            answer = next((a for a in r.answers if a.label == label), None)
            rows.append({
                "student_id": r.student_id,
                "answer": answer,
                "same_as": sorted(duplicates_of.get((label, r.student_id), [])),
            })
        atomic_write(out / "questions" / f"{label}.html", page.render(label=label, rows=rows, points=config.points.questions[label]))
    return path
