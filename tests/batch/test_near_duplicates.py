"""The near-duplicate answer flag on its own: which pairs a TA is shown, at any answer length."""
import difflib
import random

from classes import WORDS

from autograder.reports import duplicates
from autograder.reports.duplicates import MAX_COMPARED_CHARS, SHORT_CHARS, near_duplicates
from autograder.submission.results import Answer, SubmissionResult


def _student(sid, text, label="Q2", answered=True):
    return SubmissionResult(sid, f"{sid}.ipynb", answers=[Answer(label, f"answer_{label.lower()}", text, answered, 2)])


def _lcs_ratio(a: str, b: str) -> float:
    """2·LCS/(len a + len b) by the textbook dynamic programme: an oracle independent of rapidfuzz."""
    row = [0] * (len(b) + 1)
    for ca in a:
        diagonal = 0
        for j, cb in enumerate(b, 1):
            diagonal, row[j] = row[j], diagonal + 1 if ca == cb else max(row[j], row[j - 1])
    return 2 * row[-1] / (len(a) + len(b))


def _words(rng, n, vocabulary=WORDS):
    return " ".join(rng.choice(vocabulary) for _ in range(n))


def _edit(rng, text, every=25):
    """A copycat's touch: one word in `every` replaced."""
    words = text.split(" ")
    for i in range(0, len(words), every):
        words[i] = rng.choice(["however", "therefore", "thus", "indeed"])
    return " ".join(words)


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
        duplicates._indexes.clear()
        for k in range(1, len(results) + 1):  # as record.py rewrites the report after each result
            grown = near_duplicates(results[:k], threshold)
        duplicates._indexes.clear()
        fresh = near_duplicates(results, threshold)
        assert grown == fresh and fresh and all(p.ratio >= threshold for p in fresh)
    texts = {r.student_id: duplicates.normalise(r.answers[0].text) for r in results}
    # Each pair's oracle ratios once (the pure-Python LCS is the slow part), then compared at each threshold.
    pairs = [(a, b) for a in texts for b in texts if a < b]
    lcs = {pair: _lcs_ratio(texts[pair[0]], texts[pair[1]]) for pair in pairs}
    by_difflib = {pair: difflib.SequenceMatcher(None, *sorted((texts[pair[0]], texts[pair[1]])), autojunk=False).ratio()
                  for pair in pairs}
    for threshold in (0.9, 0.6):
        found = {(p.a, p.b) for p in near_duplicates(results, threshold)}
        # A pair is flagged exactly when its LCS ratio reaches the threshold (short answers: every pair)...
        expected = {pair for pair in pairs if lcs[pair] >= threshold}
        assert found == expected
        # ...so every pair difflib's ratio (a lower bound of it) flagged before is still flagged.
        assert {pair for pair in pairs if by_difflib[pair] >= threshold} <= found


def test_long_answers_find_the_planted_copies_and_nothing_else():
    """40 students with 12 KB answers (past SHORT_CHARS, so MinHash picks the pairs), three pairs of them
    lightly edited copies, one pair identical past MAX_COMPARED_CHARS but for its tail."""
    rng = random.Random(11)
    texts = {f"s{i:02d}": _words(rng, 2_000) for i in range(40)}
    assert all(len(t) > SHORT_CHARS for t in texts.values())
    planted = {("s03", "s17"), ("s08", "s30"), ("s21", "s22")}
    for a, b in planted:
        texts[b] = _edit(rng, texts[a])
    texts["s39"] = _words(rng, 5_000)
    texts["s38"] = texts["s39"][:MAX_COMPARED_CHARS + 100] + " a different ending"
    planted.add(("s38", "s39"))
    duplicates._indexes.clear()
    pairs = near_duplicates([_student(s, t) for s, t in texts.items()], threshold=0.9)
    assert {(p.a, p.b) for p in pairs} == planted
    ratios = {(p.a, p.b): p.ratio for p in pairs}
    assert 0.9 <= ratios[("s03", "s17")] < 0.999
    # The measure is the LCS ratio of the compared prefix: checked against the oracle on a slice.
    a, b = duplicates.normalise(texts["s03"])[:1500], duplicates.normalise(texts["s17"])[:1500]
    assert abs(duplicates.similarity(a, b) - _lcs_ratio(a, b)) < 1e-9


def test_a_long_answer_and_a_short_copy_of_its_start_are_paired_when_lengths_allow():
    rng = random.Random(5)
    long_text = _words(rng, 350)  # about 2.1 KB: long
    near = long_text[:SHORT_CHARS - 50]  # short (under SHORT_CHARS) and the same as the start
    assert len(near) <= SHORT_CHARS < len(long_text)
    duplicates._indexes.clear()
    pairs = near_duplicates([_student("ann", long_text), _student("ben", near), _student("cat", _words(rng, 380))], 0.9)
    assert [(p.a, p.b) for p in pairs] == [("ann", "ben")]


def test_a_copy_that_reads_the_same_on_screen_is_paired_with_its_original():
    """Characters that change no letter a reader sees: a zero-width space between every letter, soft
    hyphens between words, the text wrapped in bidi controls, full-width letters, accents stacked on
    every letter, Cyrillic or Greek letters drawn like the Latin ones they replace. Each such copy is
    the original's near duplicate; an answer of its own is not."""
    base = "Before 2012 there was far too little labelled data and compute, so a large network would overfit."
    copies = {
        "zwsp": "\u200b".join(base),
        "shy": "\u00ad ".join(base.split(" ")),
        "bidi": "\u202a" + base.replace(" ", " \u2066") + "\u202c",
        "wide": base.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}),
        "marks": "".join(ch + "\u0301" if ch.isalpha() else ch for ch in base),
        "cyrillic": base.translate(str.maketrans("aceiopxyABEHKMOPT", "асеіорхуАВЕНКМОРТ")),
        "greek": base.translate(str.maketrans("oiABEHIKMNOPTXYZ", "οιΑΒΕΗΙΚΜΝΟΡΤΧΥΖ")),
    }
    own = "GPUs and ImageNet arrived together; earlier networks had neither the data nor the time to learn."
    duplicates._indexes.clear()
    pairs = near_duplicates([_student("ann", base), _student("own", own)]
                            + [_student(name, text) for name, text in copies.items()], threshold=0.9)
    found = {(p.a, p.b) for p in pairs}
    assert {tuple(sorted(("ann", name))) for name in copies} <= found
    assert not any("own" in pair for pair in found)
