"""What nvidia-smi says about the GPUs: the one reader of its CSV queries, for the runner's
GPU-memory watchdog (execute.py) and the benchmarks' samplers."""
from __future__ import annotations

import subprocess


def nvidia_smi(*args: str) -> list[list[str]]:
    """The rows of an nvidia-smi CSV query, each split into its fields; OSError when it fails."""
    try:
        done = subprocess.run(["nvidia-smi", *args, "--format=csv,noheader,nounits"], capture_output=True,
                              text=True, timeout=10)
    except subprocess.TimeoutExpired as exc:
        raise OSError(f"nvidia-smi did not answer in {exc.timeout:g} s") from None
    if done.returncode:
        raise OSError(done.stderr.strip() or done.stdout.strip())
    return [[x.strip() for x in line.split(",")] for line in done.stdout.splitlines() if line.strip()]


def memory_by_pid() -> dict[int, float]:
    """MiB of GPU memory each process holds (host PIDs); empty where nvidia-smi cannot say."""
    held: dict[int, float] = {}
    try:
        rows = nvidia_smi("--query-compute-apps=pid,used_memory")
    except OSError:
        return held
    for pid, mib in (row for row in rows if len(row) == 2):
        try:
            held[int(pid)] = held.get(int(pid), 0.0) + float(mib)
        except ValueError:
            continue
    return held


def total_mb(device: str) -> float | None:
    """The memory of the GPU `device` ("cuda:N", a physical index) names; None where unknown."""
    try:
        return float(nvidia_smi("-i", device.split(":", 1)[1], "--query-gpu=memory.total")[0][0])
    except (OSError, ValueError, IndexError):
        return None
