"""The notebook contract: the names and records the lab notebook, `alexnet_core` and the grader share.

One home for each: the MIME types of the records `alexnet_core` emits, the cells' nbgrader
grade ids, the question labels and their answer cells, what counts as an answer, the size unit,
and the readers that pull the records out of a saved notebook. The grader imports this module;
this module imports nothing but the standard library (the runner and the student's check load it
in milliseconds, without torch).
"""
from __future__ import annotations

import json
import re

TRAJECTORY_MIME = "application/vnd.alexnet-lab.trajectory+json"
PLOT_MIME = "application/vnd.alexnet-lab.plot+json"

PLACEHOLDER = "YOUR ANSWER HERE"
"""nbgrader's text in an answer cell nobody has touched."""

ASSIGNMENT = "alexnet"
"""The lab's assignment name (a course may rename it in its config; the release stamps it)."""

QUESTIONS = ("Q1", "Q2", "Q3a", "Q3b", "Q3c", "Q4a", "Q4b")
"""The free-text questions, in notebook order, as students see them."""
BEFORE_TRAINING_QUESTION = "Q3a"
"""The question whose answer is the student's own test accuracy before training (a number)."""

MIN_ANSWER_CHARS = 20
"""The default shortest answer (after trimming) that counts as answered (a course may change it)."""
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


def answer_label(cell_id: str | None, labels=QUESTIONS) -> str | None:
    """'answer_q3a' -> 'Q3a' for the labels given; None for any other cell."""
    for label in labels:
        if cell_id == answer_cell(label):
            return label
    return None


def answer_cells(nb: dict, labels=QUESTIONS) -> dict:
    """The answer cells by label, found by grade id. Where a cell was duplicated, the last copy:
    nbgrader's DeduplicateIds keeps that one's id, so it is the copy the grader reads."""
    found = {}
    for cell in nb.get("cells", []) or []:
        label = answer_label(grade_id(cell), labels)
        if label:
            found[label] = cell
    return found


def source_text(cell: dict) -> str:
    """A cell's text, whether stored as one string or as a list of lines."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def own_text(text: str) -> str:
    """What the student wrote: the answer without nbgrader's placeholder, trimmed."""
    return text.replace(PLACEHOLDER, "").strip()


def is_answered(text: str, min_chars: int = MIN_ANSWER_CHARS, master_text: str = PLACEHOLDER) -> bool:
    """The one rule, for the student's check and the grader: changed from the release (`master_text`,
    the answer cell as released) and at least `min_chars` long without the placeholder."""
    own = own_text(text)
    return bool(own) and text.strip() != master_text.strip() and len(own) >= min_chars


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


def shows_picture(output: dict) -> bool:
    """Whether a display output carries a PNG: a plot record without its picture shows nothing."""
    png = (output.get("data") or {}).get("image/png")
    if isinstance(png, list):  # some writers split long strings into lines
        png = "".join(p for p in png if isinstance(p, str))
    return isinstance(png, str) and png.lstrip().startswith(PNG_BASE64)


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_percentage(x) -> bool:
    """A finite number from 0 to 100 (NaN, infinities and 400-digit integers are not)."""
    return is_number(x) and 0 <= x <= 100


def valid_trajectory(record: dict) -> bool:
    """A record the checks can read: 1 to MAX_TRAJECTORY_POINTS accuracies, each a percentage.
    Outputs are the student's to edit: anything else is malformed, for the check and the grader."""
    acc = record.get("accuracy")
    return (isinstance(acc, list) and 0 < len(acc) <= MAX_TRAJECTORY_POINTS
            and all(is_percentage(a) for a in acc))


def read_trajectory(nb: dict) -> dict | None:
    """The trajectory record, preferring the `train` cell's last one; None when there is none
    (a malformed record counts as none)."""
    found = [(gid, rec) for gid, rec in output_records(nb, TRAJECTORY_MIME) if valid_trajectory(rec)]
    in_train = [rec for gid, rec in found if gid == TRAIN_CELL]
    chosen = (in_train or [rec for _, rec in found] or [None])[-1]
    return dict(chosen) if chosen else None


def kernel_role(record: dict) -> str:
    """pretrained (ImageNet AlexNet), untrained or trained (AlexNet-mini) from a plot record."""
    if record.get("model") != "alexnet-mini":
        return "pretrained"
    epochs = record.get("epochs_trained")
    return "trained" if is_number(epochs) and epochs > 0 else "untrained"


def read_kernel_plots(nb: dict) -> dict[str, dict]:
    """{role: {'cell', 'fingerprint', 'epochs_trained', 'standin', ...}} for the kernel plots shown
    (a record and its PNG in one output, as `alexnet_core.plots` emits them)."""
    plots = {}
    for gid, rec, out in records_with_outputs(nb, PLOT_MIME):
        # A record typed in by hand, without the picture it describes, is not a plot shown.
        if rec.get("kind") == "kernels" and shows_picture(out):
            plots[kernel_role(rec)] = {"cell": gid, **{k: rec.get(k) for k in (
                "model", "layer_index", "fingerprint", "epochs_trained", "standin", "kernel_stats")}}
    return plots


def first_number(text: str) -> float | None:
    """The accuracy a student wrote: the first percentage, else the first stand-alone number
    (the 3 of a label like 'Q3a' is not a number the student wrote)."""
    text = text.replace(PLACEHOLDER, "")
    number = r"(?<![\w.])(\d+(?:[.,]\d+)?)"
    match = re.search(number + r"\s*%", text) or re.search(number + r"(?![\w])", text)
    return float(match.group(1).replace(",", ".")) if match else None
