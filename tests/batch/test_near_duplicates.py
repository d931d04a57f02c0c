"""The near-duplicate answer flag on its own: which pairs a TA is shown."""
from autograder.report import near_duplicates
from autograder.results import Answer, SubmissionResult


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
