"""The student's pre-submit check (`alexnet-lab check NOTEBOOK`, or the notebook's last cell):
is this notebook ready to submit? Reads it; executes nothing. Standard library only.

It judges with the grader's own rules from the notebook contract (`contract`): the same readers
of the training record, the same rule for what counts as an answer. What a course may change
(the assignment's name, the shortest answer) comes in as `Expectations`: from the grader's config
for `alexnet-lab check`, from the notebook's own metadata (written by the release) in the notebook.

The same check runs from the notebook's last cell (`check_this_notebook`), which finds its own
notebook: in Colab through Colab's frontend, in Jupyter through $JPY_SESSION_NAME (the saved file).
Under the grader, where neither exists, it prints one line and returns: it never raises and never
writes to stderr, because nbgrader scores a cell with stderr output as 0.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from alexnet_core.contract import (
    ASSIGNMENT,
    KERNEL_PLOTS,
    MB,
    MIN_ANSWER_CHARS,
    MIN_ANSWER_CHARS_BY_QUESTION,
    PLACEHOLDER,
    QUESTIONS,
    RUN_CELLS,
    SUBMISSION_MB,
    TRAJECTORY_MIME,
    answer_cells,
    answer_copies,
    grade_id,
    is_answered,
    is_number,
    is_percentage,
    is_short,
    kernel_plot_evidence,
    min_chars_for,
    output_records,
    over_size_limit,
    source_text,
    stamped_questions,
    stray_text_cells,
    trajectory_evidence,
)
from alexnet_core.identity import ID_CELL, ID_VARIABLE, course_salt, derive_seed, id_from_hub, id_problem, typed_id
from alexnet_core.profiles import DEFAULT_RECIPE, PROFILE_ENV, RECIPES
from alexnet_core.structure import NotebookRefused, parse_json, read_notebook, summarise


@dataclass(frozen=True)
class Expectations:
    """What this course expects of a notebook; the defaults are the lab's.

    The notebook's own stamp (written by the release) decides wherever it says something
    (`from_notebook`): a student's check follows the release they were given, not a course file
    they may not have. What the stamp lacks comes from the expectations it is laid over."""

    assignment: str = ASSIGNMENT
    questions: tuple = QUESTIONS
    min_answer_chars: int = MIN_ANSWER_CHARS
    default_profile: str = DEFAULT_RECIPE
    submission_mb: float = SUBMISSION_MB
    epochs: int | None = None
    """Epochs the release's recipe trains (None: not known, the record's own count is judged)."""
    required_assignment: str | None = None
    """The assignment a course's own settings say it grades: a notebook stamped with another is
    refused. None (a student without the course's file): the stamp says which assignment it is."""
    min_chars_by_question: tuple = tuple(MIN_ANSWER_CHARS_BY_QUESTION.items())
    """(label, shortest answer) where a question differs from min_answer_chars."""

    def min_chars(self, label: str) -> int:
        return min_chars_for(label, self.min_answer_chars, dict(self.min_chars_by_question))

    @classmethod
    def from_notebook(cls, nb: dict, base: Expectations | None = None) -> Expectations:
        """The expectations the release wrote into the notebook's metadata, over `base` (the lab's
        defaults when None) where the stamp is absent or unreadable."""
        meta = nb.get("metadata") if isinstance(nb, dict) else None
        stamp = meta.get("alexnet_lab") if isinstance(meta, dict) else None
        stamp = stamp if isinstance(stamp, dict) else {}
        found = {}
        if isinstance(stamp.get("assignment"), str):
            found["assignment"] = stamp["assignment"]
        if _whole(stamp.get("min_answer_chars")):
            found["min_answer_chars"] = stamp["min_answer_chars"]
        per_question = stamp.get("min_answer_chars_per_question")
        if isinstance(per_question, dict) and all(_whole(v) for v in per_question.values()):
            found["min_chars_by_question"] = tuple((str(k), v) for k, v in per_question.items())
        if isinstance(stamp.get("profile"), str):
            found["default_profile"] = stamp["profile"]
        if is_number(stamp.get("submission_mb")) and stamp["submission_mb"] > 0:
            found["submission_mb"] = float(stamp["submission_mb"])
        questions = stamped_questions(nb)
        if questions:
            found["questions"] = questions
        recipe = stamp.get("recipe")
        if isinstance(recipe, dict) and _whole(recipe.get("epochs")) and recipe["epochs"] > 0:
            found["epochs"] = recipe["epochs"]
        # The kernel's own rule (`profiles.active_profile`): a profile named in $ALEXNET_LAB_PROFILE
        # overrides the release's; the check expects what that kernel trained.
        told = os.environ.get(PROFILE_ENV)
        if told and told != found.get("default_profile"):
            found["default_profile"] = told
            found["epochs"] = RECIPES[told].epochs if told in RECIPES else None
        return replace(base or cls(), **found)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass
class SelfCheckReport:
    """The verdict on one notebook: what is fine, what must be fixed before submitting."""

    name: str
    """The file (or notebook) checked, as shown to the student."""
    fatal: str | None = None
    """Why the file cannot be checked at all (not a notebook, unreadable); one line."""
    problems: list[str] = field(default_factory=list)
    """What blocks submission, one line each, naming questions by label and cells by id."""
    passed: list[str] = field(default_factory=list)
    """What was checked and is fine."""
    notes: list[str] = field(default_factory=list)
    """Information that does not block submission."""
    unanswered: list[str] = field(default_factory=list)
    """Question labels still unanswered (for callers that want the list itself)."""

    @property
    def ready(self) -> bool:
        return self.fatal is None and not self.problems

    def text(self) -> str:
        if self.fatal:
            return f"{self.name}: NOT READY: {self.fatal}"
        if self.ready:
            head = f"{self.name}: READY to submit."
        else:
            count = len(self.problems)
            head = f"{self.name}: NOT READY to submit ({count} problem{'s' if count > 1 else ''} to fix)."
        lines = [head]
        lines += [f"  [fix] {p}" for p in self.problems]
        lines += [f"  [ok]  {p}" for p in self.passed]
        lines += [f"  [note] {n}" for n in self.notes]
        return "\n".join(lines)


def _outputs(nb: dict):
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            yield cell, out


def _check_assignment(nb: dict, report: SelfCheckReport, expect: Expectations) -> bool:
    expected = expect.required_assignment or expect.assignment
    lab = nb.get("metadata", {}).get("alexnet_lab")
    if not isinstance(lab, dict) or "assignment" not in lab:
        report.problems.append(
            f"This is not the {expected!r} lab notebook (its lab metadata is missing): submit the notebook "
            f"the course released (release/<variant>/{expected}/), with your answers in it.")
        return False
    if lab["assignment"] != expected:
        report.problems.append(f"This notebook belongs to assignment {lab['assignment']!r}, not {expected!r}.")
        return False
    report.passed.append(f"Right assignment: {expected} ({lab.get('variant', '?')} version).")
    return True


def _check_identity(nb: dict, report: SelfCheckReport) -> None:
    """The student id cell holds an id (not empty, not a placeholder), where the course uses
    per-student seeds: the id gives the seed of the student's own experiment."""
    lab = nb.get("metadata", {}).get("alexnet_lab") or {}
    if lab.get("per_student_seeds") is False:
        return
    cell = next((c for c in nb.get("cells", []) if grade_id(c) == ID_CELL), None)
    if cell is None:
        if lab.get("per_student_seeds"):
            report.problems.append(f"The student id cell ({ID_VARIABLE} = ...) near the top is missing: "
                                   "download the notebook again and copy your answers into it.")
        return
    student = id_from_hub(typed_id(source_text(cell)))
    problem = id_problem(student)
    if problem:
        report.problems.append(f"Student id: {problem}. Type your id between the quotes in the cell "
                               f"{ID_VARIABLE} = \"...\" near the top, then run the notebook again from there: "
                               "your id gives your own experiment, and the grader re-runs it with your id.")
        return
    report.passed.append(f"Student id filled in: {student}.")
    # Outputs made before the id was typed (or with another id) are not this student's run.
    imports = next((c for c in nb.get("cells", []) if grade_id(c) == "imports"), None)
    salt = course_salt(source_text(imports)) if imports is not None else None
    record, _ = trajectory_evidence(nb)
    seed = derive_seed(salt, student) if salt is not None else None
    if seed is not None and record and record.get("seed") != seed:
        report.notes.append(f"Your training output was made with seed {record.get('seed')}, but your id gives seed "
                            f"{seed}: was the id typed after running? Run the "
                            "notebook again from the top, or the grader will find that your outputs are not your "
                            "own run.")


def _check_answers(nb: dict, report: SelfCheckReport, expect: Expectations) -> None:
    questions = expect.questions
    cells = answer_cells(nb, questions)  # as the grader finds them: by grade id, the last copy
    missing = [q for q in questions if q not in cells]
    unanswered = [label for label, cell in cells.items()
                  if not is_answered(source_text(cell))]
    report.unanswered = [q for q in questions if q in unanswered or q in missing]
    for label, count in answer_copies(nb, questions).items():
        if count > 1 and label in unanswered:
            report.problems.append(
                f"{label} has {count} answer cells and only the last one is graded, which is unanswered: "
                "write your answer in the last copy and delete the others.")
            unanswered.remove(label)
        elif count > 1:
            report.notes.append(f"{label} has {count} answer cells; only the last one is graded.")
    if missing:
        report.problems.append(f"Answer cell missing for {', '.join(missing)} (deleted?): download the "
                               "notebook again and copy your answers into it.")
    if unanswered:
        report.problems.append(
            f"Unanswered: {', '.join(unanswered)} (write your answer in the cell below each question, "
            f"replacing {PLACEHOLDER}).")
    short = [label for label, cell in cells.items() if label not in unanswered
             and is_short(source_text(cell), expect.min_chars(label))]
    if short:
        report.notes.append(f"Short answers: {', '.join(short)} (fewer than "
                            f"{expect.min_answer_chars} characters): a TA reads them as they are.")
    stray = stray_text_cells(nb)
    if stray:
        where = ", ".join(f"cell {number} (\"{text[:40]}\")" for number, text in stray[:5])
        report.problems.append(
            f"Text in a cell that is not an answer cell, which is not graded: {where}. Move it into the "
            "answer cell below its question and delete the extra cell.")
    if not report.unanswered:
        report.passed.append(f"All {len(questions)} questions answered ({', '.join(questions)}).")


def _check_run(nb: dict, report: SelfCheckReport, expect: Expectations) -> None:
    by_id = {grade_id(c): c for c in nb.get("cells", []) if c.get("cell_type") == "code" and grade_id(c)}
    present = [gid for gid in RUN_CELLS if gid in by_id]
    not_run = [gid for gid in present if not by_id[gid].get("outputs")]
    if present and len(not_run) == len(present):
        report.problems.append("The notebook has not been run (no outputs): run every cell from the top "
                               "(Run all), wait for training to finish, save, and check again.")
        return
    if not_run:
        report.problems.append(f"Cells without outputs: {', '.join(not_run)}: run the notebook from the top "
                               "and save it.")

    errors = []
    for cell, out in _outputs(nb):
        if out.get("output_type") == "error":
            errors.append(f"{grade_id(cell) or 'a cell'} ({out.get('ename', 'error')})")
    if errors:
        report.problems.append(f"Errors in the outputs: {', '.join(errors)}: fix the cause (often a cell "
                               "run out of order) and run the notebook from the top again.")
    _check_training_record(nb, report, expect)
    _check_kernel_plots(nb, report)


def _interrupted(nb: dict) -> bool:
    """Whether the last training record is a run cut short: fewer well-formed accuracies than epochs + 1."""
    raw = [rec for _, rec in output_records(nb, TRAJECTORY_MIME)]
    acc, epochs = raw[-1].get("accuracy"), raw[-1].get("epochs")
    return isinstance(acc, list) and all(is_percentage(a) for a in acc) and (
        not acc or (isinstance(epochs, int) and len(acc) < epochs + 1))


def _check_training_record(nb: dict, report: SelfCheckReport, expect: Expectations) -> None:
    # The grader's own reader: the train cell's last record; a malformed one is no evidence.
    record, problem = trajectory_evidence(nb)
    if record is None and problem is None:
        report.problems.append("No training record: the train cell has not finished; run it and save.")
    elif record is None and _interrupted(nb):
        report.problems.append("The training record is incomplete (training was interrupted): run the "
                               "notebook from the top again.")
    elif record is None:
        report.problems.append(f"The training record is malformed ({problem}; was the output edited?): run the "
                               "notebook from the top again and save.")
    else:
        acc, epochs = record["accuracy"], record["epochs"]
        if expect.epochs is not None and epochs != expect.epochs:
            report.problems.append(
                f"Training ran {epochs} epochs, but this release trains {expect.epochs}: the grader re-runs "
                f"{expect.epochs} and will not recognise these outputs as your run. Was $ALEXNET_LAB_PROFILE set, or "
                "is this another release's notebook? Run this notebook from the top again and save.")
            return
        report.passed.append(f"Training ran: {epochs} epochs, test accuracy {acc[0]:.1f}% before and "
                             f"{acc[-1]:.1f}% after training.")
        if record.get("profile") and record.get("profile") != expect.default_profile:
            report.notes.append(f"Training ran with the {str(record['profile'])[:40]!r} settings, not the course's "
                                f"{expect.default_profile!r}.")


def _check_kernel_plots(nb: dict, report: SelfCheckReport) -> None:
    # The grader's own reader: a plot's role comes from its record (a "trained" picture drawn
    # before training shows untrained weights, and the grader counts it so), and a record counts
    # only beside the picture whose fingerprint it carries.
    shown, malformed = kernel_plot_evidence(nb)
    missing_plots = [what for role, what in KERNEL_PLOTS.items() if role not in shown]
    if missing_plots:
        why = f" ({'; '.join(malformed[:3])})" if malformed else ""
        report.problems.append(f"Kernel pictures missing: {', '.join(missing_plots)}{why}: run their cells "
                               "and save.")
    else:
        report.passed.append("All three kernel pictures are shown (pretrained, untrained, trained).")


def check_node(nb: dict, name: str = "notebook", expect: Expectations | None = None) -> SelfCheckReport:
    """Check a notebook already loaded as a dict (or NotebookNode); expectations default to the lab's.

    The notebook is read by the grader's own structural reader (`structure.read_notebook`): what it
    repairs, the grader repairs the same way (each repair is a note), what it refuses, the grader refuses.
    """
    report = SelfCheckReport(name=name)
    expect = Expectations.from_notebook(nb, expect)  # the release's own stamp first
    try:
        nb, repairs = read_notebook(nb, expect.questions)
    except NotebookRefused as refused:
        report.fatal = str(refused) + "."
        return report
    report.notes += [f"Repaired as the grader will: {r}." for r in summarise(repairs)]
    if _check_assignment(nb, report, expect):
        _check_identity(nb, report)
        _check_answers(nb, report, expect)
        _check_run(nb, report, expect)
    return report


def check_notebook(path: Path, expect: Expectations | None = None) -> SelfCheckReport:
    """Check the notebook file at `path` without executing anything."""
    path = Path(path)
    report = SelfCheckReport(name=str(path))
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        report.fatal = "file not found."
        return report
    except OSError as exc:
        report.fatal = f"cannot read the file ({exc.strerror})."
        return report
    if path.is_dir():
        report.fatal = "this is a folder: give the .ipynb file inside it."
        return report
    limit_mb = (expect or Expectations()).submission_mb
    if over_size_limit(size, limit_mb):
        report.fatal = (f"the file is {size / MB:.0f} MB, more than the {limit_mb:g} MB "
                        "accepted: clear large outputs you added and save again.")
        return report
    try:
        nb = parse_json(path.read_bytes())  # the grader's own parser: same refusals, same words
    except NotebookRefused as refused:
        report.fatal = str(refused) + "."
        return report
    return check_node(nb, str(path), expect)


def _colab_notebook():
    """The live notebook from Colab's frontend, or None outside Colab."""
    if "google.colab" not in sys.modules:
        return None
    from google.colab import _message  # only exists inside Colab

    reply = _message.blocking_request("get_ipynb", request="", timeout_sec=30)
    return (reply or {}).get("ipynb")


def _jupyter_notebook_path() -> Path | None:
    """The saved file of the running notebook, from Jupyter's $JPY_SESSION_NAME, or None."""
    name = os.environ.get("JPY_SESSION_NAME")
    if not name:
        return None
    for candidate in (Path(name), Path.cwd() / name, Path.cwd() / Path(name).name):
        if candidate.suffix == ".ipynb" and candidate.is_file():
            return candidate
    return None


def check_this_notebook() -> SelfCheckReport | None:
    """Run the check from inside the notebook; print the verdict. Never raises, never uses stderr."""
    try:
        nb = _colab_notebook()
        if nb is not None:
            report = check_node(nb, "This notebook", Expectations.from_notebook(nb))
        else:
            path = _jupyter_notebook_path()
            if path is None:
                print("Could not find this notebook's file from here: save it, then run "
                      "`alexnet-lab check YOUR_NOTEBOOK.ipynb` in a terminal.")
                return None
            try:
                expect = Expectations.from_notebook(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, RecursionError):
                expect = None  # check_notebook says what is wrong with the file
            report = check_notebook(path, expect)
            report.notes.append(f"Checked the saved file {path.name}: save again if you changed anything since.")
        print(report.text())
        return report
    except Exception as exc:  # a check that crashes must not cost the student points
        print(f"The check could not run here ({type(exc).__name__}: {exc}); use `alexnet-lab check` instead.")
        return None
