"""Render the Jinja master notebook into an nbgrader source notebook for one variant and profile.

The master (`source/<assignment>/<notebook>.ipynb`) is an ordinary notebook an instructor edits in
Jupyter; Jinja expressions and `{% if variant == "colab" %}` blocks live inside its cells. Rendering
is strict (an undefined name is an error naming the cell), and it is where instructor-only content
is removed: the TAs' rubric (`metadata.alexnet_lab.rubric`: notes and items, `autograder/manual/rubric.py`) never
leaves this module.

What the template sees: `variant` (str), `profile` (grading_config.Profile), `recipe` (the
profile's training settings as a Python expression, for the locked imports cell to hand to
`alexnet_core.use_student_id`: the notebook trains exactly what the release says), `course`
(grading_config.Course), `points` (grading_config.Points), `total_points` (number), `identity`
(grading_config.Identity: the course salt and the per-student seed switch), all from the config
passed in.

The questions are the master's (its answer cells' `metadata.alexnet_lab.question`); their points
are the config's (`autograder.config.with_questions`). The release stamps both the questions and
the recipe into the notebook's metadata, so the student's check and the grader read the
release's own settings.
"""
from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path

import jinja2
import nbformat
from jinja2 import meta
from nbformat import NotebookNode

from alexnet_core.contract import answer_cell, grade_id, question_labels
from alexnet_core.profiles import recipe_fields
from autograder.config import with_questions
from autograder.course import FIGURES_DIR
from autograder.errors import ConfigError, RenderError
from grading_config import GradingConfig, Points, Profile

_ATTACHMENT = re.compile(r"attachment:([A-Za-z0-9_.\-]+)")
_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}


def resolve_variant(variant: str | None, config: GradingConfig) -> str:
    chosen = variant or config.course.default_variant
    if chosen not in config.course.variants:
        valid = ", ".join(config.course.variants)
        raise ConfigError(f"Unknown variant {chosen!r}. Valid variants: {valid} (grading_config.Course.variants).")
    return chosen


def _cell_name(cell: NotebookNode, index: int) -> str:
    name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id")
    return f"cell {index} ({name})" if name else f"cell {index}"


def _render_source(env: jinja2.Environment, source: str, context: dict, where: str) -> str:
    try:
        template = env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{where}: Jinja syntax error on line {exc.lineno}: {exc.message}; fix the master cell.") from None
    try:
        return template.render(context)
    except jinja2.UndefinedError as exc:
        missing = sorted(meta.find_undeclared_variables(env.parse(source)) - set(context))
        name = missing[0] if missing else str(exc)
        known = ", ".join(sorted(context))
        raise RenderError(
            f"{where}: undefined variable {name!r} ({exc}); use one of: {known}."
        ) from None


def _embed_figures(cell: NotebookNode, figures: Path, where: str) -> None:
    names = _ATTACHMENT.findall(cell.source)
    if not names:
        return
    attachments = {}
    for name in names:
        path = figures / name
        if not path.is_file():
            raise RenderError(f"{where}: figure {path} not found; add it under {figures} or fix the link.")
        mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
        attachments[name] = {mime: base64.b64encode(path.read_bytes()).decode("ascii")}
    cell["attachments"] = attachments


def recipe_expression(profile: Profile) -> str:
    """The recipe as the Python the imports cell passes on: `dict(name="smoke", epochs=5, ...)`."""
    # json.dumps of a str is a valid Python string literal in double quotes, whatever it holds.
    items = [f"{key}={json.dumps(value) if isinstance(value, str) else repr(value)}"
             for key, value in recipe_fields(profile).items()]
    return "dict(" + ", ".join(items) + ")"


def _check_answer_cells(nb: NotebookNode, master: Path) -> None:
    """Each answer cell's grade id is its label's (`answer_q5` for Q5): the grader finds answers by it."""
    for index, cell in enumerate(nb.cells):
        label = (cell.metadata.get("alexnet_lab") or {}).get("question")
        if label is None:
            continue
        where = f"{master.name} {_cell_name(cell, index)}"
        if not isinstance(label, str) or not label.strip():
            raise RenderError(f"{where}: metadata.alexnet_lab.question must be a label like \"Q5\"")
        if grade_id(cell) != answer_cell(label):
            raise RenderError(f"{where}: the answer cell of {label} must have the grade id {answer_cell(label)!r} "
                              f"(it has {grade_id(cell)!r}); fix its nbgrader metadata")
        nbg = cell.metadata.get("nbgrader", {})
        if not (nbg.get("grade") and nbg.get("solution")):
            raise RenderError(f"{where}: the answer cell of {label} must be an nbgrader manually graded answer "
                              "(grade and solution on)")


def _grade_points(cell: NotebookNode, points: Points) -> float | None:
    """Points for a grade cell, from grading_config (the master never types them)."""
    meta_lab = cell.metadata.get("alexnet_lab", {})
    if "question" in meta_lab:
        return points.questions[meta_lab["question"]]
    check = meta_lab.get("check")
    if check:
        return getattr(points, check)
    return None


def read_master(master: Path) -> NotebookNode:
    """The master notebook as written (Jinja unrendered); RenderError saying how to restore it."""
    try:
        return nbformat.read(str(master), as_version=4)
    except FileNotFoundError:
        raise RenderError(f"{master}: master notebook not found.") from None
    except Exception as exc:  # nbformat raises several types for a broken file
        raise RenderError(f"{master}: not a readable notebook ({exc}); restore it from git.") from None


def render_master(
    variant: str | None,
    profile: Profile,
    *,
    master: Path,
    config: GradingConfig,
    keep_rubric: bool = False,
) -> NotebookNode:
    """The nbgrader source notebook for `variant` (a name, or None for the course default) and
    `profile` (resolved by the caller: `autograder.config.select_profile`).

    `keep_rubric`: keep the answer cells' rubrics, for the grader's own copy (`release.register`,
    OUT/nbgrader: the TAs' side, which the grading page seeds its items from); a release never does.

    Raises RenderError naming the cell for an undefined variable, a Jinja syntax error, a missing
    figure or a grade cell whose points grading_config does not define.
    """
    if not isinstance(profile, Profile):  # a name: the caller resolves it, once (select_profile)
        raise TypeError(f"render_master takes a resolved Profile, not {profile!r}")
    variant = resolve_variant(variant, config)
    master = Path(master)
    nb = read_master(master)

    _check_answer_cells(nb, master)
    labels = question_labels(nb)
    config = with_questions(config, labels, str(master))
    points = config.points
    total = sum(points.questions.values()) + sum(points.checks().values())
    context = {"variant": variant, "profile": profile, "recipe": recipe_expression(profile), "course": config.course,
               "points": points, "total_points": total, "identity": config.identity}
    # trim/lstrip blocks: a `{% if %}` line leaves no blank line behind in code cells.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             autoescape=False)
    figures = master.parent / FIGURES_DIR

    cells = []
    for index, cell in enumerate(nb.cells):
        where = f"{master.name} {_cell_name(cell, index)}"
        cell = copy.deepcopy(cell)
        cell.source = _render_source(env, cell.source, context, where).strip("\n")
        if not cell.source.strip() and not grade_id(cell):
            continue  # a prose cell that exists only in another variant
        lab = cell.metadata.get("alexnet_lab")
        if lab is not None and not keep_rubric:
            lab.pop("rubric", None)
            if not lab:
                del cell.metadata["alexnet_lab"]
        nbg = cell.metadata.get("nbgrader", {})
        if nbg.get("grade"):
            try:
                value = _grade_points(cell, points)
            except (KeyError, AttributeError):
                value = None
            if value is None:
                raise RenderError(f"{where}: grade cell has no points in the config's points; "
                                  f"add them there or set metadata.alexnet_lab.question/check.")
            nbg["points"] = value
        if cell.cell_type == "markdown":
            _embed_figures(cell, figures, where)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)

    nb.cells = cells
    nb.metadata["alexnet_lab"] = {
        "assignment": config.course.assignment,
        "variant": variant,
        "profile": profile.name,
        # The training settings the notebook runs (also written into its imports cell): `grade`
        # and the student's check judge the run by them.
        "recipe": recipe_fields(profile),
        "questions": list(labels),
        # What the student's own check needs to judge answers as the grader will.
        "min_answer_chars": config.points.min_answer_chars,
        "min_answer_chars_per_question": dict(config.points.min_answer_chars_per_question),
        "submission_mb": config.limits.submission_mb,
        # Whether the student id cell must hold an id (the student's check reads it).
        "per_student_seeds": config.identity.per_student_seeds,
    }
    nbformat.validate(nb)
    return nb


def rubric_notes(master: Path) -> dict[str, str]:
    """TA rubric notes by question label ('Q1' -> text), read from the master: the rubric's
    "notes" (its format, items included, is `autograder/manual/rubric.py`'s; a plain string is
    notes only). For the reports, which sit below the manual-grading floor."""
    nb = nbformat.read(str(master), as_version=4)
    notes = {}
    for cell in nb.cells:
        lab = cell.metadata.get("alexnet_lab", {})
        if "question" in lab and "rubric" in lab:
            value = lab["rubric"]
            value = value.get("notes", "") if isinstance(value, dict) else value
            notes[lab["question"]] = value if isinstance(value, str) else ""
    return notes
