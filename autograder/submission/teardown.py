"""After a run: nothing of it outlives it. The sandbox's processes are noted while nbclient's kernel
context is still open and waited for after the kill; the kernel's socket folder is taken back once
the kernel is ready (`seal_sockets`) and, for a deep OUT, made under the system's temporary folder
and swept when its runner is gone (`sweep_socket_folders`)."""
from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path

from autograder.submission.watchdog import descendants, run_roots

log = logging.getLogger(__name__)

IPC_PREFIX = "alexnet-lab-ipc-"
"""A deep OUT's socket folders under the system's temporary folder: `alexnet-lab-ipc-<runner pid>-*`."""


def sweep_socket_folders() -> None:
    """Remove the socket folders of runners that are gone (killed before their `finally`): when a
    run needs one, and when a batch ends (its pool may have lost a runner)."""
    for folder in Path(tempfile.gettempdir()).glob(IPC_PREFIX + "*-*"):
        pid = folder.name[len(IPC_PREFIX):].split("-", 1)[0]
        try:
            # As root the folder belongs to the kernel's uid until the kernel is ready (`seal_sockets`):
            # a runner killed before that leaves one owned by that uid, which is still ours to remove.
            if not pid.isdigit() or (os.geteuid() != 0 and folder.stat().st_uid != os.geteuid()):
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


# ---------------------------------------------------------------- the warm start

TEARDOWN_WAIT_S = 10


def sandbox_processes(km) -> list[int]:
    """Handles (pidfds) on every process of the run's sandbox and kernel now: a reused PID is
    never mistaken for one of them."""
    handles = []
    for pid in descendants(*run_roots(km)):
        try:
            handles.append(os.pidfd_open(pid))
        except OSError:
            pass
    return handles


@contextlib.contextmanager
def noting_processes(km, into: list[int]):
    """On leaving, add the sandbox's processes to `into`: entered after nbclient's kernel context,
    it leaves first, while they are all still there to be found."""
    try:
        yield
    finally:
        into.extend(sandbox_processes(km))


def kill_sandbox(km, ending: list[int]) -> None:
    """Make sure nothing of the run outlives it (nbclient has asked the kernel to stop; a fork of
    the kernel would not have): killing the sandbox's first process takes its whole PID namespace.
    Returns once they have all ended: the namespace goes down asynchronously (processes that mapped
    torch take a while to unmap it), and the next run in this runner has the same uid, whose process
    limit the last ones would otherwise still hold."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    ending = ending + sandbox_processes(km)
    if process is not None:  # else nbclient's shutdown has killed it already
        for kill in (lambda: os.killpg(process.pid, signal.SIGKILL), process.kill):
            try:
                kill()
            except OSError:
                pass
        try:
            process.wait(timeout=TEARDOWN_WAIT_S)
        except Exception:
            pass
    wait_ended(ending, time.monotonic() + TEARDOWN_WAIT_S)


def wait_ended(pidfds: list[int], deadline: float) -> None:
    """Wait until every process behind `pidfds` has ended (a pidfd turns readable then), or the deadline."""
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    left = set(pidfds)
    try:
        while left and time.monotonic() < deadline:
            for fd, _ in poller.poll(max(1, int((deadline - time.monotonic()) * 1000))):
                poller.unregister(fd)
                left.discard(fd)
    finally:
        for fd in pidfds:
            os.close(fd)


def seal_sockets(sockets: Path, connection_file: str) -> None:
    """Take the socket folder back from the kernel once it is ready: the only host folder it could
    write (every other writable folder inside is a size-capped tmpfs). Its sockets are bound by
    then, before any cell runs, and stay usable (connecting needs no write access to the folder), so
    from here on no file a kernel writes lands on the host's disk. As root the folder and the
    connection file become the grader's again (0700, 0600: the kernel's uid can no longer enter).
    Not root, the kernel has the grader's own uid, which could take the folder back: nothing is
    done (ARCHITECTURE, "The sandbox")."""
    if os.geteuid() != 0:
        return
    for path, mode in ((Path(connection_file), 0o600), (sockets, 0o700)):
        try:
            os.chown(path, 0, 0)
            path.chmod(mode)
        except OSError as exc:  # a folder that cannot be sealed is said, never a stopped run
            log.warning("could not take the kernel's socket folder back (%s): %s", path, exc)
