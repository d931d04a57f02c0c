"""`alexnet-lab groups OUT QUESTION [--json]`: one question's suggested answer groups, from OUT alone.

Student text reaches a terminal here, so none of its control characters do: escape sequences (an
answer holding ESC [ 2 J repaints the TA's screen), other C0/C1 controls and bidirectional
overrides are shown escaped (\\x1b), and the JSON is ASCII with every other character escaped.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from autograder.course import OutputFolder
from autograder.errors import LabError
from autograder.manual.answers import question_answers
from autograder.manual.groups import Group, suggest_groups
from grading_config import GradingConfig

SHOWN_STUDENTS = 12
"""Student ids listed per group in the text view (the rest counted); --json lists them all."""
SHOWN_CHARS = 100
"""Characters of the representative answer in the text view (one line)."""
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` with control characters and bidi controls shown as escapes, for a terminal."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                       text)


def one_line(text: str, width: int = SHOWN_CHARS) -> str:
    flat = " ".join(text.split())
    return terminal_safe(flat if len(flat) <= width else flat[:width - 1] + "…")


def class_groups(out: Path, question: str, config: GradingConfig) -> list[Group]:
    """The groups of `question` in OUT; LabError (one line) for an OUT with no results or a
    question OUT's assignment does not ask."""
    folder = OutputFolder(Path(out), config.course)
    questions = tuple(config.points.questions)
    if question not in questions:
        raise LabError(f"{folder.root} has no question {terminal_safe(question)!r}; its questions: "
                       f"{', '.join(questions)}")
    answers = question_answers(folder, question)
    if not answers:
        raise LabError(f"{folder.root}: no graded results here (no <student>/{OutputFolder.GRADED}); "
                       "grade into it first: alexnet-lab grade ... --out OUT")
    return suggest_groups(answers, near_ratio=config.runners.near_duplicate_ratio,
                          similar_threshold=config.manual.similar_threshold)


def as_json(question: str, groups: list[Group]) -> str:
    return json.dumps({"question": question, "groups": [
        {"students": list(g.students), "answer": g.answer, "kind": g.kind, "key": g.key} for g in groups]},
        ensure_ascii=True, indent=1)


def as_text(question: str, groups: list[Group]) -> str:
    answers = sum(len(g.students) for g in groups)
    lines = [f"{question}: {answers} answers in {len(groups)} groups"]
    for g in groups:
        shown = ", ".join(terminal_safe(s) for s in g.students[:SHOWN_STUDENTS])
        more = f" and {len(g.students) - SHOWN_STUDENTS} more" if len(g.students) > SHOWN_STUDENTS else ""
        lines.append(f"{g.kind:<9} {len(g.students):>5}  {shown}{more}")
        lines.append(f"{'':>17}{one_line(g.answer) if g.answer.strip() else '(empty)'}")
    return "\n".join(lines)
