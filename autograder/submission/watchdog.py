"""The memory watchdog: the run's processes, found under /proc, and their memory (proportional set
size) and GPU memory, sampled while the kernel runs; past the cap the whole sandbox is killed."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from autograder.submission import gpu


def descendants(*roots: int) -> list[int]:
    """The processes and all their descendants, roots first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo += children.get(pid, [])
    return found


def memory_mb(pids: list[int]) -> float:
    """Memory of the processes (the sandbox's, and a warm-started kernel's, with their descendants):
    their proportional set size, so pages shared between them,
    or with the zygote they were forked from, count once in all (resident size would count the
    preloaded torch once per forked process). Resident size where the kernel has no smaps_rollup."""
    total = 0.0
    for pid in pids:
        for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
            try:
                with open(path) as fh:
                    kb = next((int(line.split()[1]) for line in fh if line.startswith(key)), None)
            except OSError:
                continue
            if kb is not None:
                total += kb / 1024
                break
    return total


# Seconds between two looks at the GPU's memory (nvidia-smi costs about 0.1 s of a core).
GPU_WATCH_S = 2.0


def run_roots(km) -> list[int]:
    """The run's first processes: the sandbox jupyter_client started and, started warm, the kernel
    the zygote forked into it (its parent is the zygote, outside the sandbox's process tree)."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    kernel = km.launch.pid if km.launch is not None and km.launch.pid else None
    return [pid for pid in (process.pid if process is not None else None, kernel) if pid]


def watch_memory(client, limit_mb: int, gpu_cap_mb: float | None, tripped: dict, done: threading.Event) -> None:
    """Kill the kernel's whole sandbox when its memory passes the cap, or its GPU memory its share
    of the GPU (`gpu_cap_mb`); `tripped` says which: {"memory": MiB} or {"gpu": MiB}."""
    next_gpu = time.monotonic()
    while not done.wait(0.5):
        process = getattr(getattr(client.km, "provisioner", None), "process", None)
        if process is None:
            continue
        pids = descendants(*run_roots(client.km))
        used = memory_mb(pids)
        if used > limit_mb:
            tripped["memory"] = used
        elif gpu_cap_mb and time.monotonic() >= next_gpu:
            next_gpu = time.monotonic() + GPU_WATCH_S
            held = gpu.memory_by_pid()
            on_gpu = sum(held.get(pid, 0.0) for pid in pids)
            if on_gpu > gpu_cap_mb:
                tripped["gpu"] = on_gpu
        if tripped:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(process.pid, signal.SIGKILL)
                except OSError:
                    pass
            return
