"""Read one submitted file as a notebook: size limit, JSON, nbformat 4 (older ones upgraded).

The file is only read, never written. Whatever cannot be read is a SubmissionError with one line
naming the file and what to ask the student for; what could be repaired is repaired and flagged.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from alexnet_core.contract import MB, over_size_limit
from autograder.errors import SubmissionError


def read_submission(path: Path, limit_mb: float) -> tuple[NotebookNode, list[str]]:
    """Parse the file as an nbformat-4 notebook, upgrading older formats; SubmissionError otherwise."""
    path = Path(path)
    name, flags = path.name, []
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror}); check the path and permissions") from None
    if over_size_limit(size, limit_mb):
        raise SubmissionError(f"{name}: {size / MB:.0f} MB, over the {limit_mb:g} MB limit "
                              f"(limits.submission_mb); ask for a resubmission with outputs cleared and run once")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SubmissionError(f"{name}: not JSON, so not a Jupyter notebook; ask the student to "
                              f"download it from Jupyter/Colab as .ipynb") from None
    version = data.get("nbformat") if isinstance(data, dict) else None
    if not isinstance(version, int) or not ("cells" in data or "worksheets" in data):
        raise SubmissionError(f"{name}: JSON but not a Jupyter notebook (no nbformat/cells); "
                              f"ask for the .ipynb file itself")
    if version > 4:
        raise SubmissionError(f"{name}: nbformat {version} is newer than this grader reads (4); update nbformat")
    flags += _repair_metadata(data)
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as exc:  # nbformat raises several types for broken or ancient files
        what = "is not a valid nbformat 4 notebook" if version == 4 else f"(nbformat {version}) could not be converted to nbformat 4"
        raise SubmissionError(f"{name} {what} ({str(exc).splitlines()[0][:150]}); "
                              f"ask the student to open and save it in a current Jupyter") from None
    if version < 4:
        flags.append(f"notebook was in nbformat {version}; upgraded to 4 for grading")
    flags += _repair_structure(nb, name)
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        bad = [i for i, c in enumerate(nb.cells) if not isinstance(c, dict)
               or c.get("cell_type") not in ("code", "markdown", "raw") or "source" not in c]
        if bad:
            raise SubmissionError(f"{name}: cell {bad[0] + 1} is not a valid notebook cell; ask the "
                                  f"student to open and save the notebook in Jupyter") from None
        flags.append(f"notebook does not fully follow the nbformat schema ({str(exc).splitlines()[0][:120]})")
    return nb, flags


def _repair_metadata(data: dict) -> list[str]:
    """Metadata of the wrong JSON type, where nbformat's own reader would trip on it, becomes empty
    (and is reported): it is the grader's to restore, not a reason to refuse the answers."""
    flags = []
    if not isinstance(data.get("metadata", {}), dict):
        data["metadata"] = {}
        flags.append("notebook metadata was broken; removed")
    for index, cell in enumerate(data.get("cells") or []):
        if isinstance(cell, dict) and not isinstance(cell.get("metadata", {}), dict):
            cell["metadata"] = {}
            flags.append(f"cell {index + 1} had broken metadata; removed")
    return flags


def _repair_structure(nb, name: str) -> list[str]:
    """Metadata of the wrong JSON type becomes absent (and is reported); a cell without text is refused."""
    flags = []
    for index, cell in enumerate(nb.cells):
        if not isinstance(cell.get("source"), str):
            raise SubmissionError(f"{name}: cell {index + 1} has no text (source is "
                                  f"{type(cell.get('source')).__name__}); ask the student to open and save it in Jupyter")
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
            flags.append(f"cell {index + 1} had broken metadata; removed")
        nbg = cell.metadata.get("nbgrader")
        if nbg is not None and not (isinstance(nbg, dict) and isinstance(nbg.get("grade_id", ""), str)):
            del cell.metadata["nbgrader"]
            flags.append(f"cell {index + 1} had broken nbgrader metadata; removed")
    return flags
