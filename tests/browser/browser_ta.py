"""What the browser tests share: the students, the limits, and `alexnet-lab` as a subprocess (tests/classes.py's
`cli_command`)."""
from __future__ import annotations

import subprocess

import pytest
from classes import REPO, cli_command

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


def run_cli(*args: str, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cli_command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`alexnet-lab {' '.join(args)}` did not finish in {timeout} s; its output so far:\n{exc.output}")

