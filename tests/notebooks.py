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
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

from alexnet_core.contract import QUESTIONS, grade_id
from autograder.authoring.render import render_master
from autograder.config import load_config, select_profile
from autograder.course import CourseFolder
from autograder.demo import sample_class

REPO = Path(__file__).resolve().parent.parent
CONFIG = load_config().config
# Generous per-cell limit: training is one cell, and the two cores are shared with other tests.
CELL_TIMEOUT_S = 300

_cache: dict[str, object] = {}


def release_path() -> Path:
    """The committed student release notebook."""
    return CourseFolder(REPO, CONFIG.course).release_notebook()


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
    return execute_notebook_then(nb_path, workdir, profile)[0]


def execute_notebook_then(nb_path: Path, workdir: Path, profile: str = "smoke",
                          after: dict[str, str] | None = None) -> tuple[NotebookNode, dict[str, NotebookNode]]:
    """Like `execute_notebook`, then run more code in the same kernel without adding it to the notebook.

    `after` is {name: code}; returns (executed notebook, {name: executed code cell}). An error in
    `after` code is recorded as an error output of its cell, not raised.
    """
    nb = nbformat.read(str(nb_path), as_version=4)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.reset_execution_trackers()
    extra: dict[str, NotebookNode] = {}
    with client.setup_kernel(env=kernel_env(profile), cwd=str(workdir)):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        for name, code in (after or {}).items():
            cell = nbformat.v4.new_code_cell(code)
            nb.cells.append(cell)  # nbclient executes cells of its notebook; removed again below
            try:
                client.execute_cell(cell, len(nb.cells) - 1, store_history=False)
            except Exception:  # nbclient raises on an error output; the output is already recorded
                pass
            finally:
                nb.cells.pop()
            extra[name] = cell
    return nb, extra


def answer_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    """Answer cells by question label ('Q1' ... 'Q4b')."""
    return sample_class.answer_cells(nb)


def answer_all(
    nb: NotebookNode,
    text_for: Callable[[str], str] = lambda label: f"My answer to {label}: the kernels respond to colour and edge patterns.",
) -> NotebookNode:
    """A copy of `nb` with every answer cell's text replaced by `text_for(label)`."""
    return sample_class.answer(nb, {label: text_for(label) for label in QUESTIONS})


def hidden_tests() -> dict[str, str]:
    """The hidden tests of the automatic grade cells ({grade_id: code}), from the rendered master."""
    found = {}
    for cell in render_master("local", select_profile(CONFIG, "smoke"), master=CourseFolder(REPO, CONFIG.course).master,
                              config=CONFIG).cells:
        source = cell.source
        if cell.cell_type == "code" and "### BEGIN HIDDEN TESTS" in source:
            body = source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]
            found[cell.metadata.nbgrader.grade_id] = body.strip("\n")
    return found


def executed_release(factory) -> NotebookNode:
    """The committed release executed once per test session (smoke profile); a fresh copy per call.

    `factory` is pytest's tmp_path_factory (or tmpdir_factory). The executed notebook is also
    written to disk (`executed_release_file`). In the same kernel, after the last cell, the master's
    hidden tests run too (`executed_hidden_tests`), so a session proves they pass on a correct run.
    """
    if "nb" not in _cache:
        workdir = Path(str(factory.mktemp("release-run")))
        source = release_path()
        # Run next to a copy, so files a cell writes land in the scratch folder, not in release/.
        for item in source.parent.iterdir():
            if item.is_file():
                shutil.copy2(item, workdir / item.name)
        nb, hidden = execute_notebook_then(workdir / source.name, workdir, after=hidden_tests())
        out = workdir / f"executed-{source.name}"
        nbformat.write(nb, str(out))
        _cache["nb"], _cache["file"], _cache["hidden"] = nb, out, hidden
    return copy.deepcopy(_cache["nb"])


def executed_release_file(factory) -> Path:
    """Path of the executed release notebook on disk (read-only by convention: copy before editing)."""
    executed_release(factory)
    return _cache["file"]


def executed_hidden_tests(factory) -> dict[str, NotebookNode]:
    """{grade_id: executed hidden-test cell} from the session's run of the release."""
    executed_release(factory)
    return copy.deepcopy(_cache["hidden"])


def code_notebook(*sources: str, grade_ids: tuple[str, ...] = ("cell_0",)) -> str:
    """Code cells as a notebook's JSON text (what `run.execute` takes) for the sandbox and GPU tests: the
    first cells get `grade_ids` as their nbgrader grade ids, the rest none (the runner names them 'cell N')."""
    cells = [nbformat.v4.new_code_cell(src) for src in sources]
    for cell, gid in zip(cells, grade_ids):
        cell.metadata["nbgrader"] = {"grade_id": gid}
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells))


def cell_by_id(nb: NotebookNode, cell_id: str) -> NotebookNode:
    """The cell with this nbgrader grade_id; KeyError if there is none."""
    for cell in nb.cells:
        if grade_id(cell) == cell_id:
            return cell
    raise KeyError(f"no cell with grade_id {cell_id!r}")


def output_mimes(cell: NotebookNode) -> list[str]:
    """Every MIME type in a code cell's display outputs."""
    return [mime for out in cell.get("outputs", []) for mime in out.get("data", {})]
