"""The GPU validation kit's CPU dry run: every step's code path, tiny sizes, nothing installed.

`bash gpu/run.sh --dry-run` checks the gathered wheel set (closed, installs offline for CPython
3.12) when .gpu-kit/ is there, prints the machine's facts, runs the CUDA-marked tests (which skip
here: "no CUDA device"), bench_training.py on the CPU and bench_grading.py's sweep with one CPU
runner and one submission. A stand-in `nvidia-smi` on PATH feeds the GPU memory sampler, so its
parsing runs too. About a minute on two cores.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FAKE_NVIDIA_SMI = """#!/bin/sh
case "$*" in
  *query-compute-apps*) echo "4242, 612" ;;
  *query-gpu=memory.used,utilization.gpu*) echo "1500, 37" ;;
  *query-gpu=memory.used*) echo "3" ;;
  *query-gpu*) echo "Stand-in GPU, 81559 MiB, 0.0" ;;
  *) echo "stand-in nvidia-smi (tests/gpu/test_kit.py)" ;;
esac
"""


def test_the_kit_dry_run_passes_and_leaves_its_figures(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (fake / "nvidia-smi").chmod(0o755)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "ALEXNET_LAB_PROFILE", "ALEXNET_LAB_DATA")}
    env.update(PATH=f"{fake}{os.pathsep}{env['PATH']}", KIT_PYTHON=sys.executable)
    done = subprocess.run(["bash", "gpu/run.sh", "--dry-run", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]

    # What comes back from the device machine: at most 8 plain files with plain names.
    files = sorted(p.name for p in out.iterdir())
    assert files == ["cuda-tests.log", "grading.log", "results.json", "setup.log", "summary.txt", "training.log"]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in files)

    results = json.loads((out / "results.json").read_text())
    steps = results["steps"]
    assert [steps[s]["status"] for s in ("install", "facts", "cuda-tests", "training", "grading")] == ["ok"] * 5
    if (REPO / ".gpu-kit" / "requirements.txt").is_file():
        assert steps["install"]["closure"].startswith("closed:")
        assert "kit bwrap" in steps["install"]["bwrap"]

    # The CUDA tests are collected and skip with a clear reason.
    cuda_log = (out / "cuda-tests.log").read_text()
    cuda_tests = len(re.findall(r"^def test_", (Path(__file__).parent / "test_cuda.py").read_text(), re.M))
    assert re.search(rf"\b{cuda_tests} skipped\b", cuda_log) and "no CUDA device" in cuda_log
    assert "passed" not in steps["cuda-tests"]["outcome"] and "failed" not in steps["cuda-tests"]["outcome"]

    training = steps["training"]
    assert training["device"] == "cpu" and training["core_images_per_s"] > 0
    assert len(training["lab_run"]["accuracy"]) == 2

    grading = steps["grading"]
    row = grading["sweep"][0]
    assert row["graded"] == 1 and row["per_hour"] > 0
    assert row["breakdown"]["train"] > 0 and row["breakdown"]["imports"] > 0
    assert row["gpu"]["per_kernel_mib_max"] == 612.0 and row["gpu"]["gpu_utilisation_mean_pct"] == 37.0

    summary = (out / "summary.txt").read_text()
    for name in ("install", "facts", "cuda-tests", "training", "grading"):
        assert re.search(rf"^{name}\s+ok\b", summary, re.M), summary
    assert "submissions/hour" in summary and "images/s" in summary
