"""The class's answers to one question, read only from OUT (the results `grade` recorded).

Each student's `graded.json` holds their answers as written (record.py); nothing here reads the
submissions, the gradebook or the notebooks, so the answers are the ones the grades are about.
"""
from __future__ import annotations

from autograder.batch.record import load_done
from autograder.course import OutputFolder


def question_answers(out: OutputFolder, question: str) -> dict[str, str]:
    """Student id -> their answer to `question` as written (unanswered: the cell's text, often the
    placeholder or nothing), for every student with a recorded result, sorted by id. A student
    whose result has no such question is left out; so an unknown question gives {}."""
    found = {}
    for sid, result in load_done(out.root).items():
        for answer in result.answers:
            if answer.label == question:
                found[sid] = answer.text
                break
    return dict(sorted(found.items()))

