"""Session fixtures of the release tests: the committed release executed once, shared by every test.

Other suites copy this pattern (a session fixture calling tests/notebooks.py), so however many
suites ask, a pytest session executes the release notebook only once.
"""
import sys
from pathlib import Path

import pytest

import notebooks


@pytest.fixture(scope="session")
def executed_nb(tmp_path_factory):
    """The committed release, executed end to end in the smoke profile (a copy per test)."""
    return notebooks.executed_release(tmp_path_factory)


@pytest.fixture(scope="session")
def executed_nb_file(tmp_path_factory) -> Path:
    """The executed release on disk (copy it before changing it)."""
    return notebooks.executed_release_file(tmp_path_factory)
