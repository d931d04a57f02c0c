"""The near-duplicate answer flag on its own: which pairs a TA is shown."""
import difflib
import random

from autograder.reports import report
from autograder.reports.report import near_duplicates
from autograder.submission.results import Answer, SubmissionResult


def _student(sid, text, label="Q2", answered=True):
    return SubmissionResult(sid, f"{sid}.ipynb", answers=[Answer(label, f"answer_{label.lower()}", text, answered, 2)])


def test_identical_and_lightly_edited_answers_are_paired_and_different_ones_are_not():
    base = "The wallaby and the samoyed share pale fur and an upright ear shape, so the same kernels fire."
    results = [
        _student("ann", base),
        _student("ben", base.replace("pale", "light").upper()),  # case and one word changed
        _student("cat", "   " + base + "  "),  # whitespace only
        _student("dan", "Both animals stand on grass; the network saw grass in both training sets."),
        _student("eve", "YOUR ANSWER HERE", answered=False),
        _student("fay", "YOUR ANSWER HERE", answered=False),
    ]
    pairs = {(p.a, p.b): p for p in near_duplicates(results, threshold=0.9)}
    assert set(pairs) == {("ann", "ben"), ("ann", "cat"), ("ben", "cat")}
    assert pairs[("ann", "cat")].identical and not pairs[("ann", "ben")].identical
    # Unanswered placeholders are never "duplicates" of each other.
    assert not any("eve" in key for key in pairs)


def test_answers_to_different_questions_are_not_compared():
    text = "Accuracy climbs quickly over the first two epochs and then levels off near the end."
    pairs = near_duplicates([_student("ann", text, "Q3c"), _student("ben", text, "Q4a")], threshold=0.9)
    assert pairs == []


def test_a_growing_batch_flags_the_same_pairs_as_one_pass_at_any_threshold():
    rng = random.Random(7)
    words = ["kernel", "edge", "colour", "blob", "training", "epoch", "accuracy", "texture", "filter", "layer", "the", "a", "of", "and"]
    results = []
    for i in range(40):
        text = " ".join(rng.choice(words) for _ in range(25))
        if i % 7 == 3:  # a lightly edited copy of an earlier answer
            text = results[i - 2].answers[0].text.replace(" the ", " a ", 1)
        results.append(_student(f"s{i:02d}", text))
    for threshold in (0.9, 0.6):
        report._indexes.clear()
        for k in range(1, len(results) + 1):  # as record.py rewrites the report after each result
            grown = near_duplicates(results[:k], threshold)
        report._indexes.clear()
        fresh = near_duplicates(results, threshold)
        assert grown == fresh and fresh and all(p.ratio >= threshold for p in fresh)
    # A pair is flagged exactly when difflib's own ratio says so.
    texts = {r.student_id: report._normalise(r.answers[0].text) for r in results}
    expected = {(a, b) for a in texts for b in texts if a < b and
                difflib.SequenceMatcher(None, *sorted((texts[a], texts[b])), autojunk=False).ratio() >= 0.6}
    assert {(p.a, p.b) for p in near_duplicates(results, 0.6)} == expected
