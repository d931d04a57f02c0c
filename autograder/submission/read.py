"""Read one submitted file as a notebook: size limit, JSON, nbformat 4.5 (older ones upgraded).

The file is only read, never written. The structure is read by the student floor's reader
(`alexnet_core.structure`), the very function `alexnet-lab check` calls: what it repairs is repaired
here the same way and flagged; what it refuses is a SubmissionError with its one line, naming the
file. So a notebook the check calls READY is never refused here.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from alexnet_core.contract import MB, QUESTIONS, over_size_limit
from alexnet_core.structure import NotebookRefused, parse_json, read_notebook, summarise
from autograder.errors import SubmissionError


def read_submission(path: Path, limit_mb: float, labels=QUESTIONS) -> tuple[NotebookNode, list[str]]:
    """Parse the file as an nbformat-4 notebook, repaired as the student's check repairs it;
    SubmissionError (one line) for a file that is not a notebook. `labels`: the course's questions."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        raw = None if over_size_limit(size, limit_mb) else path.read_bytes()
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror}); check the path and permissions") from None
    if raw is None:
        raise SubmissionError(f"{name}: {size / MB:.0f} MB, over the {limit_mb:g} MB limit "
                              f"(limits.submission_mb); ask for a resubmission with outputs cleared and run once")
    try:
        data, repairs = read_notebook(parse_json(raw), tuple(labels))
    except NotebookRefused as refused:
        raise SubmissionError(f"{name}: {refused}; ask the student for the .ipynb file, downloaded again "
                              "from Jupyter/Colab") from None
    flags = summarise(repairs)
    # The structural reader's output has nbformat 4.5's shape: nbformat reading it is a formality
    # that gives the preprocessors their NotebookNode. `reads` validates against the schema itself;
    # its verdict is captured rather than asked for a second time.
    captured: dict = {}
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4, capture_validation_error=captured)
    except ValueError as exc:
        captured["ValidationError"], nb = exc, nbformat.from_dict(data)
    if "ValidationError" in captured:
        flags.append("notebook does not fully follow the nbformat schema "
                     f"({str(captured['ValidationError']).splitlines()[0][:120]})")
    return nb, flags
