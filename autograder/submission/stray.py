"""Text a student wrote outside the answer cells: the flags sanitise.py raises for it, and the
question each piece is nearest to. Such a submission needs a TA (the gradebook leaves the question
to them; the feedback says so), so the batch and the reports both read it from here.
"""
from __future__ import annotations

from alexnet_core.contract import answer_label, grade_id, stray_text_cells

NOT_AN_ANSWER_CELL = "not an answer cell"
TYPED_INTO_LOCKED = "typed into the locked cell"
STRAY_FLAGS = (NOT_AN_ANSWER_CELL, TYPED_INTO_LOCKED)
"""Markers in sanitise.py's flags for text outside the answer cells."""


def stray_by_question(nb, flags: list[str], labels: tuple) -> dict[str, list[str]]:
    """Text a student wrote outside the answer cells, by the question it is nearest to: markdown
    cells they added (the nearest answer cell) and text typed into a question's locked cell."""
    positions = [(i, answer_label(grade_id(c), labels)) for i, c in enumerate(nb.cells)]
    answers = [(i, label) for i, label in positions if label]
    found: dict[str, list[str]] = {}
    if answers:
        for number, text in stray_text_cells(nb):
            index = number - 1
            label = min(answers, key=lambda a: (abs(a[0] - index), a[0] < index))[1]
            found.setdefault(label, []).append(text)
    for flag in flags:
        if f"{TYPED_INTO_LOCKED} question_" in flag:
            cell = flag.split(f"{TYPED_INTO_LOCKED} ", 1)[1].split(" ", 1)[0]
            label = answer_label("answer_" + cell.removeprefix("question_"), labels)
            if label:
                found.setdefault(label, []).append(flag.split(": ", 1)[-1])
    return found
