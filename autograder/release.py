"""Build the student release with nbgrader, and register the assignment in a course's gradebook.

Both steps render the master (render.py) into an nbgrader course root and run nbgrader's own
generate_assignment as a library, so cell checksums, locked cells and hidden tests are exactly
nbgrader's. nbgrader does not read nbgrader_config.py when used this way: the Config is built here
from grading_config, and the same settings are written to the course root's nbgrader_config.py so
`nbgrader formgrader` and `nbgrader export` run there unchanged.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nbformat
from traitlets.config import Config

import grading_config
from autograder.errors import ReleaseError
from autograder.render import REPO, master_path, render_master, resolve_profile, resolve_variant

# Where `alexnet-lab release` renders the nbgrader source notebook inside the repository (git-ignored):
# the repository's own source/ holds the Jinja master, which nbgrader must not read.
RENDERED_DIR = ".build/source"


def _nbgrader_config(root: Path, source_directory: str, config: grading_config.GradingConfig) -> Config:
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = config.course.course_id
    c.CourseDirectory.source_directory = source_directory
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    return c


def _config_file_text(config: grading_config.GradingConfig) -> str:
    return (
        "# Written by `alexnet-lab`: the nbgrader settings of this course root.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {config.course.course_id!r}\n"
        "c.CourseDirectory.root = __import__('os').path.dirname(__import__('os').path.abspath(__file__))\n"
    )


def _venv_on_path() -> None:
    """nbgrader runs `alembic` as a subprocess: our interpreter's bin/ must be on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _cell_names(nb) -> set[str]:
    """grade_ids nbgrader records for a notebook (grade, solution, task or locked cells)."""
    names = set()
    for cell in nb.cells:
        nbg = cell.metadata.get("nbgrader", {})
        if nbg.get("grade_id") and any(nbg.get(k) for k in ("grade", "solution", "task", "locked")):
            names.add(nbg["grade_id"])
    return names


def _recorded_state(db_path: Path, config: grading_config.GradingConfig):
    """(cell names recorded, number of submissions) for the assignment's notebook, or None."""
    if not db_path.exists():
        return None
    from nbgrader.api import Gradebook, MissingEntry

    course = config.course
    with Gradebook(f"sqlite:///{db_path}", course.course_id) as gb:
        try:
            notebook = gb.find_notebook(course.notebook, course.assignment)
        except MissingEntry:
            return None
        names = {c.name for c in notebook.source_cells}
        return names, len(notebook.submissions)


def _generate(root: Path, source_directory: str, rendered, config: grading_config.GradingConfig) -> Path:
    """Write `rendered` as the assignment's source notebook under root and run generate_assignment."""
    course = config.course
    source_dir = root / source_directory / course.assignment
    db_path = root / "gradebook.db"
    state = _recorded_state(db_path, config)
    if state is not None and state[1] > 0:
        recorded, submissions = state
        new = _cell_names(rendered)
        if new != recorded:
            added, removed = sorted(new - recorded), sorted(recorded - new)
            raise ReleaseError(
                f"{db_path}: the master's cells changed (added {added or 'none'}, removed {removed or 'none'}) "
                f"but {submissions} submission(s) of {course.assignment!r} are already recorded, and nbgrader "
                "cannot change the cells of a graded assignment; grade into a new output folder, or restore "
                "the master's cells."
            )
    if source_dir.exists():
        shutil.rmtree(source_dir)
    source_dir.mkdir(parents=True)
    nbformat.write(rendered, str(source_dir / f"{course.notebook}.ipynb"))

    _venv_on_path()
    from nbgrader.apps import NbGraderAPI

    api = NbGraderAPI(config=_nbgrader_config(root, source_directory, config))
    result = api.generate_assignment(course.assignment, force=True, create=True)
    if not result["success"]:
        last = (result.get("error") or result.get("log") or "no message").strip().splitlines()[-1]
        raise ReleaseError(f"{root}: nbgrader generate_assignment failed for {course.assignment!r}: {last}")
    return root / "release" / course.assignment


def build_release(variant: str | None = None, profile: str | None = None, root: Path | None = None,
                  config: grading_config.GradingConfig = grading_config.CONFIG) -> Path:
    """`alexnet-lab release`: render the master of `root` (default: this repository) and write
    `root/release/<assignment>/`, recording the assignment in `root/gradebook.db`.

    Defaults are grading_config's (Course.default_variant, Course.default_profile), never the
    shell's $ALEXNET_LAB_PROFILE, so the committed release is reproducible anywhere.
    """
    root = Path(root or REPO).resolve()
    rendered = render_master(resolve_variant(variant, config), resolve_profile(profile, config),
                             master=master_path(root, config), config=config)
    return _generate(root, RENDERED_DIR, rendered, config)


def register(course_root: Path, profile: str | None = None, variant: str = "local",
             config: grading_config.GradingConfig = grading_config.CONFIG, master: Path | None = None) -> Path:
    """Make `course_root` an nbgrader course root holding the assignment; return its gradebook.

    Idempotent: when the gradebook already holds this exact rendering, nothing is regenerated (safe
    while submissions exist). A changed master is registered again when its cells are the same; a
    master whose cells were added or removed after submissions were recorded raises ReleaseError.
    `profile` None means the active profile ($ALEXNET_LAB_PROFILE, else the course default).
    """
    course_root = Path(course_root).resolve()
    course_root.mkdir(parents=True, exist_ok=True)
    chosen = resolve_profile(profile or os.environ.get(grading_config.PROFILE_ENV), config)
    rendered = render_master(resolve_variant(variant, config), chosen, master=master, config=config)
    (course_root / "nbgrader_config.py").write_text(_config_file_text(config))

    course = config.course
    source = course_root / "source" / course.assignment / f"{course.notebook}.ipynb"
    db_path = course_root / "gradebook.db"
    if source.exists() and _recorded_state(db_path, config) is not None:
        if nbformat.read(str(source), as_version=4) == rendered:
            return db_path  # already registered from this very master
    _generate(course_root, "source", rendered, config)
    return db_path
