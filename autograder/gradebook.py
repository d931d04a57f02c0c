"""nbgrader's gradebook, as the grader opens it: nbgrader's own `Gradebook`, with one change.

When nbgrader makes a new gradebook it asks `alembic heads` for its schema version, in a
subprocess: 2.5 s of every batch here (a new Python importing alembic), and a failure where the
venv's bin/ is not on PATH. The same head is read here, in this process, from the migration
scripts nbgrader ships (`nbgrader.dbutil.ALEMBIC_DIR`). Every module of the grader imports the
gradebook from here, so the change holds before nbgrader first makes one.

Also here, below the batch and the export that both write it: nbgrader's `submitted/` record of a
submission (`mark_submitted`), which formgrader's own views count beside the gradebook, and the
course root's `nbgrader_config.py` (`write_nbgrader_config`: `register` and formgrader write it),
which points nbgrader's own apps at the same gradebook.
"""
from __future__ import annotations

import functools
import os
from datetime import datetime
from pathlib import Path

import nbgrader.api as _api
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.dbutil import ALEMBIC_DIR

from autograder.course import TIMESTAMP_FILE, NbgraderRoot
from autograder.database import mask
from autograder.files import atomic_write
from grading_config import GradingConfig

__all__ = ["Gradebook", "MissingEntry", "mark_submitted", "timestamp_text", "write_nbgrader_config"]


@functools.cache
def alembic_head() -> str:
    """The schema version nbgrader stamps a new gradebook with (what `alembic heads` prints first)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", ALEMBIC_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


_api.get_alembic_version = alembic_head


def timestamp_text(timestamp: datetime) -> str:
    """A gradebook timestamp (naive, UTC) in nbgrader's own timestamp.txt format; nbgrader's
    `parse_utc` reads it back as the same datetime, to the microsecond, which is what its views compare."""
    return timestamp.strftime("%Y-%m-%d %H:%M:%S.%f") + " UTC"


def mark_submitted(root: NbgraderRoot, student_id: str, timestamp: datetime | None) -> bool:
    """Make formgrader count `student_id`'s submission with the gradebook's `timestamp`; False when
    it did already. The autograded folder is made too: without it nbgrader calls the submission not
    autograded, even where (a run that failed on a file that is no notebook) there is no notebook to show.
    A submission with no timestamp has no timestamp.txt (nbgrader compares None with None)."""
    stamp = root.submitted(student_id) / TIMESTAMP_FILE
    stamp.parent.mkdir(parents=True, exist_ok=True)
    root.autograded(student_id).parent.mkdir(parents=True, exist_ok=True)
    if timestamp is None:
        existed = stamp.exists()
        stamp.unlink(missing_ok=True)
        return existed
    text = timestamp_text(timestamp)
    try:
        if stamp.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write(stamp, text)
    return True


def _config_file_text(root: NbgraderRoot, config: GradingConfig) -> str:
    lines = [
        "# Written by `alexnet-lab`: the nbgrader settings of this course root.\n",
        "c = get_config()  # noqa: F821\n",
        f"c.CourseDirectory.course_id = {config.course.course_id!r}\n",
        "c.CourseDirectory.root = __import__('os').path.dirname(__import__('os').path.abspath(__file__))\n",
    ]
    if root.db_url:  # a gradebook elsewhere (gradebook.url / --db): formgrader and `nbgrader export` open it too
        lines.append(f"c.CourseDirectory.db_url = {root.db_url!r}\n")
    return "".join(lines)


def write_nbgrader_config(root: NbgraderRoot, config: GradingConfig) -> Path:
    """The course root's nbgrader_config.py, which nbgrader's own apps read when run there. A URL
    that holds a password (the TA's choice: PGPASSWORD or ~/.pgpass keep it out) makes the file
    readable by its owner only."""
    text = _config_file_text(root, config)
    secret = mask(root.db_url) != root.db_url
    path = root.config_file
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644), "w",
              encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path
