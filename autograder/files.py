"""Files the grader writes: whole or not at all, spreadsheet-safe, and one writer at a time."""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
import tempfile
from pathlib import Path

from autograder.errors import LabError

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write beside the target, then rename over it: readers see the old file or the new one.

    Always UTF-8: a character UTF-8 cannot hold, a lone surrogate, is written as '?'. Python holds
    the bytes of a file name that is not UTF-8 (an LMS download unzipped on Linux) as lone
    surrogates, and that name is in the submission's feedback, its graded.json and the class's tables:
    refused, it stopped that student's result and even its failure from being recorded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.chmod(tmp, mode)  # mkstemp makes 0600; grading outputs are for TAs to share
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_partial_writes(folder: Path) -> int:
    """Delete temp files `atomic_write` left behind when its process was killed mid-write (the
    targets themselves are whole: old or new). Called when a batch starts; returns how many."""
    stale = [p for p in Path(folder).rglob(".*.part") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def csv_safe(value):
    """A CSV cell that a spreadsheet shows as text, on one line: line breaks become spaces (a bare
    CR would break the file for Python's own reader), and a leading formula character gets a quote
    (OWASP's advice). Numbers we format ourselves are never negative and pass unchanged."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return "'" + value if value.startswith(FORMULA_STARTS) else value


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: str, holder: str = "",
                   advice: str = "wait for it to finish, or grade into another --out"):
    """Hold an advisory lock on `path` (flock: released by the kernel if the holder dies, so a
    kill -9 never leaves a stale lock). LabError when another process holds it, naming it: `holder`
    (the command, e.g. '`alexnet-lab grade`') is written into the file for that line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holding = fh.read().strip()[:200] or "an unknown process"
            raise LabError(f"{busy} ({holding}); {advice}") from None
        started = datetime.datetime.now().isoformat(timespec="seconds")
        fh.seek(0)
        fh.truncate()
        fh.write(f"{holder + ': ' if holder else ''}pid {os.getpid()} on {socket.gethostname()}, since {started}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
