"""The master a submission is compared with: its cells as the gradebook holds them, and the
release versions students may have received.

The gradebook (nbgrader's, written by `register`) is the record of which cells exist, which are
locked and what each grade cell is worth; the rendered release of each variant and profile says
what a locked cell's code looked like when the student got it.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests

from alexnet_core.contract import grade_id
from autograder.authoring.render import render_master
from autograder.course import NbgraderRoot
from autograder.errors import LabError
from autograder.gradebook import Gradebook, MissingEntry
from grading_config import GradingConfig

# (master, its mtime, variant, profile, config) -> grade_id -> source; rendering costs ~0.1 s.
# The config is keyed by value (its repr: it holds dicts, so it has no hash), never by id(): a
# config built per call (`_with_seeds`) then finds its rendering again, and a freed config's id
# reused by another cannot return the wrong release.
_RELEASES: dict[tuple, dict[str, str] | None] = {}
"""Process-wide, on purpose: each release variant x profile is rendered once per coordinator, not once per
submission; a changed master (its mtime) or setting is a new key. `RELEASES_KEPT` bounds it (a
long-lived process, a test session, sees many configs)."""
RELEASES_KEPT = 64
# (gradebook, course, their mtimes) -> the registered master's cells.
_MASTERS: dict[tuple, list] = {}


@dataclass
class MasterCell:
    """One cell of the registered master, as the gradebook holds it."""

    name: str
    cell_type: str
    locked: bool
    source: str
    checksum: str
    grade: bool
    solution: bool
    points: float | None
    tags: tuple = ()
    """The master cell's tags, which nbclient reads (skip-execution, raises-exception)."""

    def metadata(self) -> dict:
        meta = {"grade": self.grade, "grade_id": self.name, "locked": self.locked,
                "schema_version": 3, "solution": self.solution, "checksum": self.checksum}
        if self.grade:
            meta["points"] = self.points
        return meta


def _stamp(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def load_master(root: NbgraderRoot) -> list[MasterCell]:
    """The master's cells in notebook order, from the gradebook of an nbgrader course root.

    Read once per registration (prepare asks for every submission of a batch): the answer is
    kept until the gradebook or the registered source notebook changes.
    """
    db = root.gradebook
    if not root.db_url and not db.exists():
        raise LabError(f"{db}: no gradebook; register the assignment first "
                       f"(autograder.authoring.release.register, which `alexnet-lab grade` calls)")
    # A server database has no mtime; registering again rewrites the source notebook, whose mtime says so.
    key = (root.gradebook_url, root.course, _stamp(db) if not root.db_url else None, _stamp(root.source_notebook()))
    if key not in _MASTERS:
        _MASTERS[key] = _read_master(root)
    return list(_MASTERS[key])


def _read_master(root: NbgraderRoot) -> list[MasterCell]:
    course = root.course
    with Gradebook(root.gradebook_url) as gb:
        try:
            notebook = gb.find_notebook(course.notebook, course.assignment)
        except MissingEntry:
            raise LabError(f"{root.gradebook_shown}: assignment {course.assignment!r} has no notebook {course.notebook!r}; "
                           f"register the assignment again") from None
        grades = {c.name: c.max_score for c in notebook.grade_cells}
        solutions = {c.name for c in notebook.solution_cells}
        # nbgrader stores source cells in notebook order (it relies on that itself when it puts
        # missing cells back); the source notebook in the course root, when present, confirms it.
        cells = [MasterCell(c.name, c.cell_type, bool(c.locked), c.source, c.checksum, c.name in grades,
                            c.name in solutions, float(grades[c.name]) if c.name in grades else None)
                 for c in notebook.source_cells]
    source = _source_cells(root.source_notebook())
    if source:
        rank = {name: i for i, name in enumerate(source)}
        cells.sort(key=lambda c: rank.get(c.name, len(rank)))
        for cell in cells:
            cell.tags = tuple(source.get(cell.name, ()))
    return cells


def _source_cells(path: Path) -> dict[str | None, list]:
    """grade_id -> tags of the registered source notebook's cells, in notebook order."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {grade_id(c): list((c.get("metadata") or {}).get("tags") or []) for c in nb.get("cells", [])}


def _release_sources(master: Path, variant: str, profile_name: str, config: GradingConfig) -> dict[str, str] | None:
    """grade_id -> source as students received it (hidden tests removed), for one variant and one
    profile of the config (by name)."""
    key = (str(master), master.stat().st_mtime_ns, variant, profile_name, repr(config))
    if key not in _RELEASES:
        if len(_RELEASES) >= RELEASES_KEPT:
            _RELEASES.pop(next(iter(_RELEASES)))  # the oldest first (dicts keep insertion order)
        try:
            nb = render_master(variant, config.profiles[profile_name], master=master, config=config)
        except LabError:  # unknown variant/profile in edited metadata: no release to compare with
            _RELEASES[key] = None
        else:
            nb, _ = ClearHiddenTests().preprocess(nb, {})
            _RELEASES[key] = {grade_id(c): c.source for c in nb.cells if grade_id(c)}
    return _RELEASES[key]


def release_versions(nb: NotebookNode, master: Path, config: GradingConfig) -> list[dict[str, str]]:
    """Cell sources of the release(s) this notebook may come from: its own stamp first, then all."""
    stamp = nb.metadata.get("alexnet_lab") if isinstance(nb.metadata.get("alexnet_lab"), dict) else {}
    variant, profile = stamp.get("variant"), stamp.get("profile")
    # The release as it was built: a course that switched per-student seeds off (or on) after the
    # release must not see every student's id section as edited.
    seeds = stamp.get("per_student_seeds")
    if isinstance(seeds, bool) and seeds != config.identity.per_student_seeds:
        config = _with_seeds(config, seeds)
    if variant in config.course.variants and profile in config.profiles:
        own = _release_sources(master, variant, profile, config)
        if own is not None:
            return [own]
    found = [_release_sources(master, v, p, config) for v in config.course.variants for p in config.profiles]
    return [s for s in found if s is not None]


def _with_seeds(config: GradingConfig, seeds: bool) -> GradingConfig:
    """The config with per-student seeds as a release was built."""
    return dataclasses.replace(config, identity=dataclasses.replace(config.identity, per_student_seeds=seeds))
