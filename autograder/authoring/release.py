"""Build the student release with nbgrader, and register the assignment in a course's gradebook.

Both steps render the master (render.py) into an nbgrader course root and run nbgrader's own
generate_assignment as a library, so cell checksums, locked cells and hidden tests are exactly
nbgrader's. nbgrader does not read nbgrader_config.py when used this way: the Config is built here
from grading_config, and the same settings are written to the course root's nbgrader_config.py so
`nbgrader formgrader` and `nbgrader export` run there unchanged.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

from alexnet_core.contract import grade_id
from alexnet_core.identity import ID_VARIABLE
from alexnet_core.profiles import recipe_fields
from autograder.authoring.render import render_master, resolve_variant
from autograder.course import CourseFolder, NbgraderRoot
from autograder.errors import ConfigError, ReleaseError
from autograder.gradebook import Gradebook, MissingEntry, write_nbgrader_config
from grading_config import GradingConfig, Profile

ID_STUB = f'{ID_VARIABLE} = ""  # your student id, between the quotes'


def _nbgrader_config(root: NbgraderRoot, source_directory: str, config: GradingConfig) -> Config:
    c = Config()
    c.CourseDirectory.root = str(root.root)
    c.CourseDirectory.course_id = config.course.course_id
    c.CourseDirectory.source_directory = source_directory
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.db_url = root.gradebook_url
    # The one solution code cell is the student id cell: its stub is an empty id, not nbgrader's
    # `raise NotImplementedError()`.
    c.ClearSolutions.code_stub = {"python": ID_STUB}
    return c


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
        if grade_id(cell) and any(nbg.get(k) for k in ("grade", "solution", "task", "locked")):
            names.add(grade_id(cell))
    return names


def _recorded_state(root: NbgraderRoot, config: GradingConfig):
    """(cell names recorded, number of submissions) for the assignment's notebook, or None."""
    if not root.db_url and not root.gradebook.exists():
        return None
    course = config.course
    with Gradebook(root.gradebook_url, course.course_id) as gb:
        try:
            notebook = gb.find_notebook(course.notebook, course.assignment)
        except MissingEntry:
            return None
        names = {c.name for c in notebook.source_cells}
        return names, len(notebook.submissions)


def _generate(root: NbgraderRoot, source_directory: str, rendered, config: GradingConfig) -> Path:
    """Write `rendered` as the assignment's source notebook under root and run generate_assignment."""
    course = config.course
    source = root.source_notebook(source_directory)
    source_dir = source.parent
    db_path = root.gradebook_shown
    state = _recorded_state(root, config)
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
    nbformat.write(rendered, str(source))

    _venv_on_path()
    api = NbGraderAPI(config=_nbgrader_config(root, source_directory, config))
    result = api.generate_assignment(course.assignment, force=True, create=True)
    if not result["success"]:
        last = (result.get("error") or result.get("log") or "no message").strip().splitlines()[-1]
        raise ReleaseError(f"{root.root}: nbgrader generate_assignment failed for {course.assignment!r}: {last}")
    return root.release_dir()


def build_release(course: CourseFolder, config: GradingConfig, profile: Profile, variant: str | None = None) -> Path:
    """`alexnet-lab release`: render the course's master and write `release/<variant>/<assignment>/`.

    nbgrader's generate_assignment runs in a throwaway course root (its gradebook included: the
    course folder gets nothing but the release), and the new release replaces the variant's folder
    only once it is whole. `profile` is the one the release trains; the CLI's default is the
    config's course.default_profile (as course.default_variant is the variant's), never the shell's
    $ALEXNET_LAB_PROFILE, so the committed release is reproducible anywhere.
    """
    variant = resolve_variant(variant, config)
    rendered = render_master(variant, profile, master=course.master, config=config)
    target = course.release_dir(variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="alexnet-lab-release-") as scratch:
        built = _generate(NbgraderRoot(Path(scratch), config.course), "source", rendered, config)
        staged = target.with_name(target.name + ".new")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(built, staged)
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staged.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    return target


def release_stamp(notebook: Path) -> dict:
    """The `metadata.alexnet_lab` a release wrote into its notebook ({} when it has none)."""
    try:
        stamp = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {}).get("alexnet_lab")
    except (OSError, ValueError, AttributeError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def grading_profile_name(course: CourseFolder, config: GradingConfig, chosen: str | None = None,
                         check_settings: bool = True) -> str | None:
    """The name of the profile to grade with, by the rule every command follows: the one told
    (`chosen`: --profile, or $ALEXNET_LAB_PROFILE), else the one the course's releases stamped, else
    None (the course default); `autograder.config.select_profile` resolves it.

    ConfigError (one line) when releases of different variants trained different profiles and
    none was told, or (`check_settings`) when the chosen profile's training settings in the config
    are no longer those its release stamped: students ran the release's, and a re-run with others
    would find every honest student's outputs not their own.
    """
    stamps = {path: release_stamp(path) for path in course.released_notebooks()}
    stamps = {path: s for path, s in stamps.items() if isinstance(s.get("profile"), str)}
    if chosen is None:
        names = sorted({s["profile"] for s in stamps.values()})
        if len(names) > 1:
            shown = ", ".join(f"{_shown(path, course)} trains {s['profile']!r}" for path, s in stamps.items())
            raise ConfigError(f"the course's releases train different profiles ({shown}); say which to grade "
                              "with --profile NAME")
        chosen = names[0] if names else None
    if check_settings and chosen is not None and chosen in config.profiles:
        now = recipe_fields(config.profiles[chosen])
        for path, stamp in stamps.items():
            then = stamp.get("recipe")
            if stamp["profile"] != chosen or not isinstance(then, dict):
                continue
            changed = [k for k in now if k != "seed" and k in then and then[k] != now[k]]
            if changed:
                was = ", ".join(f"{k} {then[k]!r}" for k in changed)
                is_now = ", ".join(f"{k} {now[k]!r}" for k in changed)
                raise ConfigError(f"{_shown(path, course)} was released with {chosen} {was}, but the settings now say "
                                  f"{is_now}: students ran the release's; restore those settings, or run "
                                  "`alexnet-lab release` again before students start")
    return chosen


def _shown(path: Path, course: CourseFolder) -> str:
    try:
        return str(path.relative_to(course.root))
    except ValueError:
        return str(path)


# What a grading course root registers: the variant without Colab's install cell (the grader's
# kernel has the library), whose cells are the same as every variant's.
GRADING_VARIANT = "local"


def register(nbgrader_root: Path, master: Path, config: GradingConfig, profile: Profile) -> Path:
    """Make `nbgrader_root` an nbgrader course root holding the assignment in the gradebook
    `config.gradebook.url` names (empty: the root's own SQLite file); return that file's path.

    Idempotent: when the gradebook already holds this exact rendering, nothing is regenerated (safe
    while submissions exist). A changed master is registered again when its cells are the same; a
    master whose cells were added or removed after submissions were recorded raises ReleaseError.
    """
    root = NbgraderRoot(Path(nbgrader_root).resolve(), config.course, config.gradebook.url)
    root.root.mkdir(parents=True, exist_ok=True)
    # The rubric stays in OUT's copy (TA-only, never released): the grading page's items start from it.
    rendered = render_master(resolve_variant(GRADING_VARIANT, config), profile, master=master, config=config,
                             keep_rubric=True)
    write_nbgrader_config(root, config)

    source = root.source_notebook()
    if (source.exists() and _recorded_state(root, config) is not None
            and nbformat.read(str(source), as_version=4) == rendered):
        return root.gradebook  # already registered from this very master
    _generate(root, "source", rendered, config)
    return root.gradebook
