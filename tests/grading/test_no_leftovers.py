"""Grading leaves nothing under /tmp: a zygote's folder (its socket, matplotlib and torch caches)
goes with the zygote, also when the coordinator that started it is killed with SIGKILL, and one
left by a zygote killed itself is swept by the next zygote started in the same place."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder.submission import zygote as zg
from autograder.submission.kernel import fixed_kernel_env
from autograder.submission.warm import start_zygote

STAND_IN = """
import sys, time
from autograder.submission.warm import start_zygote
z = start_zygote("cpu", 1)
print(z.folder, flush=True)
time.sleep(600)
"""


def _gone(path: Path, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return not path.exists()


def test_a_coordinator_killed_with_sigkill_leaves_no_zygote_folder():
    """A process that started a zygote as the pool does (the coordinator), killed with SIGKILL: its
    zygote, preloaded and serving, ends and removes its folder from the system's temporary folder."""
    parent = subprocess.Popen([sys.executable, "-c", STAND_IN], stdout=subprocess.PIPE, text=True)
    try:
        folder = Path(parent.stdout.readline().strip())
        assert folder.parent == Path(tempfile.gettempdir()) and folder.name.startswith(zg.PREFIX)
        pid = int((folder / zg.OWNER).read_text())
        time.sleep(1)
        assert os.path.exists(f"/proc/{pid}")
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _gone(folder), sorted(p.name for p in folder.iterdir())
    assert _gone(Path(f"/proc/{pid}"), 10)


GONE_AT_ONCE = """
import os
from autograder.submission.warm import start_zygote
z = start_zygote("cpu", 1)
print(z.folder, flush=True)
os._exit(0)  # SIGKILL-like: nothing closes the zygote, before its Python has even started
"""


def test_a_coordinator_gone_before_its_zygote_started_leaves_no_zygote_folder():
    """The coordinator killed while its zygote is still starting Python: the zygote, once running,
    finds init (not its parent) above it and ends, removing its folder. (It took init for its
    parent and served nobody forever: a kill -9 under load left its folder in /tmp.)"""
    done = subprocess.run([sys.executable, "-c", GONE_AT_ONCE], capture_output=True, text=True, timeout=60)
    folder = Path(done.stdout.strip())
    assert folder.name.startswith(zg.PREFIX), done.stderr
    pid = int((folder / zg.OWNER).read_text())
    try:
        assert _gone(folder, 60), sorted(p.name for p in folder.iterdir())
        assert _gone(Path(f"/proc/{pid}"), 10)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def work():
    """A work folder with a short path, as OUT/.work/jobs usually is (pytest's own are too deep)."""
    folder = Path(tempfile.mkdtemp(prefix="alexnet-lab-test-work-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_zygote_killed_itself_is_swept_by_the_next(work):
    first = start_zygote("cpu", 1, parent=work)
    assert first.folder.parent == work
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    assert first.folder.exists() and zg.stale_folders(work) == [first.folder]
    second = zg.Zygote(fixed_kernel_env("cpu", 1), preload=(), parent=work)
    try:
        assert not first.folder.exists() and second.folder.exists() and zg.stale_folders(work) == []
    finally:
        second.close()
    assert not second.folder.exists()


def test_a_deep_work_folder_puts_the_zygote_where_its_socket_fits(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    z = zg.Zygote(fixed_kernel_env("cpu", 1), preload=(), parent=deep)
    try:
        assert z.folder.parent == Path(tempfile.gettempdir()) and len(z.path) <= zg.SOCKET_PATH_MAX
    finally:
        z.close()
    assert not z.folder.exists()


def test_kill_9_of_a_real_coordinator_leaves_no_zygote_folder(tmp_path):
    """`alexnet-lab grade` killed with SIGKILL while its runner works: its slot's zygote goes, and
    its folder (wherever the socket's path put it) with it."""
    import notebooks
    from classes import kill, log_of, processes_matching, start_coordinator, wait_for

    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(notebooks.release_path(), folder / "zoe.ipynb")
    out = tmp_path / "out"
    coordinator = start_coordinator([folder], out, "--runners", "1")
    try:
        def zygotes():
            return [pid for pid in processes_matching("zygote.py")
                    if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(coordinator.pid)]

        found = wait_for(zygotes, timeout=120, interval=0.1)
        assert found, log_of(out)
        zygote_folder = Path(os.readlink(f"/proc/{found[0]}/cwd"))
        assert zygote_folder.name.startswith(zg.PREFIX)
        assert wait_for(lambda: processes_matching("autograder.submission.job", "zoe.attempt1.pkl"), timeout=120)
    finally:
        kill([coordinator.pid])
        coordinator.wait(timeout=30)
    # Generous: under load (the suite runs two workers) the zygote first waits for its kernel to end.
    assert _gone(zygote_folder, 120), sorted(p.name for p in zygote_folder.iterdir())
    assert wait_for(lambda: not processes_matching("autograder.submission.job", "zoe.attempt1.pkl"), timeout=30)


def test_a_deep_output_folder_s_sockets_leave_nothing_under_tmp(tmp_path):
    """A deep OUT moves a run's sockets to the system's temporary folder: removed when the run ends,
    and a killed runner's are removed by the next run that needs one."""
    import dataclasses

    from notebooks import CONFIG, code_notebook

    from autograder.submission import execute as run
    from autograder.submission import teardown

    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"{teardown.IPC_PREFIX}{gone.pid}-"))
    before = set(Path(tempfile.gettempdir()).glob(teardown.IPC_PREFIX + "*")) - {stale}
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    profile = dataclasses.replace(CONFIG.profiles["smoke"], cell_timeout_s=30, notebook_timeout_s=60)
    e = run.execute(code_notebook("print('deep')", grade_ids=("deep",)), profile=profile, limits=CONFIG.limits,
                    scratch=deep)
    assert e.status == run.OK and "deep" in e.notebook, e.reason
    assert not stale.exists()
    assert set(Path(tempfile.gettempdir()).glob(teardown.IPC_PREFIX + "*")) <= before
