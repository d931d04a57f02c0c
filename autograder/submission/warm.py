"""The warm start as a run uses it: the zygote of a runner slot (`start_zygote`, the pool's), else
this process's own, and the launch that forks a kernel from it into the run's sandbox.

Process-wide state, on purpose: a runner process (a pool slot's, a Ray worker, a test) keeps one
zygote for all its runs (`_zygote`), and once a warm start has failed for a lasting reason it
starts every later kernel cold (`_zygote_problem`, read through `warm_off()`). Both live here only.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.submission import sandbox as sb
from autograder.submission import zygote as zg
from autograder.submission.kernel import KERNEL_ARGS, fixed_kernel_env
from autograder.submission.watchdog import descendants

log = logging.getLogger(__name__)

# What a warm start's zygote imports once for all its kernels: what the lab's cells and ipykernel
# import (torch 1.3-2 s, torchvision, matplotlib and its font list, IPython), and the student floor.
PRELOAD = ("torch", "torchvision", "numpy", "PIL.Image", "matplotlib.pyplot", "ipykernel.kernelapp",
           "ipykernel.ipkernel", "alexnet_core", *(f"alexnet_core.{name}" for name in (
               "assets", "cifar", "display", "identity", "imagenet", "models", "plots", "profiles", "runtime",
               "synthetic", "training")))


def start_zygote(device: str, threads: int, parent: Path | None = None) -> zg.Zygote:
    """A zygote for the kernels of a runner slot (the local pool starts one per slot, its folder in
    `parent`, the pool's work folder)."""
    return zg.Zygote(fixed_kernel_env(device, threads), preload=PRELOAD, parent=parent)


_zygote: zg.Zygote | None = None
"""The zygote this process started for itself (a Ray worker, a test): kept across runs."""
_zygote_lock = threading.Lock()
_zygote_problem: str | None = None
"""Why this process starts its kernels cold from now on (a warm start failed once), or None."""


def own_zygote(fixed: dict[str, str]) -> zg.Zygote:
    """This process's zygote for kernels with the `fixed` environment (a new one when that changed)."""
    global _zygote
    with _zygote_lock:  # runs on several threads of one process (the tests) share it
        if _zygote is not None and (_zygote.fixed != fixed or not _zygote.alive):
            close_zygote()
        if _zygote is None:
            _zygote = zg.Zygote(fixed, preload=PRELOAD)
        return _zygote


def close_zygote() -> None:
    """Stop this process's own zygote (tests; the process's exit does it too)."""
    global _zygote
    if _zygote is not None:
        _zygote.close()
        _zygote = None


atexit.register(close_zygote)


def warm_off() -> str | None:
    """Why this process starts its kernels cold from now on, or None (warm starts allowed)."""
    return _zygote_problem


def warm_failed(reason: str) -> None:
    global _zygote_problem
    _zygote_problem = reason
    close_zygote()
    log.warning("warm start off in this runner, kernels start cold from now on: %s", reason)


@dataclass
class WarmLaunch:
    """A kernel to fork from the zygote into the sandbox that `wrap` starts with a holder."""

    path: str
    """The zygote's socket."""
    fixed: dict
    fifo: Path
    env: dict
    cwd: Path
    spec: dict
    """confine.py's spec for the kernel: its uid, limits and seccomp program."""
    pid: int | None = None
    """The kernel's host PID once forked."""

    def start(self, sandbox_process, connection_file: str, log_fd: int) -> None:
        holder = _find_holder(sandbox_process, self.fifo)
        self.pid = zg.spawn(self.path, fixed=self.fixed, holder_pid=holder, spec=self.spec, env=self.env,
                            cwd=str(self.cwd), argv=["-f", connection_file, *KERNEL_ARGS], fifo=str(self.fifo),
                            log_fd=log_fd)


def _find_holder(process, fifo: Path, timeout_s: float = 30) -> int:
    """The host PID of the sandbox's holder, once it has made its FIFO."""
    deadline = time.monotonic() + timeout_s
    while not fifo.exists():
        if process.poll() is not None:
            raise zg.WarmStartError(f"the sandbox ended (exit {process.returncode}) before its holder started")
        if time.monotonic() > deadline:
            raise zg.WarmStartError(f"the sandbox's holder did not start within {timeout_s:g} s")
        time.sleep(0.005)
    wanted = sb.holder_command(fifo)
    for pid in descendants(process.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        if argv == wanted:
            return pid
    raise zg.WarmStartError("the sandbox's holder process was not found")
