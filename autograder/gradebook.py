"""nbgrader's gradebook, as the grader opens it: nbgrader's own `Gradebook`, with one change.

When nbgrader makes a new gradebook it asks `alembic heads` for its schema version, in a
subprocess: 2.5 s of every batch here (a new Python importing alembic), and a failure where the
venv's bin/ is not on PATH. The same head is read here, in this process, from the migration
scripts nbgrader ships (`nbgrader.dbutil.ALEMBIC_DIR`). Every module of the grader imports the
gradebook from here, so the change holds before nbgrader first makes one.
"""
from __future__ import annotations

import functools

import nbgrader.api as _api
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.dbutil import ALEMBIC_DIR

__all__ = ["Gradebook", "MissingEntry"]


@functools.cache
def alembic_head() -> str:
    """The schema version nbgrader stamps a new gradebook with (what `alembic heads` prints first)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", ALEMBIC_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


_api.get_alembic_version = alembic_head
