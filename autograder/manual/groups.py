"""Answer groups for one question: what the TA grades at once, suggested from the answers alone.

Four passes, each over what the one before left as one unit:

1. **identical**: the same text once case, punctuation (any script's: Unicode category P) and
   whitespace are set aside, and the placeholder removed. Compared whole, whatever the length.
2. **near**: the duplicates pass of report.html (reports/duplicates.py's `AnswerIndex`: the LCS
   ratio, on a bounded prefix, from `near_ratio`), here on the folded texts of step 1, its pairs
   joined into connected units.
3. **similar**: scikit-learn's TF-IDF on words and on character 2-4-grams (characters work where
   words do not split: CJK, emoji), cosine, times sqrt(shorter / longer) (an answer that makes
   the same point and one more, often worth more, is about twice as long: it must not pass for
   the same answer; a retyped one barely changes length), then agglomerative clustering, average
   linkage, cut at a distance of 1 - `similar_threshold`. Each unit is clustered by its most
   common text, cut to `SIMILAR_CHARS`; a cluster of two units or more is one "similar" group (it
   may hold identical and near units). Average linkage: every member is, on average, that alike
   to the rest, so one bridging answer does not chain two different answers together.
4. everything else is a **single** answer (or an identical/near unit of its own); empty answers
   (nothing but whitespace or the placeholder) are one **blank** group, never merged with text.

Scale: clustering needs the distances between every pair, so at most `MAX_CLUSTERED` units (the
ones with the most students) are clustered; each unit past the cap joins the cluster of its most
similar clustered unit when that similarity reaches the threshold, else stays a group of its own
(a linear pass, in chunks). The distances then take at most MAX_CLUSTERED² numbers (16 MB, and
SciPy's condensed copy) whatever the class size; docs/benchmarks.md ("Answer groups") has the measured figures.
"""
from __future__ import annotations

import functools
import hashlib
import sys
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.sparse import hstack
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer

from alexnet_core.contract import own_text
from autograder.reports.duplicates import AnswerIndex

KINDS = ("identical", "near", "similar", "single", "blank")
"""Group kinds, in the order groups are listed (largest first within a kind)."""
SIMILAR_CHARS = 1_000
"""Characters of a text the TF-IDF pass reads (the lab's answers are a few sentences); so each text has
at most about 3,000 character n-grams and 500 words in the matrix, whatever its length."""
MAX_CLUSTERED = 2_000
"""Units clustered pairwise; the rest are attached to the nearest (see the module's docstring)."""
ATTACH_CHUNK = 1_024
"""Units past the cap compared at once against the clustered ones (a chunk × MAX_CLUSTERED block)."""
WORD_WEIGHT = 0.5
"""Share of the words' cosine in the similarity (the rest: character n-grams)."""


@dataclass(frozen=True)
class Group:
    key: str
    """Stable for the same students: a short hash of their sorted ids."""
    kind: str
    """One of KINDS."""
    students: tuple[str, ...]
    """Sorted."""
    answer: str
    """The group's most common answer, as written."""


@functools.cache
def _punctuation() -> dict[int, str]:
    """Every Unicode punctuation character -> a space (built once: about 0.3 s)."""
    return {c: " " for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)).startswith("P")}


def identity_key(text: str) -> str:
    """The text as the identical pass compares it: placeholder removed, case folded, punctuation
    and runs of whitespace made one space. "" only for an empty answer; an answer of punctuation
    alone ("?", "...") keeps its punctuation so it is not taken for an empty one."""
    own = own_text(text)
    if not own:
        return ""
    folded = own.casefold()
    return " ".join(folded.translate(_punctuation()).split()) or " ".join(folded.split())


def group_key(students) -> str:
    return hashlib.sha1("\n".join(sorted(students)).encode()).hexdigest()[:12]


def suggest_groups(answers: Mapping[str, str], *, near_ratio: float, similar_threshold: float) -> list[Group]:
    """The answers (student id -> text as written) in groups, see the module's docstring."""
    by_key: dict[str, list[str]] = {}
    for sid in sorted(answers):
        by_key.setdefault(identity_key(answers[sid]), []).append(sid)
    blank = by_key.pop("", [])

    # Units: identical keys joined by near-identical pairs (union-find over the index's pairs).
    keys = sorted(by_key, key=lambda k: (-len(by_key[k]), k))
    index = AnswerIndex(near_ratio)
    for k in keys:
        index.add(k)
    parent = {k: k for k in keys}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for k, alike in index.alike.items():
        for other in alike:
            parent[root(k)] = root(other)
    members: dict[str, list[str]] = {}
    for k in keys:  # most students first, so each unit's first key is its most common text
        members.setdefault(root(k), []).append(k)
    units = sorted(members.values(), key=lambda ks: (-sum(len(by_key[k]) for k in ks), ks[0]))

    clusters = _similar_clusters([ks[0] for ks in units], similar_threshold)
    joined: dict[int, list[int]] = {}
    for unit, cluster in enumerate(clusters):
        joined.setdefault(cluster, []).append(unit)

    groups = []
    for unit_ids in joined.values():
        unit_keys = [k for u in unit_ids for k in units[u]]
        students = [s for k in unit_keys for s in by_key[k]]
        if len(unit_ids) > 1:
            kind = "similar"
        elif len(unit_keys) > 1:
            kind = "near"
        else:
            kind = "identical" if len(students) > 1 else "single"
        groups.append(_group(kind, students, answers))
    if blank:
        groups.append(_group("blank", blank, answers))
    order = {kind: i for i, kind in enumerate(KINDS)}
    groups.sort(key=lambda g: (order[g.kind], -len(g.students), g.students[0]))
    return groups


def _group(kind: str, students: list[str], answers: Mapping[str, str]) -> Group:
    students = sorted(students)
    counts = Counter(answers[s] for s in students)  # ties: the text of the first student by id
    return Group(group_key(students), kind, tuple(students), counts.most_common(1)[0][0])


def _similar_clusters(texts: list[str], threshold: float) -> list[int]:
    """A cluster number per text (texts: the units' keys, most students first)."""
    n = len(texts)
    if n < 2:
        return list(range(n))
    cut = [t[:SIMILAR_CHARS] for t in texts]
    vectors = _vectors(cut)
    lengths = np.array([len(t) for t in cut], dtype=np.float32)
    head = min(n, MAX_CLUSTERED)
    labels = list(range(n))
    if head >= 2:
        top = vectors[:head]
        distance = 1.0 - (top @ top.T).toarray() * _length_factor(lengths[:head], lengths[:head])
        np.clip(distance, 0.0, 2.0, out=distance)
        np.fill_diagonal(distance, 0.0)
        labels[:head] = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                                distance_threshold=1.0 - threshold).fit(distance).labels_.tolist()
    top_t = vectors[:head].T.tocsc()
    for start in range(head, n, ATTACH_CHUNK):  # past the cap: the nearest clustered unit, if alike enough
        block = ((vectors[start:start + ATTACH_CHUNK] @ top_t).toarray()
                 * _length_factor(lengths[start:start + ATTACH_CHUNK], lengths[:head]))
        best = block.argmax(axis=1)
        for row, column in enumerate(best):
            unit = start + row
            labels[unit] = labels[column] if block[row, column] >= threshold else n + unit
    return labels


def _length_factor(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sqrt(shorter / longer) for each pair of lengths (the module's docstring says why)."""
    return np.sqrt(np.minimum.outer(a, b) / np.maximum(np.maximum.outer(a, b), 1.0))


def _vectors(texts: list[str]):
    """Unit rows: TF-IDF of words and of character n-grams, weighted, so a dot product is the
    weighted mean of the two cosines."""
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, lowercase=False,
                            dtype=np.float32).fit_transform(texts)
    try:
        words = TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", sublinear_tf=True, lowercase=False,
                                dtype=np.float32).fit_transform(texts)
    except ValueError:  # no word in any text (emoji, punctuation): the characters alone
        return chars.tocsr()
    return hstack([words * np.float32(WORD_WEIGHT ** 0.5), chars * np.float32((1 - WORD_WEIGHT) ** 0.5)]).tocsr()
