"""Prepare one submission for execution: validate, keep the evidence, sanitise with nbgrader.

Order matters: the student's own outputs are read as evidence *before* nbgrader's ClearOutput
throws them away. Then nbgrader's preprocessors, used as a library, do the sanitising (ClearOutput,
DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata). Around them we add what
nbgrader does not do: metadata put back on cells whose nbgrader metadata was edited, deleted cells
(all of them, not only grade cells) put back from the gradebook, the master's cell order, and
code cells the master does not have removed unless `limits.run_extra_code`. With the default,
the notebook that runs is the master's code cells plus the student's answers, whatever was done
to the file. The submitted file is only read.
"""
from __future__ import annotations

import copy
import difflib
import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from autograder import check
from autograder.contract import PLOT_MIME, grade_id
from autograder.errors import LabError, SubmissionError
from autograder.results import Answer
from grading_config import CONFIG, GradingConfig, Profile

if TYPE_CHECKING:
    from nbformat import NotebookNode

# nbformat is imported where it is used: a runner process unpickles PreparedSubmission from this
# module, and importing nbformat (jsonschema) there would cost every job a second for nothing.

# nbgrader's preprocessors log every restored cell as a warning; we report those as flags instead.
_quiet = logging.getLogger("autograder.prepare.nbgrader")
_quiet.setLevel(logging.CRITICAL)


@dataclass
class PreparedSubmission:
    """A submission ready to execute, with what was learnt about it on the way."""

    student_id: str
    source: str
    """The submitted file path (never modified, never written)."""
    notebook: str
    """Sanitised nbformat JSON (text), ready to execute."""
    evidence: dict
    """From the student's own outputs before clearing: {'trajectory', 'plots': {'kernels', 'kinds'}, 'executed_cells'}."""
    answers: list[Answer]
    """One per question of grading_config.Points, answered or not."""
    flags: list[str] = field(default_factory=list)
    """What a TA should know: restored cells, extra code, answers in the wrong cells..."""


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

    def metadata(self) -> dict:
        meta = {"grade": self.grade, "grade_id": self.name, "locked": self.locked,
                "schema_version": 3, "solution": self.solution, "checksum": self.checksum}
        if self.grade:
            meta["points"] = self.points
        return meta


def gradebook_url(course_root: Path) -> str:
    return f"sqlite:///{Path(course_root).resolve() / 'gradebook.db'}"


def load_master(course_root: Path, config: GradingConfig = CONFIG) -> tuple[list[MasterCell], dict | None]:
    """The master's cells in notebook order and its kernelspec, from the course's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    course = config.course
    db = Path(course_root) / "gradebook.db"
    if not db.exists():
        raise LabError(f"{db}: no gradebook; register the assignment first "
                       f"(autograder.release.register, which `alexnet-lab grade` calls)")
    with Gradebook(gradebook_url(course_root)) as gb:
        try:
            notebook = gb.find_notebook(course.notebook, course.assignment)
        except MissingEntry:
            raise LabError(f"{db}: assignment {course.assignment!r} has no notebook {course.notebook!r}; "
                           f"register the assignment again") from None
        grades = {c.name: c.max_score for c in notebook.grade_cells}
        solutions = {c.name for c in notebook.solution_cells}
        # nbgrader stores source cells in notebook order (it relies on that itself when it puts
        # missing cells back); the source notebook in the course root, when present, confirms it.
        cells = [MasterCell(c.name, c.cell_type, bool(c.locked), c.source, c.checksum, c.name in grades,
                            c.name in solutions, float(grades[c.name]) if c.name in grades else None)
                 for c in notebook.source_cells]
        kernelspec = json.loads(notebook.kernelspec) if notebook.kernelspec else None
    order = _source_order(Path(course_root), config)
    if order:
        rank = {name: i for i, name in enumerate(order)}
        cells.sort(key=lambda c: rank.get(c.name, len(rank)))
    return cells, kernelspec


def _source_order(course_root: Path, config: GradingConfig) -> list[str]:
    path = course_root / "source" / config.course.assignment / f"{config.course.notebook}.ipynb"
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.get("cells", [])]


# ---------------------------------------------------------------- reading and validating

def read_submission(path: Path, config: GradingConfig = CONFIG) -> tuple[NotebookNode, list[str]]:
    """Parse the file as an nbformat-4 notebook, upgrading older formats; SubmissionError otherwise."""
    import nbformat

    path = Path(path)
    name, flags = path.name, []
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror}); check the path and permissions") from None
    limit = config.limits.submission_mb
    if size > limit * 1024 * 1024:
        raise SubmissionError(f"{name}: {size / 1024 / 1024:.0f} MB, over the {limit:g} MB limit "
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


def check_assignment(nb: NotebookNode, master: list[MasterCell], name: str, config: GradingConfig) -> list[str]:
    """Refuse another assignment's notebook; flag a missing notebook-level stamp."""
    expected = config.course.assignment
    stamp = nb.metadata.get("alexnet_lab")
    if isinstance(stamp, dict) and stamp.get("assignment") not in (None, expected):
        raise SubmissionError(f"{name}: this is the notebook of assignment {stamp.get('assignment')!r}, "
                              f"not {expected!r}; ask for the {expected} notebook")
    known = {c.name for c in master}
    if not any(grade_id(c) in known for c in nb.cells) and not isinstance(stamp, dict):
        raise SubmissionError(f"{name}: not the {expected} notebook (none of its cells and no "
                              f"alexnet_lab metadata); ask for the {expected} notebook")
    if not isinstance(stamp, dict):
        return ["notebook-level alexnet_lab metadata is missing (edited or another copy of the notebook)"]
    return []


# ---------------------------------------------------------------- evidence

def extract_evidence(nb: NotebookNode) -> dict:
    """What the student's saved outputs show: their training record and the kernel plots."""
    # Outputs are the student's to edit: only well-formed kinds count.
    kinds = sorted({rec.get("kind") for _, rec in check.output_records(nb, PLOT_MIME)
                    if isinstance(rec.get("kind"), str)})
    return {
        "trajectory": check.read_trajectory(nb),
        "plots": {"kernels": check.read_kernel_plots(nb), "kinds": kinds},
        "executed_cells": sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count")),
    }


# ---------------------------------------------------------------- the release the student got

@functools.lru_cache(maxsize=8)
def _release_sources(variant: str | None, profile: str | None) -> dict[str, str] | None:
    """grade_id -> source as students received it (hidden tests removed), for one variant/profile."""
    from nbgrader.preprocessors import ClearHiddenTests

    from autograder.render import render_master

    try:
        nb = render_master(variant, profile)
    except Exception:  # unknown variant/profile in edited metadata: no release to compare with
        return None
    clear = ClearHiddenTests()
    sources = {}
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid:
            cell = copy.deepcopy(cell)
            clear._remove_hidden_test_region(cell)
            sources[gid] = cell.source
    return sources


def release_versions(nb: NotebookNode, config: GradingConfig) -> list[dict[str, str]]:
    """Cell sources of the release(s) this notebook may come from: its own stamp first, then all."""
    stamp = nb.metadata.get("alexnet_lab") if isinstance(nb.metadata.get("alexnet_lab"), dict) else {}
    own = _release_sources(stamp.get("variant"), stamp.get("profile"))
    if own is not None:
        return [own]
    found = [_release_sources(v, p) for v in config.course.variants for p in config.profiles]
    return [s for s in found if s is not None]


def _added_text(student: str, original: str) -> str:
    """Text the student's version adds to the original (line-wise)."""
    diff = difflib.ndiff(original.splitlines(), student.splitlines())
    return "\n".join(line[2:] for line in diff if line.startswith("+ ")).strip()


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------- sanitising

def _points(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def normalise_metadata(nb: NotebookNode, master: list[MasterCell], releases: list[dict], config) -> list[str]:
    """Give cells with a master grade_id the master's nbgrader metadata; flag what was edited.

    Also: cells whose grade_id is unknown lose their nbgrader metadata (they become the student's
    own cells), and a code cell whose metadata was deleted is matched back to its master cell by
    its source when that cell is otherwise missing.
    """
    flags = []
    by_name = {m.name: m for m in master}
    present = {grade_id(c) for c in nb.cells}
    for index, cell in enumerate(nb.cells):
        nbg = cell.metadata.get("nbgrader")
        gid = grade_id(cell)
        if gid is None and cell.cell_type == "code":
            twin = next((m for m in master if m.cell_type == "code" and m.name not in present
                         and any(r.get(m.name, "").strip() == cell.source.strip() for r in releases)), None)
            if twin is not None and cell.source.strip():
                flags.append(f"cell {index + 1} had lost its nbgrader metadata; matched to {twin.name} by its code")
                cell.metadata["nbgrader"] = twin.metadata()
                present.add(twin.name)
            continue
        if nbg is None:
            continue
        if gid not in by_name:
            flags.append(f"cell {index + 1} has nbgrader metadata for an unknown cell ({gid!r}); treated as the student's own cell")
            del cell.metadata["nbgrader"]
            continue
        m = by_name[gid]
        expected = m.metadata()
        edited = [k for k in ("grade", "solution", "locked") if bool(nbg.get(k, False)) != expected[k]]
        if m.grade and _points(nbg.get("points")) != m.points:
            edited.append("points")
        if cell.cell_type != m.cell_type:
            edited.append("cell type")
        if edited:
            flags.append(f"nbgrader metadata of cell {gid} was edited ({', '.join(edited)}); restored")
        cell.metadata["nbgrader"] = {**expected, "checksum": nbg.get("checksum", m.checksum)}
    return flags


def tamper_report(nb: NotebookNode, master: list[MasterCell], releases: list[dict], config) -> list[str]:
    """Flags for locked code cells whose code differs from the release, and for text typed into
    locked markdown cells (answers in the wrong place). Run before OverwriteCells restores them."""
    flags = []
    by_name = {m.name: m for m in master}
    min_chars = config.points.min_answer_chars
    for cell in nb.cells:
        m = by_name.get(grade_id(cell))
        if m is None or not m.locked or cell.cell_type != m.cell_type:
            continue
        originals = [r[m.name] for r in releases if m.name in r] or [m.source]
        if any(cell.source.strip() == o.strip() for o in originals):
            continue
        if m.cell_type == "code":
            flags.append(f"locked cell {m.name} was edited; the master's code was restored and run")
        else:
            added = min((_added_text(cell.source, o) for o in originals), key=len)
            if len(added) >= min_chars:
                flags.append(f"text typed into the locked cell {m.name} (not an answer cell; not graded): "
                             f"\"{_short(added)}\"")
    return flags


def run_nbgrader(nb: NotebookNode, course_root: Path, config: GradingConfig, name: str = "notebook") -> NotebookNode:
    """nbgrader's own sanitising, as its autograde runs it (without execution)."""
    from nbgrader.nbgraderformat import ValidationError
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        OverwriteCells, OverwriteKernelspec)

    resources = {"nbgrader": {"notebook": config.course.notebook, "assignment": config.course.assignment,
                              "db_url": gradebook_url(course_root)}}
    # Missing cells are put back by `assemble` below, for every master cell; nbgrader's
    # add_missing_cells only knows grade cells and fails when the cell before is a locked one.
    steps = [ClearOutput(), DeduplicateIds(), OverwriteKernelspec(), OverwriteCells(add_missing_cells=False),
             CheckCellMetadata()]
    for step in steps:
        step.log = _quiet
        try:
            nb, resources = step.preprocess(nb, resources)
        except (ValidationError, RuntimeError, KeyError, ValueError) as exc:
            raise SubmissionError(f"{name}: nbgrader could not sanitise it ({type(step).__name__}: "
                                  f"{str(exc).splitlines()[0][:150] if str(exc) else type(exc).__name__}); "
                                  f"grade it by hand or ask for a fresh copy of the release") from None
        if isinstance(step, DeduplicateIds):
            # DeduplicateIds leaves `nbgrader: {}` on the copies it demotes, which
            # CheckCellMetadata then rejects as schema version 0: those are plain cells now.
            for cell in nb.cells:
                if cell.metadata.get("nbgrader") == {}:
                    del cell.metadata["nbgrader"]
    return nb


def _cell_from_master(m: MasterCell, config) -> NotebookNode:
    import nbformat

    if m.cell_type == "code":
        cell = nbformat.v4.new_code_cell(m.source)
    else:
        cell = nbformat.v4.new_markdown_cell(m.source)
    cell.metadata["nbgrader"] = m.metadata()
    label = check.answer_label(m.name, config.points)
    if label:
        cell.metadata["alexnet_lab"] = {"question": label}
    return cell


def assemble(nb: NotebookNode, master: list[MasterCell], run_extra_code: bool, config) -> tuple[NotebookNode, list[str]]:
    """The notebook in the master's order: every master cell (put back when deleted), the student's
    own markdown cells after the master cell they followed, their code cells only if allowed."""
    flags = []
    known = {m.name for m in master}
    attached: dict[str | None, list] = {}
    mine: dict[str, NotebookNode] = {}
    seen_order, anchor = [], None
    for index, cell in enumerate(nb.cells):
        gid = grade_id(cell)
        if gid in known and gid not in mine:
            mine[gid], anchor = cell, gid
            seen_order.append(gid)
            continue
        if cell.cell_type == "code":
            if not cell.source.strip():
                continue
            if not run_extra_code:
                flags.append(f"extra code cell {index + 1} not run (the lab asks for no code): \"{_short(cell.source, 50)}\"")
                continue
            flags.append(f"extra code cell {index + 1} was run (limits.run_extra_code is on)")
        elif cell.cell_type == "markdown" and len(cell.source.strip()) >= config.points.min_answer_chars:
            flags.append(f"text in a cell that is not an answer cell (cell {index + 1}, not graded): \"{_short(cell.source)}\"")
        attached.setdefault(anchor, []).append(cell)
    master_order = [m.name for m in master if m.name in mine]
    if seen_order != master_order:
        flags.append("cells were moved; the notebook was run in the master's order")
    cells = list(attached.get(None, []))
    for m in master:
        if m.name in mine:
            cells.append(mine[m.name])
        else:
            what = "answer cell" if m.solution else ("grade cell" if m.grade else "cell")
            flags.append(f"{what} {m.name} was deleted; put back from the master")
            cells.append(_cell_from_master(m, config))
        cells.extend(attached.get(m.name, []))
    out = copy.copy(nb)
    out.cells = cells
    return out, flags


def collect_answers(nb: NotebookNode, master: list[MasterCell], config) -> list[Answer]:
    """One Answer per question of grading_config.Points, read from the answer cells by grade_id."""
    by_id = {grade_id(c): c for c in nb.cells if grade_id(c)}
    answers = []
    for m in master:
        label = check.answer_label(m.name, config.points)
        if not (label and m.solution):
            continue
        cell = by_id.get(m.name)
        text = cell.source if cell is not None else m.source
        answers.append(check.grade_answer(label, m.name, text, m.source, config.points))
    return answers


def prepare(student_id: str, path: Path, course_root: Path, profile: Profile,
            config: GradingConfig = CONFIG) -> PreparedSubmission:
    """Validate, keep the evidence, sanitise; raises SubmissionError (one line) for bad input."""
    import nbformat

    path = Path(path)
    nb, flags = read_submission(path, config)
    master, _ = load_master(course_root, config)
    flags += check_assignment(nb, master, path.name, config)
    evidence = extract_evidence(nb)  # before ClearOutput throws the outputs away
    stamp = nb.metadata.get("alexnet_lab") if isinstance(nb.metadata.get("alexnet_lab"), dict) else {}
    releases = release_versions(nb, config)
    flags += normalise_metadata(nb, master, releases, config)
    counts: dict[str, int] = {}
    for cell in nb.cells:
        if grade_id(cell):
            counts[grade_id(cell)] = counts.get(grade_id(cell), 0) + 1
    flags += [f"cell {gid} appears {n} times; the last copy is graded" for gid, n in counts.items() if n > 1]
    flags += tamper_report(nb, master, releases, config)
    nb = run_nbgrader(nb, course_root, config, path.name)
    nb, more = assemble(nb, master, config.limits.run_extra_code, config)
    flags += more
    nb.metadata["alexnet_lab"] = {**stamp, "assignment": config.course.assignment, "profile": profile.name,
                                  "student_id": student_id}
    answers = collect_answers(nb, master, config)
    return PreparedSubmission(student_id=student_id, source=str(path), notebook=nbformat.writes(nb),
                              evidence=evidence, answers=answers, flags=flags)
