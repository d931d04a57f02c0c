"""Sanitise one submission for execution: a declared list of nbgrader-style preprocessors.

Order matters, and `prepare` shows it: the file is read (`read`), the student's own outputs are
kept as evidence (`evidence`) before nbgrader's ClearOutput throws them away, and then each step
of `steps()` runs as a preprocessor over the notebook, nbgrader's own (ClearOutput, DeduplicateIds,
OverwriteKernelspec, OverwriteCells, CheckCellMetadata) among ours. Ours do what nbgrader does
not: refuse another assignment's notebook, put back the master's metadata on cells whose nbgrader
metadata was edited, report edited locked cells, put back deleted cells (all of them, not only
grade cells), restore the master's cell order and drop code cells the master does not have
unless `limits.run_extra_code`. With the default, the notebook that runs is the master's code
cells plus the student's answers, whatever was done to the file. The submitted file is only read.

Each step reads what it needs from `resources["alexnet_lab"]` (the master's cells, the release
versions, the config, the file's name) and adds its flags to `resources["alexnet_lab"]["flags"]`.
"""
from __future__ import annotations

import copy
import difflib
import logging
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.nbgraderformat import ValidationError
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells, OverwriteKernelspec
from nbgrader.utils import compute_checksum

from alexnet_core.contract import answer_label, grade_id
from alexnet_core.identity import ID_CELL, derive_seed, id_cell_source, id_problem, normalise_id, typed_id
from autograder.course import NbgraderRoot
from autograder.errors import SubmissionError
from autograder.submission.evidence import extract_evidence
from autograder.submission.master import MasterCell, load_master, release_versions
from autograder.submission.read import read_submission
from autograder.submission.results import Answer, PreparedSubmission
from autograder.submission.scoring import grade_answer
from autograder.submission.stray import NOT_AN_ANSWER_CELL, TYPED_INTO_LOCKED
from grading_config import GradingConfig, Points, Profile

# nbgrader's preprocessors log every restored cell as a warning; we report those as flags instead.
_quiet = logging.getLogger("autograder.submission.sanitise.nbgrader")
_quiet.setLevel(logging.CRITICAL)


# ---------------------------------------------------------------- what each step does

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
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of 400 digits
        return None


def normalise_metadata(nb: NotebookNode, master: list[MasterCell], releases: list[dict],
                       released: frozenset = frozenset()) -> list[str]:
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
        # Points are the gradebook's, whatever the notebook says, and put back. A course that
        # changed points after the release gave honest students notebooks with the old values: a
        # locked grade cell still as released (`released`) or an answer cell (its checksum covers
        # the student's text, so it cannot tell) is not flagged for them.
        if (m.grade and not m.solution and gid not in released and "points" in nbg
                and _points(nbg.get("points")) != m.points):
            edited.append("points")
        if cell.cell_type != m.cell_type:
            edited.append("cell type")
        if edited:
            flags.append(f"nbgrader metadata of cell {gid} was edited ({', '.join(edited)}); restored")
        cell.metadata["nbgrader"] = {**expected, "checksum": nbg.get("checksum", m.checksum)}
    return flags


def as_released(cell: NotebookNode) -> bool:
    """Whether a cell is still exactly as some release gave it: its content matches the checksum
    nbgrader stored in it at release (source, type, role, id and, for a grade cell, points).

    A course may change its master or its points after students downloaded the notebook (a
    typo fixed, Q1 worth 3): their locked cells then differ from today's rendering but still
    match their own checksum, so they are an earlier release's, not edits. Anyone who can edit
    a cell can also recompute a checksum, so this only spares honest students a flag: the cells
    are put back from the gradebook either way (OverwriteCells), and nothing is graded from them.
    """
    nbg = cell.metadata.get("nbgrader")
    if not isinstance(nbg, dict) or not isinstance(nbg.get("checksum"), str):
        return False
    try:
        return compute_checksum(cell) == nbg["checksum"]
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):  # float() of 400-digit points
        return False


def tamper_report(nb: NotebookNode, master: list[MasterCell], releases: list[dict], min_chars: int,
                  released: frozenset = frozenset()) -> list[str]:
    """Flags for locked code cells whose code differs from the release, and for text typed into
    locked markdown cells (answers in the wrong place). Run before OverwriteCells restores them.
    `released`: grade ids of cells still as an earlier release gave them (`as_released`)."""
    flags = []
    by_name = {m.name: m for m in master}
    for cell in nb.cells:
        m = by_name.get(grade_id(cell))
        if m is None or not m.locked or cell.cell_type != m.cell_type:
            continue
        originals = [r[m.name] for r in releases if m.name in r] or [m.source]
        if any(cell.source.strip() == o.strip() for o in originals) or m.name in released:
            continue
        if m.cell_type == "code":
            flags.append(f"locked cell {m.name} was edited; the master's code was restored and run")
        else:
            added = min((_added_text(cell.source, o) for o in originals), key=len)
            if len(added) >= min_chars:
                flags.append(f"text {TYPED_INTO_LOCKED} {m.name} ({NOT_AN_ANSWER_CELL}; not graded): "
                             f"\"{_short(added)}\"")
    return flags


def _cell_from_master(m: MasterCell, labels) -> NotebookNode:
    if m.cell_type == "code":
        cell = nbformat.v4.new_code_cell(m.source)
    else:
        cell = nbformat.v4.new_markdown_cell(m.source)
    cell.metadata["nbgrader"] = m.metadata()
    label = answer_label(m.name, labels)
    if label:
        cell.metadata["alexnet_lab"] = {"question": label}
    return cell


def assemble(nb: NotebookNode, master: list[MasterCell], config: GradingConfig) -> tuple[NotebookNode, list[str]]:
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
            if not config.limits.run_extra_code:
                flags.append(f"extra code cell {index + 1} not run (the lab asks for no code): \"{_short(cell.source, 50)}\"")
                continue
            flags.append(f"extra code cell {index + 1} was run (limits.run_extra_code is on)")
        elif cell.cell_type == "markdown" and len(cell.source.strip()) >= config.points.min_answer_chars:
            flags.append(f"text in a cell that is {NOT_AN_ANSWER_CELL} (cell {index + 1}, not graded): "
                         f"\"{_short(cell.source)}\"")
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
            cells.append(_cell_from_master(m, config.points.questions))
        cells.extend(attached.get(m.name, []))
    out = copy.copy(nb)
    out.cells = cells
    return out, flags


def collect_answers(nb: NotebookNode, master: list[MasterCell], points: Points) -> list[Answer]:
    """One Answer per question of the config's points, read from the answer cells by grade_id."""
    by_id = {grade_id(c): c for c in nb.cells if grade_id(c)}
    answers = []
    for m in master:
        label = answer_label(m.name, points.questions)
        if not (label and m.solution):
            continue
        cell = by_id.get(m.name)
        text = cell.source if cell is not None else m.source
        answers.append(grade_answer(label, m.name, text, m.source, points))
    return answers


# ---------------------------------------------------------------- the steps, as preprocessors

def _lab(resources: dict) -> dict:
    return resources["alexnet_lab"]


class CheckAssignment(Preprocessor):
    """Refuse another assignment's notebook (SubmissionError); flag a missing notebook stamp."""

    def preprocess(self, nb, resources):
        lab = _lab(resources)
        lab["flags"] += check_assignment(nb, lab["master"], lab["name"], lab["config"])
        return nb, resources


class RestoreMetadata(Preprocessor):
    """Master cells get the master's nbgrader metadata back; duplicated grade ids are reported."""

    def preprocess(self, nb, resources):
        lab = _lab(resources)
        # Before the metadata is restored: whether each cell is still as its release gave it.
        lab["released"] = frozenset(grade_id(c) for c in nb.cells if grade_id(c) and as_released(c))
        lab["flags"] += normalise_metadata(nb, lab["master"], lab["releases"], lab["released"])
        counts: dict[str, int] = {}
        for cell in nb.cells:
            if grade_id(cell):
                counts[grade_id(cell)] = counts.get(grade_id(cell), 0) + 1
        lab["flags"] += [f"cell {gid} appears {n} times; the last copy is graded" for gid, n in counts.items() if n > 1]
        return nb, resources


class ReportTampering(Preprocessor):
    """Flags for edited locked cells, before OverwriteCells restores them."""

    def preprocess(self, nb, resources):
        lab = _lab(resources)
        lab["flags"] += tamper_report(nb, lab["master"], lab["releases"], lab["config"].points.min_answer_chars,
                                      lab.get("released", frozenset()))
        return nb, resources


class DropEmptyNbgraderMetadata(Preprocessor):
    """DeduplicateIds leaves `nbgrader: {}` on the copies it demotes, which CheckCellMetadata then
    rejects as schema version 0: those are plain cells now."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            if cell.metadata.get("nbgrader") == {}:
                del cell.metadata["nbgrader"]
        return nb, resources


class RestoreExecutionMetadata(Preprocessor):
    """What nbclient reads from a cell besides its code is the master's: its tags (skip-execution
    would silently skip the cell, raises-exception would hide an error). A master cell gets the
    master's tags back; a cell of the student's own (run only with run_extra_code) gets none."""

    def preprocess(self, nb, resources):
        lab = _lab(resources)
        by_name = {m.name: m for m in lab["master"]}
        for index, cell in enumerate(nb.cells):
            master = by_name.get(grade_id(cell))
            wanted = list(master.tags) if master else []
            tags = cell.metadata.get("tags")
            if (tags or []) != wanted and cell.cell_type == "code":  # nbclient runs code cells only
                where = f"cell {master.name}" if master else f"cell {index + 1}"
                lab["flags"].append(f"tags of {where} were edited ({tags!r}); restored from the master")
            if wanted:
                cell.metadata["tags"] = wanted
            else:
                cell.metadata.pop("tags", None)
        return nb, resources


class AssembleInMasterOrder(Preprocessor):
    """Every master cell in the master's order (deleted ones put back), the student's own cells
    after the master cell they followed, their code only when allowed."""

    def preprocess(self, nb, resources):
        lab = _lab(resources)
        nb, flags = assemble(nb, lab["master"], lab["config"])
        lab["flags"] += flags
        return nb, resources


class ReplaceIdCell(Preprocessor):
    """The student id cell is replaced, not run, like every other cell: it runs with the id of the
    submitter (the LMS zip, the roster, nbgrader's `submitted/` tree), never the id typed in it.
    A typed id that differs from the submitter's is a flag naming both."""

    def preprocess(self, nb, resources):
        lab = _lab(resources)
        identity = lab["config"].identity
        submitter = lab["student_id"]
        cell = next((c for c in nb.cells if grade_id(c) == ID_CELL), None)
        typed = typed_id(cell.source) if cell is not None else None
        lab["identity"] = {"per_student": identity.per_student_seeds, "submitter": submitter, "typed": typed,
                           "seed": lab["seed"], "record_seed": lab["record_seed"]}
        if cell is None:
            return nb, resources  # an older release without the id cell: nothing to replace
        if not identity.per_student_seeds:
            master = next((m for m in lab["master"] if m.name == ID_CELL), None)
            cell.source = master.source if master is not None else cell.source
            return nb, resources
        cell.source = id_cell_source(submitter)
        if typed is None or id_problem(typed):
            # An empty cell whose run has the submitter's seed was filled from the JupyterHub login.
            if lab["record_seed"] != lab["seed"]:
                why = id_problem(typed) if typed is not None else "the id cell holds no STUDENT_ID = \"...\""
                lab["flags"].append(f"no student id typed in the notebook ({why}); graded with the seed of the "
                                    f"submitter's id {submitter!r}")
        elif normalise_id(typed) != normalise_id(submitter):
            lab["flags"].append(f"typed student id {typed!r} differs from the submitter's id {submitter!r}; "
                                f"graded with the seed of {submitter!r} (the typed id would give seed "
                                f"{derive_seed(identity.salt, typed)})")
        return nb, resources


def nbgrader_steps() -> list[Preprocessor]:
    """nbgrader's own sanitising, as its autograde runs it (without execution). Missing cells are
    put back by AssembleInMasterOrder, for every master cell: nbgrader's add_missing_cells only
    knows grade cells and fails when the cell before is a locked one."""
    return [ClearOutput(), DeduplicateIds(), DropEmptyNbgraderMetadata(), OverwriteKernelspec(),
            OverwriteCells(add_missing_cells=False), CheckCellMetadata()]


def steps() -> list[Preprocessor]:
    """The sanitising pipeline, in order."""
    return [CheckAssignment(), RestoreMetadata(), ReportTampering(), *nbgrader_steps(), AssembleInMasterOrder(),
            RestoreExecutionMetadata(), ReplaceIdCell()]


def sanitise(nb: NotebookNode, resources: dict) -> NotebookNode:
    """Run every step; an nbgrader step that refuses the notebook is one SubmissionError."""
    name = _lab(resources)["name"]
    for step in steps():
        step.log = _quiet
        try:
            nb, resources = step.preprocess(nb, resources)
        except SubmissionError:
            raise
        except (ValidationError, RuntimeError, KeyError, ValueError) as exc:
            raise SubmissionError(f"{name}: nbgrader could not sanitise it ({type(step).__name__}: "
                                  f"{str(exc).splitlines()[0][:150] if str(exc) else type(exc).__name__}); "
                                  f"grade it by hand or ask for a fresh copy of the release") from None
    return nb


def prepare(student_id: str, path: Path, nbgrader: NbgraderRoot, master: Path, profile: Profile,
            config: GradingConfig) -> PreparedSubmission:
    """Read, keep the evidence, sanitise; raises SubmissionError (one line) for bad input.

    `nbgrader` holds the registered assignment (its gradebook); `master` is the Jinja master the
    release versions are rendered from.
    """
    path = Path(path)
    nb, flags = read_submission(path, config.limits.submission_mb, tuple(config.points.questions))
    evidence = extract_evidence(nb, profile.epochs)  # before ClearOutput throws the outputs away
    stamp = nb.metadata.get("alexnet_lab") if isinstance(nb.metadata.get("alexnet_lab"), dict) else {}
    cells = load_master(nbgrader)
    resources = {
        "nbgrader": {"notebook": config.course.notebook, "assignment": config.course.assignment,
                     "db_url": nbgrader.gradebook_url},
        "alexnet_lab": {"name": path.name, "config": config, "master": cells, "flags": flags, "student_id": student_id,
                        "seed": student_seed(student_id, profile, config),
                        "record_seed": (evidence.get("trajectory") or {}).get("seed"),
                        "releases": release_versions(nb, master, config)},
    }
    nb = sanitise(nb, resources)
    nb.metadata["alexnet_lab"] = {**stamp, "assignment": config.course.assignment, "profile": profile.name,
                                  "student_id": student_id}
    return PreparedSubmission(student_id=student_id, source=str(path), notebook=nbformat.writes(nb),
                              evidence=evidence, answers=collect_answers(nb, cells, config.points), flags=flags,
                              identity=resources["alexnet_lab"]["identity"])


def student_seed(student_id: str, profile: Profile, config: GradingConfig) -> int:
    """The seed the grader re-runs a submission with: the submitter's own (course salt, id), or
    the profile's fixed seed when the course switched per-student seeds off."""
    if not config.identity.per_student_seeds:
        return profile.seed
    return derive_seed(config.identity.salt, student_id)
