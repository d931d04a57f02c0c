"""Notebook helpers the test suites share: find the release, run it, answer it, cache one run.

Executing the release notebook is the most expensive thing a test can do (a kernel, AlexNet,
training), so a test session runs it once: `executed_release(factory)` executes it on the first
call and hands every later caller a copy of the same executed notebook. A suite gets it with a
session fixture, as `tests/release/conftest.py` does:

    @pytest.fixture(scope="session")
    def executed_nb(tmp_path_factory):
        return notebooks.executed_release(tmp_path_factory)
"""
from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Callable

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

REPO = Path(__file__).resolve().parent.parent
# Generous per-cell limit: training is one cell, and the two cores are shared with other tests.
CELL_TIMEOUT_S = 300

_cache: dict[str, object] = {}


def release_path() -> Path:
    """The committed student release notebook."""
    import grading_config

    course = grading_config.CONFIG.course
    return REPO / "release" / course.assignment / f"{course.notebook}.ipynb"


def kernel_env(profile: str = "smoke") -> dict[str, str]:
    """The environment a test kernel starts with: the given profile, one torch thread."""
    env = dict(os.environ)
    env["ALEXNET_LAB_PROFILE"] = profile
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def execute_notebook(nb_path: Path, workdir: Path, profile: str = "smoke") -> NotebookNode:
    """Execute a notebook with nbclient in `workdir` under `profile`; return the executed notebook.

    Raises nbclient's CellExecutionError on the first failing cell, like a student would see it.
    The file at `nb_path` is not modified.
    """
    nb = nbformat.read(str(nb_path), as_version=4)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=kernel_env(profile), cwd=str(workdir))
    return nb


def answer_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    """Answer cells by question label ('Q1' ... 'Q4b')."""
    found = {}
    for cell in nb.cells:
        label = cell.get("metadata", {}).get("alexnet_lab", {}).get("question")
        if label:
            found[label] = cell
    return found


def answer_all(
    nb: NotebookNode,
    text_for: Callable[[str], str] = lambda label: f"My answer to {label}: the kernels respond to colour and edge patterns.",
) -> NotebookNode:
    """A copy of `nb` with every answer cell's text replaced by `text_for(label)`."""
    answered = copy.deepcopy(nb)
    for label, cell in answer_cells(answered).items():
        cell.source = text_for(label)
    return answered


def executed_release(factory) -> NotebookNode:
    """The committed release executed once per test session (smoke profile); a fresh copy per call.

    `factory` is pytest's tmp_path_factory (or tmpdir_factory). The executed notebook is also
    written to disk: see `executed_release_file`.
    """
    if "nb" not in _cache:
        workdir = Path(str(factory.mktemp("release-run")))
        source = release_path()
        # Run next to a copy, so files a cell writes land in the scratch folder, not in release/.
        for item in source.parent.iterdir():
            if item.is_file():
                shutil.copy2(item, workdir / item.name)
        nb = execute_notebook(workdir / source.name, workdir)
        out = workdir / f"executed-{source.name}"
        nbformat.write(nb, str(out))
        _cache["nb"], _cache["file"] = nb, out
    return copy.deepcopy(_cache["nb"])


def executed_release_file(factory) -> Path:
    """Path of the executed release notebook on disk (read-only by convention: copy before editing)."""
    executed_release(factory)
    return _cache["file"]


def cell_by_id(nb: NotebookNode, grade_id: str) -> NotebookNode:
    """The cell with this nbgrader grade_id; KeyError if there is none."""
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def output_mimes(cell: NotebookNode) -> list[str]:
    """Every MIME type in a code cell's display outputs."""
    return [mime for out in cell.get("outputs", []) for mime in out.get("data", {})]
