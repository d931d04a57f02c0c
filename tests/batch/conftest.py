"""Shared, expensive fixtures of the batch tests: one executed submission, one graded class.

The release is executed once per session (tests/notebooks.py); every student here is a copy of
that run with other answers or edited outputs, so the suite pays for the grading runs only.
"""
from __future__ import annotations

import copy
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import notebooks  # noqa: E402

REPO = notebooks.REPO
TRAJECTORY_MIME = "application/vnd.alexnet-lab.trajectory+json"
WORDS = ("kernel edge colour blob data training epoch accuracy pattern texture filter layer image class "
         "random noise guess chance network learn weight gradient loss shape fur ear wheel sky grass "
         "pixel feature detector scale small large fast slow rise flat stripe corner").split()

# nbgrader runs `alembic`; the CLI and subprocesses need the venv's bin on PATH.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def prose(student: str, label: str, words: int = 18) -> str:
    """An answer of its own for each student and question (random words: no accidental duplicates)."""
    rng = random.Random(f"{student}/{label}")
    return f"{student.title()} on {label}: " + " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def with_answers(nb, answers: dict[str, str]):
    """A copy of `nb` whose answer cells hold `answers` (labels left out keep the placeholder)."""
    nb = copy.deepcopy(nb)
    for label, cell in notebooks.answer_cells(nb).items():
        if label in answers:
            cell.source = answers[label]
    return nb


def all_answers(student: str) -> dict[str, str]:
    return {label: prose(student, label) for label in ("Q1", "Q2", "Q3a", "Q3b", "Q3c", "Q4a", "Q4b")}


def inflate_trajectory(nb, points: float = 30.0):
    """Hand-edited outputs: the shown accuracies raised (the re-run will disagree)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            record = out.get("data", {}).get(TRAJECTORY_MIME)
            if isinstance(record, dict):
                record["accuracy"] = [min(99.0, a + points) for a in record["accuracy"]]
    return nb


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    """The release executed once (smoke profile); a fresh copy per use."""
    return notebooks.executed_release(tmp_path_factory)


@pytest.fixture(scope="session")
def class_folder(tmp_path_factory, executed) -> Path:
    """A mixed class with two notebooks to run (the expensive part) and the cheap cases around them.

    alice: ran it, answered everything in her own words. carol: answered three questions, two of
    them copied from alice (one verbatim, one with a character changed), and raised the accuracies
    her notebook shows. dave: a file cut off (not JSON). notes.txt: not a notebook.
    """
    folder = tmp_path_factory.mktemp("class")
    alice = all_answers("alice")
    carol = {"Q1": alice["Q1"], "Q2": alice["Q2"].replace(".", "!"), "Q3a": prose("carol", "Q3a")}
    nbformat.write(with_answers(executed, alice), str(folder / "alice.ipynb"))
    nbformat.write(inflate_trajectory(with_answers(executed, carol)), str(folder / "carol.ipynb"))
    text = json.dumps(with_answers(executed, all_answers("dave")))
    (folder / "dave.ipynb").write_text(text[: len(text) // 3], encoding="utf-8")
    (folder / "notes.txt").write_text("not a submission")
    return folder


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory, class_folder):
    """The class graded once by the local pool with two runners: (output folder, summary)."""
    from autograder.grade import grade

    out = tmp_path_factory.mktemp("graded") / "out"
    summary = grade([class_folder], out, profile="smoke", runners=2)
    return out, summary


# -- processes, found and stopped by id ------------------------------------------------------
def processes_matching(*needles: str) -> list[int]:
    """PIDs whose command line contains every needle (read from /proc; no broad kills)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(n in cmdline for n in needles):
            found.append(int(entry.name))
    return found


def wait_for(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def grade_command(inputs, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autograder.cli", "grade", *map(str, inputs), "--out", str(out),
            "--profile", "smoke", *extra]


def start_coordinator(inputs, out: Path, *extra: str) -> subprocess.Popen:
    """`alexnet-lab grade` as its own process; its output goes to `<out>.log` (read with `log_of`)."""
    log = Path(f"{out}.log").open("w")
    return subprocess.Popen(grade_command(inputs, out, *extra), cwd=REPO, env=dict(os.environ),
                            stdout=log, stderr=subprocess.STDOUT, text=True)


def log_of(out: Path) -> str:
    return Path(f"{out}.log").read_text(errors="replace")
