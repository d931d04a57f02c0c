"""`make test`'s scheduling (tests/scheduling.py): a session fixture marked `one_worker` is built once
for the whole run, not once per pytest-xdist worker."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

CONFTEST = '''
import os
import pytest
import scheduling

pytest_plugins = ["scheduling"]


@pytest.fixture(scope="session")
{mark}
def costly():
    with open(os.environ["BUILDS"], "a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "none") + "\\n")
    return 42
'''

USER = '''
import pytest

@pytest.mark.parametrize("n", range(6))
def test_uses_it(costly, n):
    assert costly == 42
'''


def run_suite(folder: Path, mark: str) -> list[str]:
    (folder / "conftest.py").write_text(CONFTEST.format(mark=mark))
    for name in ("test_a.py", "test_b.py"):  # two files, each enough tests to keep a worker busy
        (folder / name).write_text(USER)
    builds = folder / "builds.txt"
    env = dict(os.environ, BUILDS=str(builds), PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist",
                           "loadfile", "-c", os.devnull, "--rootdir", str(folder), str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "12 passed" in done.stdout, done.stdout
    return builds.read_text().split()


def test_a_marked_session_fixture_is_built_once_for_files_on_two_workers(tmp_path):
    (tmp_path / "marked").mkdir()
    (tmp_path / "plain").mkdir()
    # Without the mark, xdist hands each file to its own worker and each builds the fixture.
    assert len(run_suite(tmp_path / "plain", mark="")) == 2
    assert len(run_suite(tmp_path / "marked", mark="@scheduling.one_worker")) == 1
