"""The structured rubric of each written question, kept in the master, and the one scoring rule.

An answer cell's `metadata.alexnet_lab.rubric` is either a plain string (notes for TAs only, the
format of a master that predates items) or

    {"notes": "TA-only text",
     "items": [{"id": "two-reasons", "title": "Two reasons", "points": 2, "comment": "..."},
               {"id": "restates", "title": "Only restates", "score": 0, "comment": "..."}]}

An item either moves the score (`points`, a delta: positive adds, negative deducts) or sets it
(`score`, a fixed score); `comment` is what the student reads. render.py strips the whole value
from the release. `read_rubrics` is what `alexnet-lab release` runs first: a rubric that breaks a
rule is refused in one line naming the cell and the fix. The points of a question are the
config's, never the master's.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from alexnet_core.contract import grade_id
from autograder.authoring.render import read_master
from autograder.errors import RenderError

ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}\Z")
"""An item id is a key (the page's and the database's): short, plain, stable."""
ITEM_KEYS = frozenset({"id", "title", "points", "score", "comment"})
RUBRIC_KEYS = frozenset({"notes", "items"})
TITLE_MAX = 200
COMMENT_MAX = 10_000


@dataclass(frozen=True)
class RubricItem:
    id: str
    """Short, unique within its question, stable: the page's key and the store's."""
    title: str
    """What the TA sees on the button."""
    points: float | None
    """A delta: positive adds, negative deducts (exactly one of points and score is set)."""
    score: float | None
    """A fixed score for the answer."""
    comment: str
    """What the student reads."""

    def to_dict(self) -> dict:
        data = {"id": self.id, "title": self.title}
        data.update({"points": self.points} if self.score is None else {"score": self.score})
        data["comment"] = self.comment
        return data


@dataclass(frozen=True)
class Rubric:
    question: str
    max_points: float
    """The question's points, from the config."""
    items: tuple[RubricItem, ...]
    notes: str
    """Free text for TAs only."""


def score_of(rubric_max: float, applied: Sequence[RubricItem]) -> float:
    """The one scoring rule: clamp(base + the applied deltas, 0, max). The base is the applied
    fixed item's score (at most one may be applied), else max when the deltas are deductions only
    (at least one negative, none positive: "start from full marks"), else 0."""
    fixed = [item for item in applied if item.score is not None]
    if len(fixed) > 1:
        raise ValueError(f"at most one fixed-score item may be applied, not {len(fixed)} "
                         f"({', '.join(item.id for item in fixed)})")
    deltas = [item.points for item in applied if item.points is not None]
    if fixed:
        base = fixed[0].score
    elif any(d < 0 for d in deltas) and not any(d > 0 for d in deltas):
        base = rubric_max
    else:
        base = 0.0
    # Rounded: half points summed in floating point must not print as 1.4999999999999998.
    return round(min(max(base + sum(deltas), 0.0), rubric_max), 6)


def comment_of(applied: Sequence[RubricItem], note: str = "") -> str:
    """The student's comment: the applied items' comments, one a line, in the order given (the
    rubric's), then the TA's own note for this answer."""
    lines = [item.comment.strip() for item in applied if item.comment.strip()]
    if note.strip():
        lines.append(note.strip())
    return "\n".join(lines)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def item_problem(data, max_points: float) -> str | None:
    """What is wrong with one item (a dict as the master or the page holds it), or None.
    The store applies the same rules to an item a TA adds or edits."""
    if not isinstance(data, dict):
        return "is not an object {\"id\", \"title\", \"points\" or \"score\", \"comment\"}"
    unknown = sorted(set(data) - ITEM_KEYS)
    if unknown:
        return f"has unknown key(s) {', '.join(map(repr, unknown))}; use only {', '.join(sorted(ITEM_KEYS))}"
    item_id = data.get("id")
    if not isinstance(item_id, str) or not ITEM_ID.match(item_id):
        return (f"has id {item_id!r}; give it a short id of letters, digits, '_', '.' or '-' "
                "(at most 40, starting with a letter or digit)")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        return "has no title; give it a short title the TA will see"
    if len(title) > TITLE_MAX:
        return f"has a title of {len(title)} characters; keep it under {TITLE_MAX} and put the rest in the comment"
    comment = data.get("comment", "")
    if not isinstance(comment, str):
        return "has a comment that is not text"
    if len(comment) > COMMENT_MAX:
        return f"has a comment of {len(comment)} characters; keep it under {COMMENT_MAX}"
    has_points, has_score = data.get("points") is not None, data.get("score") is not None
    if has_points == has_score:
        return "must have exactly one of \"points\" (a delta, + or -) and \"score\" (a fixed score)"
    value = data["points"] if has_points else data["score"]
    if not _number(value):
        return f"has {'points' if has_points else 'score'} {value!r}, which is not a number"
    if has_score and not 0 <= value <= max_points:
        return f"has score {value:g}, outside 0..{max_points:g} (the question's points in the config)"
    if has_points and not -max_points <= value <= max_points:
        return f"has points {value:+g}, outside -{max_points:g}..+{max_points:g} (the question's points in the config)"
    return None


def item_of(data: dict) -> RubricItem:
    """An item from a dict `item_problem` accepted."""
    points, score = data.get("points"), data.get("score")
    return RubricItem(id=data["id"], title=data["title"].strip(),
                      points=None if points is None else float(points),
                      score=None if score is None else float(score), comment=data.get("comment", "") or "")


def parse_rubric(value, question: str, max_points: float) -> Rubric:
    """One cell's rubric value -> Rubric; ValueError with the reason and the fix (no location)."""
    if isinstance(value, str):
        return Rubric(question, float(max_points), (), value)
    if not isinstance(value, dict):
        raise ValueError("metadata.alexnet_lab.rubric must be text (notes) or {\"notes\": ..., \"items\": [...]}")
    unknown = sorted(set(value) - RUBRIC_KEYS)
    if unknown:
        raise ValueError(f"the rubric has unknown key(s) {', '.join(map(repr, unknown))}; use \"notes\" and \"items\"")
    notes = value.get("notes", "")
    if not isinstance(notes, str):
        raise ValueError("the rubric's \"notes\" must be text")
    raw = value.get("items", [])
    if not isinstance(raw, list):
        raise ValueError("the rubric's \"items\" must be a list of items")
    items, seen = [], set()
    for number, data in enumerate(raw, 1):
        problem = item_problem(data, max_points)
        name = f"item {number}" + (f" ({data['id']!r})" if isinstance(data, dict) and isinstance(data.get("id"), str)
                                    else "")
        if problem:
            raise ValueError(f"rubric {name} {problem}")
        if data["id"] in seen:
            raise ValueError(f"rubric {name} repeats the id of an earlier item; give each item its own id")
        seen.add(data["id"])
        items.append(item_of(data))
    return Rubric(question, float(max_points), tuple(items), notes)


def _cell_name(master: Path, cell, index: int) -> str:
    return f"{master}: cell {index} ({grade_id(cell) or 'no grade id'})"


def rubrics_of(nb, points: Mapping[str, float], master: Path) -> dict[str, Rubric]:
    """The rubrics of a read notebook by question label (every question of it: an answer cell
    with no rubric has an empty one). RenderError naming the cell, the question and the fix."""
    rubrics: dict[str, Rubric] = {}
    for index, cell in enumerate(nb.cells):
        lab = cell.get("metadata", {}).get("alexnet_lab")
        if not isinstance(lab, dict):
            continue
        question = lab.get("question")
        value = lab.get("rubric")
        where = _cell_name(master, cell, index)
        if question is None:
            if isinstance(value, dict) and value.get("items"):
                raise RenderError(f"{where}: a rubric with items on a cell that is no answer cell; move it to the "
                                  "answer cell of its question (metadata.alexnet_lab.question)")
            continue
        if question not in points:
            raise RenderError(f"{where}, question {question}: the question has no points in the config's "
                              "points.questions; add them there")
        try:
            rubrics[question] = parse_rubric(value if value is not None else "", question, float(points[question]))
        except ValueError as exc:
            raise RenderError(f"{where}, question {question}: {exc}") from None
    return rubrics


def read_rubrics(master: Path, points: Mapping[str, float]) -> dict[str, Rubric]:
    """Every question's rubric in the master, validated (RenderError naming the cell)."""
    master = Path(master)
    return rubrics_of(read_master(master), points, master)
