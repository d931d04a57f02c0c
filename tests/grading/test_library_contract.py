"""What the grader relies on inside nbclient and nbgrader, beyond their documented APIs.

`submission/kernel.py` caps outputs by overriding nbclient's `output` and its private
`_update_display_id` (reading `_display_id_map`), and limits each cell through `timeout_func`;
`autograder/gradebook.py` replaces nbgrader's `get_alembic_version`. pyproject.toml pins the ranges
these were read from; a new release that moves one of them fails here, by name, not as a silent
loss of the output cap or a slow gradebook.
"""
from __future__ import annotations

import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]


def _pinned(package: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    grader = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["grader"]
    spec = next(s for s in grader if re.match(rf"{package}\b", s))
    low = re.search(r">=([\d.]+)", spec)
    high = re.search(r"<([\d.]+)", spec)
    assert low and high, f"pyproject.toml: {spec!r} should pin a range (>=X,<Y): the grader relies on its internals"
    return tuple(map(int, low.group(1).split("."))), tuple(map(int, high.group(1).split(".")))


def _installed(package: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version(package))[:3])


@pytest.mark.parametrize("package", ["nbclient", "nbgrader"])
def test_the_installed_version_is_in_the_range_pyproject_pins(package):
    low, high = _pinned(package)
    assert low <= _installed(package) < high, f"{package} {version(package)} is outside {low}..{high}"


def test_nbclient_still_has_what_the_output_cap_overrides():
    client = NotebookClient(nbformat.v4.new_notebook())
    client.reset_execution_trackers()
    assert isinstance(client._display_id_map, dict)
    assert list(inspect.signature(NotebookClient.output).parameters) == ["self", "outs", "msg", "display_id",
                                                                         "cell_index"]
    assert list(inspect.signature(NotebookClient._update_display_id).parameters) == ["self", "display_id", "msg"]
    assert "timeout_func" in NotebookClient.class_trait_names()


def test_the_gradebook_reads_nbgrader_s_schema_head_in_process():
    import nbgrader.api

    from autograder.gradebook import alembic_head

    assert nbgrader.api.get_alembic_version is alembic_head
    assert re.fullmatch(r"[0-9a-f]{12}", alembic_head())
