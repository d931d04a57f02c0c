"""The notebook contract: the names and records the lab notebook, `alexnet_core` and the grader share.

One home for each: the MIME types of the records `alexnet_core` emits, the cells' nbgrader
grade ids, the question labels and their answer cells, what counts as an answer, the size unit,
and the readers that pull the records out of a saved notebook. The grader imports this module;
this module imports nothing but the standard library (the runner and the student's check load it
in milliseconds, without torch).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re

TRAJECTORY_MIME = "application/vnd.alexnet-lab.trajectory+json"
PLOT_MIME = "application/vnd.alexnet-lab.plot+json"

PLACEHOLDER = "YOUR ANSWER HERE"
"""nbgrader's text in an answer cell nobody has touched."""

ASSIGNMENT = "alexnet"
"""The lab's assignment name (a course may rename it in its config; the release stamps it)."""

QUESTIONS = ("Q1", "Q2", "Q3a", "Q3b", "Q3c", "Q4a", "Q4b")
"""The lab's own free-text questions, in notebook order, as students see them. A course's master
may add or remove questions: its answer cells' labels (`question_labels`) are the questions of
that course, and the release stamps them into the notebook (`metadata.alexnet_lab.questions`)."""
LABEL_PATTERN = re.compile(r"[A-Za-z0-9]{1,20}")
"""A question label ('Q5', 'Q3a'): its answer cell's grade id is `answer_<label in lower case>`."""
BEFORE_TRAINING_QUESTION = "Q3a"
"""The question whose answer is the student's own test accuracy before training (a number)."""

MIN_ANSWER_CHARS = 20
"""The default shortest answer (after trimming) that is not marked short (a course may change it)."""
MIN_ANSWER_CHARS_BY_QUESTION = {BEFORE_TRAINING_QUESTION: 1}
"""Questions whose answer may be shorter: Q3a asks for a number ("13.5%")."""
SUBMISSION_MB = 50.0
"""The default largest notebook accepted, in MiB (a course may change it; the release stamps it)."""

# The automatic checks: check name (a column of grades.csv) -> the grade cell that holds its score.
CHECK_CELLS = {"trajectory": "check_trajectory", "evidence": "check_evidence", "kernel_plots": "check_kernels"}

# The three kernel pictures by role (which weights they show, from the plot record), and their names.
KERNEL_PLOTS = {
    "pretrained": "pretrained AlexNet kernels",
    "untrained": "untrained AlexNet-mini kernels",
    "trained": "trained AlexNet-mini kernels",
}
KERNEL_ROLES = tuple(KERNEL_PLOTS)

# Code cells whose outputs prove the notebook ran (setup and the last cell excluded: the first may
# print nothing on a second run, the last is running while a student checks).
RUN_CELLS = ("imports", "dog_photo", "pixels", "predict", "pretrained_kernels", "softmax_output",
             "prediction_heatmap", "architecture", "untrained_kernels", "cifar_samples", "train",
             "trained_kernels")
TRAIN_CELL = "train"

MAX_TRAJECTORY_POINTS = 1001
"""The longest training record read (1,000 epochs and the one before training): more is not a run."""

MB = 1024 * 1024
"""Every size limit (submission, outputs, memory) is in MiB: one unit for every reader."""


# ---------------------------------------------------------------- ids and labels

def grade_id(cell) -> str | None:
    """The nbgrader grade_id of a cell (dict or NotebookNode), or None (also for malformed metadata)."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return gid if isinstance(gid, str) else None


def answer_cell(label: str) -> str:
    """'Q3a' -> 'answer_q3a', the grade id of the cell that holds the answer."""
    return f"answer_{label.lower()}"


def question_labels(nb: dict) -> tuple[str, ...]:
    """The questions a notebook asks, in order: the labels of its answer cells
    (`metadata.alexnet_lab.question`), each once. A master's are the course's questions."""
    labels: list[str] = []
    for cell in nb.get("cells", []) or []:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        lab = meta.get("alexnet_lab") if isinstance(meta, dict) else None
        label = lab.get("question") if isinstance(lab, dict) else None
        if isinstance(label, str) and label not in labels:
            labels.append(label)
    return tuple(labels)


def stamped_questions(nb: dict) -> tuple[str, ...] | None:
    """The questions the release stamped into a notebook's metadata, or None when it has no usable stamp."""
    meta = nb.get("metadata") if isinstance(nb, dict) else None
    stamp = meta.get("alexnet_lab") if isinstance(meta, dict) else None
    labels = stamp.get("questions") if isinstance(stamp, dict) else None
    if (isinstance(labels, list) and labels and len(labels) <= 100
            and all(isinstance(x, str) and LABEL_PATTERN.fullmatch(x) for x in labels)):
        return tuple(dict.fromkeys(labels))
    return None


def answer_label(cell_id: str | None, labels=QUESTIONS) -> str | None:
    """'answer_q3a' -> 'Q3a' for the labels given; None for any other cell."""
    for label in labels:
        if cell_id == answer_cell(label):
            return label
    return None


def _labelled_answer_cells(nb: dict, labels):
    """(label, cell) for every cell carrying an answer grade id, in notebook order, copies included."""
    for cell in nb.get("cells", []) or []:
        label = answer_label(grade_id(cell), labels)
        if label:
            yield label, cell


def answer_cells(nb: dict, labels=QUESTIONS) -> dict:
    """The answer cells by label, found by grade id. Where a cell was duplicated, the last copy:
    nbgrader's DeduplicateIds keeps that one's id, so it is the copy the grader reads."""
    return dict(_labelled_answer_cells(nb, labels))


def answer_copies(nb: dict, labels=QUESTIONS) -> dict[str, int]:
    """How many cells carry each question's answer grade id (more than 1: a duplicated cell)."""
    counts: dict[str, int] = {}
    for label, _ in _labelled_answer_cells(nb, labels):
        counts[label] = counts.get(label, 0) + 1
    return counts


def source_text(cell: dict) -> str:
    """A cell's text, whether stored as one string or as a list of lines."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def own_text(text: str) -> str:
    """What the student wrote: the answer without nbgrader's placeholder, trimmed."""
    return text.replace(PLACEHOLDER, "").strip()


def is_answered(text: str, master_text: str = PLACEHOLDER) -> bool:
    """The one rule, for the student's check and the grader: changed from the release (`master_text`,
    the answer cell as released) and not empty without the placeholder. Any such text reaches a TA,
    however short (shortness is a note, `is_short`, never a zero): an empty or placeholder answer
    is the only unanswered one."""
    own = own_text(text)
    return bool(own) and text.strip() != master_text.strip()


def min_chars_for(label: str, default: int = MIN_ANSWER_CHARS, per_question: dict | None = None) -> int:
    """The shortest answer to `label` that is not marked short."""
    table = MIN_ANSWER_CHARS_BY_QUESTION if per_question is None else per_question
    return int(table.get(label, default))


def stray_text_cells(nb: dict) -> list[tuple[int, str]]:
    """(1-based cell number, text) of markdown cells a student added (no grade id) holding text: an
    answer written there is not graded, so the student is told to move it and the TA is shown it."""
    found = []
    for index, cell in enumerate(nb.get("cells", []) or []):
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown" and grade_id(cell) is None:
            text = source_text(cell).strip()
            if text:
                found.append((index + 1, text))
    return found


def is_short(text: str, min_chars: int) -> bool:
    """Answered, but shorter than `min_chars` after trimming: the TA and the student are told, the
    answer still reaches the TA."""
    own = own_text(text)
    return bool(own) and len(own) < min_chars


def over_size_limit(size_bytes: int, limit_mb: float) -> bool:
    return size_bytes > limit_mb * MB


# ---------------------------------------------------------------- readers

def mime_record(output: dict, mime: str) -> dict | None:
    """The record of `mime` in one output, or None. JSON stored as text (some writers do) is parsed."""
    data = output.get("data") if isinstance(output, dict) else None
    value = data.get(mime) if isinstance(data, dict) else None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def records_with_outputs(nb: dict, mime: str):
    """(grade_id, record, the output holding it) for every display output of `mime`, in order."""
    for cell in nb.get("cells", []) or []:
        if not isinstance(cell, dict):
            continue
        outputs = cell.get("outputs") or []
        if not isinstance(outputs, list):
            continue
        for out in outputs:
            record = mime_record(out, mime)
            if record is not None:
                yield grade_id(cell), record, out


def output_records(nb: dict, mime: str):
    """(grade_id, record) for every display output of `mime`, in notebook order."""
    for gid, record, _ in records_with_outputs(nb, mime):
        yield gid, record


PNG_BASE64 = "iVBORw0KGgo"
"""How every PNG starts once base64-encoded, as notebooks store images (the 8-byte PNG signature)."""
PICTURE_KEY = "png_sha256"
"""The plot record's fingerprint of its own picture: sha256 of the PNG bytes, as `plots` emits them."""


def picture_fingerprint(png: bytes) -> str:
    """sha256 of a PNG's bytes: what a plot record says its picture is."""
    return hashlib.sha256(png).hexdigest()


def output_png(output: dict) -> bytes | None:
    """The PNG a display output carries, decoded from the base64 notebooks store; None when there is none."""
    png = (output.get("data") or {}).get("image/png")
    if isinstance(png, list):  # some writers split long strings into lines
        png = "".join(p for p in png if isinstance(p, str))
    if not (isinstance(png, str) and png.lstrip().startswith(PNG_BASE64)):
        return None
    try:
        return base64.b64decode("".join(png.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def png_size(png: bytes | None) -> tuple[int, int] | None:
    """(width, height) in pixels from a PNG's header (its first chunk, IHDR), or None when the bytes
    are no PNG: what a kernel plot's picture measures, beside what `plots` draws."""
    if not png or len(png) < 24 or png[12:16] != b"IHDR":
        return None
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def shows_picture(output: dict) -> bool:
    """Whether a display output carries a PNG: a plot record without its picture shows nothing."""
    return output_png(output) is not None


def picture_problem(record: dict, output: dict) -> str | None:
    """Why a plot record is not evidence of the picture beside it (one line), or None when it is:
    the record must carry the fingerprint of the PNG in the same output, as `plots` emits it.
    A record typed in by hand, or moved next to another picture, does not match."""
    png = output_png(output)
    if png is None:
        return "its record has no picture beside it"
    claimed = record.get(PICTURE_KEY)
    if not isinstance(claimed, str):
        return "its record has no fingerprint of its picture (drawn by an older library, or typed in)"
    if claimed != picture_fingerprint(png):
        return "its record's fingerprint does not match the picture beside it (edited?)"
    return None


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_percentage(x) -> bool:
    """A finite number from 0 to 100 (NaN, infinities and 400-digit integers are not)."""
    return is_number(x) and (not isinstance(x, float) or math.isfinite(x)) and 0 <= x <= 100


def trajectory_problem(record: dict, epochs: int | None = None) -> str | None:
    """Why a training record is malformed evidence (one line), or None when it is well formed:
    1 to MAX_TRAJECTORY_POINTS accuracies, each a finite percentage, one per epoch and one before
    training (`epochs`, the recipe's where the reader knows it, else the record's own).
    Outputs are the student's to edit: anything else is malformed, for the check and the grader."""
    acc = record.get("accuracy")
    if not isinstance(acc, list) or not acc:
        return f"its accuracy is {'an empty list' if acc == [] else 'not a list of numbers'}"
    if len(acc) > MAX_TRAJECTORY_POINTS:
        return f"it has {len(acc)} accuracies, more than {MAX_TRAJECTORY_POINTS}"
    bad = next((i for i, a in enumerate(acc) if not is_percentage(a)), None)
    if bad is not None:
        return f"accuracy {bad} is {str(acc[bad])[:20]}, not a percentage from 0 to 100"
    own = record.get("epochs")
    if not (isinstance(own, int) and not isinstance(own, bool)):
        return "its number of epochs is missing or not a whole number"
    expected = own if epochs is None else epochs
    if len(acc) != expected + 1 or own != expected:
        return (f"it has {len(acc)} accuracies for {own} epochs; {expected} epochs give {expected + 1} "
                "(one before training and one per epoch)")
    return None


def valid_trajectory(record: dict, epochs: int | None = None) -> bool:
    """A record the checks can read (see `trajectory_problem`)."""
    return trajectory_problem(record, epochs) is None


def trajectory_evidence(nb: dict, epochs: int | None = None) -> tuple[dict | None, str | None]:
    """(the training record, None) or (None, why it is malformed) or (None, None) when there is none.

    The record is the `train` cell's last one (else the notebook's last): what the student's final
    run printed. A malformed one is not replaced by an earlier well-formed one: evidence is the run
    the student submitted, not the best record the file happens to hold."""
    found = list(output_records(nb, TRAJECTORY_MIME))
    if not found:
        return None, None
    in_train = [rec for gid, rec in found if gid == TRAIN_CELL]
    chosen = (in_train or [rec for _, rec in found])[-1]
    problem = trajectory_problem(chosen, epochs)
    return (None, problem) if problem else (dict(chosen), None)


def read_trajectory(nb: dict, epochs: int | None = None) -> dict | None:
    """The training record (see `trajectory_evidence`); None when there is none or it is malformed."""
    return trajectory_evidence(nb, epochs)[0]


def kernel_role(record: dict) -> str:
    """pretrained (ImageNet AlexNet), untrained or trained (AlexNet-mini) from a plot record."""
    if record.get("model") != "alexnet-mini":
        return "pretrained"
    epochs = record.get("epochs_trained")
    return "trained" if is_number(epochs) and epochs > 0 else "untrained"


def kernel_plot_evidence(nb: dict) -> tuple[dict[str, dict], list[str]]:
    """({role: {'cell', 'png_size', 'fingerprint', 'epochs_trained', 'standin', ...}} for the kernel plots shown,
    [one line per kernel plot whose record does not match its picture]).

    A plot is shown when its record and its PNG are in one output and the record's fingerprint is
    that PNG's, as `alexnet_core.plots` emits them. A later well-formed plot of a role replaces an
    earlier one; a malformed one is reported, and counts only if no well-formed one of its role exists."""
    plots, problems = {}, []
    for gid, rec, out in records_with_outputs(nb, PLOT_MIME):
        if rec.get("kind") != "kernels":
            continue
        role = kernel_role(rec)
        problem = picture_problem(rec, out)
        if problem:
            problems.append(f"the {KERNEL_PLOTS[role]} plot (cell {gid or '?'}): {problem}")
            continue
        size = png_size(output_png(out))
        plots[role] = {"cell": gid, "png_size": list(size) if size else None, **{k: rec.get(k) for k in (
            "model", "layer_index", "fingerprint", "epochs_trained", "standin", "kernel_stats")}}
    return plots, problems


def read_kernel_plots(nb: dict) -> dict[str, dict]:
    """The kernel plots shown, by role (see `kernel_plot_evidence`)."""
    return kernel_plot_evidence(nb)[0]


def first_number(text: str) -> float | None:
    """The accuracy a student wrote: the first percentage, else the first stand-alone number
    (the 3 of a label like 'Q3a' is not a number the student wrote)."""
    text = text.replace(PLACEHOLDER, "")
    number = r"(?<![\w.])(\d+(?:[.,]\d+)?)"
    match = re.search(number + r"\s*%", text) or re.search(number + r"(?![\w])", text)
    return float(match.group(1).replace(",", ".")) if match else None
