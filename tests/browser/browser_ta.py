"""What the browser tests share: the students, the limits, and `alexnet-lab` as a subprocess (tests/classes.py's
`cli_command`)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from classes import REPO, cli_command, grade_command

# Every wait has a limit and says what it waited for. Grading two smoke submissions takes 15-40 s on
# two shared cores; the limits are generous so a busy machine is slow, not red.
GRADE_TIMEOUT_S = 300
SERVER_START_S = 60
SERVER_STOP_S = 15
COMMAND_TIMEOUT_S = 120

# Two students of a Canvas download, mapped to our ids by a roster (as a TA gets them).
STUDENTS = {  # student_id: (Canvas user id, name)
    "ada": ("1001", "Ada Lovelace"),
    "ben": ("1002", "Ben Okri"),
}


# The graded class's inputs, beside its OUT (conftest's `graded` fixture writes them).
DOWNLOAD = "submissions.zip"
ROSTER = "roster.csv"


def grade_class(inputs: list[Path], out: Path, roster: Path | None, *extra: str) -> subprocess.CompletedProcess:
    """`alexnet-lab grade INPUTS --out OUT [--roster ROSTER]` with two runners; fails the test, with
    the command's output, unless it exits 0."""
    command = grade_command(inputs, out, *(("--roster", str(roster)) if roster else ()), "--runners", "2", *extra)
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=GRADE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"grading {[p.name for p in inputs]} took over {GRADE_TIMEOUT_S} s; output so far:\n{exc.output}")
    assert done.returncode == 0, f"alexnet-lab grade failed:\n{done.stdout}\n{done.stderr}"
    return done


def run_cli(*args: str, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cli_command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`alexnet-lab {' '.join(args)}` did not finish in {timeout} s; its output so far:\n{exc.output}")

