"""Identical and nearly identical answers between students, in time about linear in their length.

The report is rewritten after every result, and a student controls how long an answer is, so the
pass must stay cheap whatever it is given. difflib's `SequenceMatcher.ratio` did not: on two similar
answers it grows about with the cube of their length (10 KB: 65 s; 40 KB: hours). Here:

- The measure is the LCS ratio, 2·LCS / (len a + len b), of the normalised answers (lower case,
  whitespace squeezed): the quantity difflib's ratio approximates from below, computed exactly by
  rapidfuzz's bit-parallel Indel in C (O(n·m/64)), on at most the first `MAX_COMPARED_CHARS`
  characters of each answer. A pair difflib flagged is still flagged.
- Which pairs are measured: a short answer (both at most `SHORT_CHARS`) is measured against every
  earlier short answer through rapidfuzz's cutoff search, which is cheap at that length. A longer
  one is measured only against the answers whose MinHash signature of word 3-shingles estimates a
  Jaccard overlap of at least `CANDIDATE_JACCARD`: copying keeps most runs of three words, while
  unrelated answers share few. The signature is `SIGNATURE_SIZE` minima over the shingles of the
  compared prefix, so making one costs O(length) and comparing two costs O(SIGNATURE_SIZE).
- Each distinct answer is added to a question's index once, when it first appears; later rewrites
  of the report only look the pairs up.

Identical answers (after normalising) are always found, whatever their length: they are grouped by
their text before anything is measured.
"""
from __future__ import annotations

import functools
import re
import unicodedata
import zlib
from dataclasses import dataclass

import numpy as np
from confusable_homoglyphs import confusables
from rapidfuzz import process as rf_process
from rapidfuzz.distance import Indel

from autograder.submission.results import SubmissionResult

MAX_COMPARED_CHARS = 20_000
"""Characters of each normalised answer that are measured (the seven answers are a few sentences)."""
SHORT_CHARS = 2_000
"""Up to this length every pair is measured; above it, MinHash picks the pairs worth measuring."""
SIGNATURE_SIZE = 64
CANDIDATE_JACCARD = 0.2
"""Estimated shingle overlap from which a long pair is measured. Lightly edited copies share far
more (one changed word in ten still leaves about half the 3-shingles shared); two unrelated texts
built from the same few hundred words share a few percent."""
SHINGLE_WORDS = 3

_rng = np.random.default_rng(20240607)  # fixed: the same pairs are candidates in every run
_MULTIPLIERS = (_rng.integers(1, 2**63, SIGNATURE_SIZE, dtype=np.uint64) * np.uint64(2) + np.uint64(1))[:, None]
_OFFSETS = _rng.integers(0, 2**63, SIGNATURE_SIZE, dtype=np.uint64)[:, None]
_SHINGLE_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


@dataclass
class DuplicatePair:
    label: str
    a: str
    b: str
    ratio: float

    @property
    def identical(self) -> bool:
        return self.ratio >= 0.999


INVISIBLE = frozenset({"Cf", "Mn", "Me"})
"""Unicode categories a copy can insert or change without changing what a reader sees: format
characters (zero-width spaces and joiners, bidi controls, soft hyphens) and combining marks (accents
once NFKD has split them off; marks stacked on a letter)."""


@functools.lru_cache(maxsize=1 << 14)
def normalise(text: str) -> str:
    """Lower case, whitespace squeezed, and none of what hides a copy from the comparison while it
    reads the same: compatibility forms (full-width letters, ligatures) as their plain letters,
    INVISIBLE characters left out (a copy with a zero-width space between every letter shares no
    run of two letters with its original), letters of another script drawn like a Latin one as
    that letter (`look_alike`)."""
    if not text.isascii():
        text = "".join(ch if ch.isascii() else look_alike(ch) for ch in unicodedata.normalize("NFKD", text)
                       if unicodedata.category(ch) not in INVISIBLE)
    return re.sub(r"\s+", " ", text.strip().lower())


@functools.lru_cache(maxsize=1 << 12)
def look_alike(char: str) -> str:
    """The ASCII character `char` is drawn like, by Unicode's confusables (UTS #39, the data
    confusable_homoglyphs ships): Cyrillic 'а' and Greek 'ο' are 'a' and 'o', so an answer copied
    with them (a homoglyph copy) is its original's duplicate; any other character is itself."""
    found = confusables.is_confusable(char, greedy=True, preferred_aliases=["latin", "common"])
    for glyph in found[0]["homoglyphs"] if found else ():
        if glyph["c"].isascii():
            return glyph["c"]
    return char


def similarity(x: str, y: str) -> float:
    """The LCS ratio of two normalised answers, each cut to MAX_COMPARED_CHARS."""
    if x == y:
        return 1.0
    return Indel.normalized_similarity(x[:MAX_COMPARED_CHARS], y[:MAX_COMPARED_CHARS])


def signature(text: str) -> np.ndarray:
    """SIGNATURE_SIZE minima of hashed word 3-shingles of the compared prefix (a MinHash)."""
    words = text[:MAX_COMPARED_CHARS].split(" ")
    hashes = np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint64, count=len(words))
    if len(hashes) >= SHINGLE_WORDS:  # with wrap-around uint64 arithmetic: a fast, fixed hash of the triple
        n = len(hashes) - SHINGLE_WORDS + 1
        shingles = sum(hashes[i:i + n] * _SHINGLE_MIX[i] for i in range(SHINGLE_WORDS))
    else:
        shingles = hashes * _SHINGLE_MIX[0]
    shingles = np.unique(shingles)
    shingles ^= shingles >> np.uint64(29)  # mix the high bits down before the affine permutations
    return (_MULTIPLIERS * shingles[None, :] + _OFFSETS).min(axis=1)


class AnswerIndex:
    """The distinct (normalised) answers to one question seen so far, and which pairs are alike."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.texts: list[str] = []
        self.known: set[str] = set()
        self.short: list[str] = []
        self.long: list[str] = []
        """The texts over SHORT_CHARS: the only ones a short text's signature is compared with."""
        self._signatures = _Rows()
        """One signature per text of `texts`, in order; `_long_signatures` per text of `long`."""
        self._long_signatures = _Rows()
        self.alike: dict[str, dict[str, float]] = {}
        """text -> {other text: ratio} for the pairs at or above the threshold."""

    def add(self, text: str) -> None:
        if text in self.known:
            return
        sig = signature(text)
        for other in self._candidates(text, sig):
            ratio = similarity(text, other)
            if ratio >= self.threshold:
                self.alike.setdefault(text, {})[other] = ratio
                self.alike.setdefault(other, {})[text] = ratio
        self.texts.append(text)
        self.known.add(text)
        self._signatures.append(sig)
        if len(text) <= SHORT_CHARS:
            self.short.append(text)
        else:
            self.long.append(text)
            self._long_signatures.append(sig)

    def _candidates(self, text: str, sig: np.ndarray) -> set[str]:
        found: set[str] = set()
        if not self.texts:
            return found
        if len(text) <= SHORT_CHARS and self.short:
            # Two short answers: the LCS ratio with a cutoff, in C, against every earlier one. The
            # margin is wide because rapidfuzz turns the cutoff into a distance and misses a pair
            # exactly at it; `add` then measures each hit against the threshold itself.
            hits = rf_process.extract(text, self.short, scorer=Indel.normalized_similarity, processor=None,
                                      score_cutoff=max(0.0, self.threshold - 1e-3), limit=None)
            found.update(self.short[i] for _, _, i in hits)
        # Either answer long: measured when the shingles overlap and the lengths allow the threshold
        # (a short text against the long ones only: short pairs were all measured above).
        rows, others = (self._signatures, self.texts) if len(text) > SHORT_CHARS else (self._long_signatures, self.long)
        overlap = (rows.used == sig[None, :]).mean(axis=1)
        for i in np.flatnonzero(overlap >= CANDIDATE_JACCARD):
            if _lengths_allow(text, others[i], self.threshold):
                found.add(others[i])
        return found


class _Rows:
    """Signatures as rows of one array, grown by doubling: restacking a list of them on every add
    made indexing n distinct answers copy n² rows (a class of 10,000: minutes)."""

    def __init__(self):
        self._array = np.empty((0, SIGNATURE_SIZE), dtype=np.uint64)
        self._count = 0

    @property
    def used(self) -> np.ndarray:
        return self._array[:self._count]

    def append(self, row: np.ndarray) -> None:
        if self._count == len(self._array):
            grown = np.empty((max(64, 2 * self._count), SIGNATURE_SIZE), dtype=np.uint64)
            grown[:self._count] = self._array
            self._array = grown
        self._array[self._count] = row
        self._count += 1


def _lengths_allow(x: str, y: str, threshold: float) -> bool:
    """The LCS ratio is at most 2·min/(sum of the lengths): pairs too unequal are never measured."""
    lx, ly = min(len(x), MAX_COMPARED_CHARS), min(len(y), MAX_COMPARED_CHARS)
    return 2 * min(lx, ly) >= threshold * (lx + ly) - 1e-9


_indexes: dict[tuple[str, float], AnswerIndex] = {}


def _index_for(label: str, threshold: float, present: int) -> AnswerIndex:
    index = _indexes.get((label, threshold))
    # Answers of earlier batches in this process (or regraded ones) only cost comparisons: start
    # afresh when they outnumber the answers in hand.
    if index is None or len(index.texts) > 2 * present + 500:
        index = _indexes[(label, threshold)] = AnswerIndex(threshold)
    return index


def near_duplicates(results: list[SubmissionResult], threshold: float) -> list[DuplicatePair]:
    """Pairs of students whose answer to one question is identical or nearly so."""
    by_label: dict[str, dict[str, list[str]]] = {}
    for r in results:
        for a in r.answers:
            if a.answered and a.text.strip():
                by_label.setdefault(a.label, {}).setdefault(normalise(a.text), []).append(r.student_id)
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


def _root(parent: dict[str, str], x: str) -> str:
    """Union-find: the representative of x's group (path halving)."""
    parent.setdefault(x, x)
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def copy_groups(pairs: list[DuplicatePair], labels: tuple = ()) -> list[dict]:
    """Students who share an answer, as groups rather than pairs: for each question, the connected
    components of its similar pairs (eight identical answers are one group of eight, not 28 pairs);
    a group of the same students on several questions is one row listing them. Largest first."""
    order = {label: i for i, label in enumerate(labels)}
    by_label: dict[str, list[DuplicatePair]] = {}
    for p in pairs:
        by_label.setdefault(p.label, []).append(p)
    rows: dict[tuple[str, ...], list[dict]] = {}
    for label, found in by_label.items():
        parent: dict[str, str] = {}
        for p in found:
            parent[_root(parent, p.a)] = _root(parent, p.b)
        members: dict[str, set[str]] = {}
        for p in found:
            members.setdefault(_root(parent, p.a), set()).update((p.a, p.b))
        for group in members.values():
            inside = [p for p in found if p.a in group]
            rows.setdefault(tuple(sorted(group)), []).append({
                "label": label,
                "identical": all(p.identical for p in inside),
                "ratio": min(p.ratio for p in inside),
                "pairs": len(inside),
            })
    grouped = [{"students": list(students), "questions": sorted(qs, key=lambda q: (order.get(q["label"], 99), q["label"]))}
               for students, qs in rows.items()]
    grouped.sort(key=lambda g: (-len(g["students"]), -len(g["questions"]), g["students"]))
    return grouped
