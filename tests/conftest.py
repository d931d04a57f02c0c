"""Test-wide settings: the smoke profile, a private asset cache, no display.

Set at import time (before any test imports alexnet_core) so that Jupyter kernels started by
the tests inherit the same environment: the kernel, the CLI and the tests agree on the profile.
"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.config import load_config, select_profile
from autograder.course import CourseFolder
from autograder.submission import zygote

os.environ["ALEXNET_LAB_PROFILE"] = "smoke"
# The session's own asset cache (synthetic data), removed when the session ends.
_OWN_DATA = None if "ALEXNET_LAB_DATA" in os.environ else tempfile.mkdtemp(prefix="alexnet-lab-test-data-")
if _OWN_DATA:
    os.environ["ALEXNET_LAB_DATA"] = _OWN_DATA
os.environ["MPLBACKEND"] = "Agg"
# Two cores: kernels started by tests use one thread each so parallel runners do not fight.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
# Which worker runs which files, and in what order (make test runs on pytest-xdist).
pytest_plugins = ["scheduling"]
# Zygote folders already under the temporary folder (another session's, running or not): the
# session-end check names only those this session left behind.
_ZYGOTES_BEFORE = set(Path(tempfile.gettempdir()).glob(zygote.PREFIX + "*")) | set(
    Path(tempfile.gettempdir()).glob("alexnet-lab-ipc-*"))


def _alive(pid: str) -> bool:
    return pid.isdigit() and Path(f"/proc/{pid}").exists()
# nbgrader runs `alembic` from PATH; the CLI and subprocesses need the venv's bin on PATH.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def config():
    """The course's config as the CLI loads it (grading_config.py's defaults, validated)."""
    return load_config().config


@pytest.fixture(scope="session")
def course(config) -> CourseFolder:
    """This repository as the course folder (master, envelopes, committed release)."""
    return CourseFolder.locate(REPO, config.course)


@pytest.fixture(scope="session")
def smoke(config):
    return select_profile(config, "smoke")


@pytest.fixture(scope="session")
def asset_cache() -> Path:
    return Path(os.environ["ALEXNET_LAB_DATA"])


def pytest_sessionfinish(session, exitstatus):
    if _OWN_DATA:
        shutil.rmtree(_OWN_DATA, ignore_errors=True)
    # Grading leaves nothing under /tmp: a zygote folder of this session whose zygote is gone is a
    # leak (zygote.py removes its own; a SIGKILLed one is swept by the next). Said loudly, and the
    # session fails. Live ones (this process's own zygote ends at exit) are not counted.
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controller looks once every worker has ended
    left = [f for f in zygote.stale_folders() if f not in _ZYGOTES_BEFORE]
    left += [f for f in Path(tempfile.gettempdir()).glob("alexnet-lab-ipc-*-*")  # a deep OUT's sockets
             if f not in _ZYGOTES_BEFORE and not _alive(f.name.split("-")[3])]
    if left:
        for f in left:
            shutil.rmtree(f, ignore_errors=True)
        sys.stderr.write(f"\nLEFT UNDER {tempfile.gettempdir()}: {', '.join(sorted(f.name for f in left))} "
                         "(zygote or socket folders whose process is gone; removed now)\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
