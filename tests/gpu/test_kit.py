"""The GPU validation kit's CPU dry run: every step's code path, tiny sizes, nothing installed.

`bash gpu/run.sh --dry-run` checks the gathered wheel set (closed, installs offline for CPython
3.12) when .gpu-kit/ is there, prints the machine's facts, runs the CUDA-marked tests (which skip
here: "no CUDA device"), bench_training.py on the CPU and bench_grading.py's sweep of a class of
two submissions (two student ids) with two CPU runners. The Ray step says why it is left out (a
head takes 30-60 s to start on two cores; KIT_DRY_RAY=1 runs it, and tests/batch/test_ray_cluster.py
grades on a local cluster). A stand-in `nvidia-smi` on PATH feeds the GPU memory sampler, so its
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
    assert steps["ray"]["status"] == "skipped" and "KIT_DRY_RAY=1" in steps["ray"]["reason"]
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

    # The class-size sweep: the dry run's class graded with each slot count, every figure per run.
    [smoke] = steps["grading"]["classes"]
    assert (smoke["profile"], smoke["submissions"]) == ("smoke", 2)
    assert [row["slots_per_gpu"] for row in smoke["sweep"]] == [2]
    for row in smoke["sweep"]:
        assert row["graded"] == 2 and row["per_hour"] > 0, row
        assert row["breakdown"]["train"] > 0 and row["breakdown"]["imports"] > 0
        assert row["gpu"]["per_kernel_mib_max"] == 612.0 and row["gpu"]["gpu_utilisation_mean_pct"] == 37.0
        assert 0 < row["cpu"]["busy_pct"] <= 100 and row["cpu"]["cores"] == os.cpu_count()

    summary = (out / "summary.txt").read_text()
    for name in ("install", "facts", "cuda-tests", "training", "grading"):
        assert re.search(rf"^{name}\s+ok\b", summary, re.M), summary
    assert "submissions/hour" in summary and "images/s" in summary
    assert re.search(r"^\s+2 smoke submissions, CPU runners", summary, re.M)
    assert re.search(r"^\s+2 slot\(s\)/GPU: .*submissions/hour, 2 graded$", summary, re.M), summary
    assert "% busy" in summary
    assert re.search(r"^ray\s+skipped\s.*left out of the dry run", summary, re.M), summary
