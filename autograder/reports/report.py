"""The class report: `report.html` for the TA and `questions/<label>.html`, one per question.

Built from the recorded results only (never from notebooks), so it can be rewritten while a batch
runs. Near-duplicate answers: each distinct (normalised) answer to a question is compared once,
when it first appears, against the answers seen before it; the pairs at or above the threshold are
kept, so a rewrite costs one pass over the answers, not a comparison of every pair of students.
"""
from __future__ import annotations

import difflib
import functools
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from autograder.authoring.render import rubric_notes
from autograder.course import OutputFolder
from autograder.files import atomic_write
from autograder.reports import charts
from autograder.reports.feedback import templates
from autograder.submission.results import FAILED, SubmissionResult
from grading_config import GradingConfig

try:  # a dependency of nbgrader; without it every pair goes through difflib's own bounds
    from rapidfuzz import process as _rf_process
    from rapidfuzz.distance import Indel as _Indel
except ImportError:  # pragma: no cover
    _rf_process = _Indel = None


@dataclass
class DuplicatePair:
    label: str
    a: str
    b: str
    ratio: float

    @property
    def identical(self) -> bool:
        return self.ratio >= 0.999


@functools.lru_cache(maxsize=1 << 16)
def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _similarity(x: str, y: str, threshold: float) -> float:
    """difflib ratio of two normalised answers, or 0.0 when it is surely below `threshold`.

    The pair is put in a fixed order (difflib's ratio is not quite symmetric), so the value does
    not depend on which student's answer arrived first.
    """
    if x == y:
        return 1.0
    a, b = (x, y) if x < y else (y, x)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
        return 0.0  # below the threshold: the exact value is never shown
    return matcher.ratio()


class _AnswerIndex:
    """The distinct answers to one question seen so far, and which pairs of them are alike."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.texts: list[str] = []
        self.known: set[str] = set()
        self.alike: dict[str, dict[str, float]] = {}
        """text -> {other text: ratio} for the pairs at or above the threshold."""

    def add(self, text: str) -> None:
        if text in self.known:
            return
        for other in self._candidates(text):
            ratio = _similarity(text, other, self.threshold)
            if ratio >= self.threshold:
                self.alike.setdefault(text, {})[other] = ratio
                self.alike.setdefault(other, {})[text] = ratio
        self.texts.append(text)
        self.known.add(text)

    def _candidates(self, text: str) -> list[str]:
        if _rf_process is None or not self.texts:
            return self.texts
        # Indel similarity is 2*LCS/(len a + len b): an upper bound of difflib's ratio (its matching
        # blocks are a common subsequence), computed in C. The margin covers float rounding.
        hits = _rf_process.extract(text, self.texts, scorer=_Indel.normalized_similarity, processor=None,
                                   score_cutoff=max(0.0, self.threshold - 1e-9), limit=None)
        return [self.texts[i] for _, _, i in hits]


_indexes: dict[tuple[str, float], _AnswerIndex] = {}


def _index_for(label: str, threshold: float, present: int) -> _AnswerIndex:
    index = _indexes.get((label, threshold))
    # Answers of earlier batches in this process (or regraded ones) only cost comparisons: start
    # afresh when they outnumber the answers in hand.
    if index is None or len(index.texts) > 2 * present + 500:
        index = _indexes[(label, threshold)] = _AnswerIndex(threshold)
    return index


def near_duplicates(results: list[SubmissionResult], threshold: float) -> list[DuplicatePair]:
    """Pairs of students whose answer to one question is identical or nearly so."""
    by_label: dict[str, dict[str, list[str]]] = {}
    for r in results:
        for a in r.answers:
            if a.answered and a.text.strip():
                by_label.setdefault(a.label, {}).setdefault(_normalise(a.text), []).append(r.student_id)
    pairs = []
    for label, students_of in by_label.items():
        index = _index_for(label, threshold, len(students_of))
        for text in students_of:
            index.add(text)
        for text, students in students_of.items():
            students.sort()
            for i, sa in enumerate(students):  # the same answer, word for word once normalised
                for sb in students[i + 1:]:
                    pairs.append(DuplicatePair(label, sa, sb, 1.0))
            for other, ratio in index.alike.get(text, {}).items():
                if other > text and other in students_of:  # each pair of answers once
                    for sa in students:
                        for sb in students_of[other]:
                            a, b = (sa, sb) if sa < sb else (sb, sa)
                            pairs.append(DuplicatePair(label, a, b, ratio))
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


@functools.lru_cache(maxsize=4)
def rubric(master: Path) -> dict[str, str]:
    """The TA's rubric notes by question label, from the master (they never reach the release).
    Read once per process: the report is rewritten after every result."""
    return rubric_notes(master)


def write_report(out: OutputFolder, results: list[SubmissionResult], problems: list, config: GradingConfig,
                 master: Path) -> Path:
    """Write `report.html` and `questions/<label>.html`; return the report's path."""
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
        threshold=config.runners.near_duplicate_ratio,
        evidence=evidence,
        flagged=[r for r in results if r.flags],
        labels=labels,
    )
    path = out.report
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
        atomic_write(out.questions / f"{label}.html", page.render(label=label, rows=rows, points=config.points.questions[label],
                                                                rubric=rubric(Path(master)).get(label, "")))
    return path
