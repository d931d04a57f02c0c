"""The Ray backend on a real local cluster (a head and a worker node on loopback): same grades."""
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from classes import fixed_seed, free_port, kill, processes_matching

from autograder.config import select_profile

RAY = str(Path(sys.executable).parent / "ray")
COMPARED = ["status", "total", "max_total", "trajectory", "evidence", "kernel_plots",
            "Q1", "Q2", "Q3a", "Q3b", "Q3c", "Q4a", "Q4b"]


@pytest.fixture
def ray_cluster():
    """`ray start --head` and one worker node with one CPU each, in a private temp dir; stopped by PID."""
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths have a length limit
    port = free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    common = ["--num-cpus=1", "--num-gpus=0", f"--temp-dir={temp}", "--disable-usage-stats"]

    def own_ports():
        # Ray's agents listen on fixed default ports: a second cluster on the machine (another test
        # worker, a developer's own) would make this one fail to start.
        return [f"--{name}={free_port()}" for name in (
            "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port")]

    try:
        subprocess.run([RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                        f"--ray-client-server-port={free_port()}", "--include-dashboard=false",
                        # the dashboard's process starts on 8265 even with the dashboard off (a second
                        # head on the machine, the GPU kit's dry run for one, holds it)
                        f"--dashboard-port={free_port()}", *own_ports(), *common],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([RAY, "start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", *own_ports(),
                        *common], env=env, check=True, capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        # Every process of this cluster carries our temp dir or port on its command line.
        kill(set(processes_matching(str(temp))) | set(processes_matching(f"127.0.0.1:{port}")))
        shutil.rmtree(temp, ignore_errors=True)


def _rows(path):
    with path.open(newline="") as fh:
        return {r["student_id"]: r for r in csv.DictReader(fh)}


def test_ray_cluster_grades_like_the_local_pool(tmp_path, ray_cluster, class_folder, graded_class, course, config):
    import ray

    from autograder.batch.coordinator import grade

    local_out, _ = graded_class
    inputs = [class_folder / "alice.ipynb", class_folder / "carol.ipynb"]
    summary = grade(inputs, tmp_path / "out", course, fixed_seed(config), profile=select_profile(config, "smoke"), backend="ray",
                    address=ray_cluster)
    assert not ray.is_initialized()  # the coordinator disconnects when done
    assert summary.graded == 2 and summary.failed == 0
    on_ray, local = _rows(tmp_path / "out" / "grades.csv"), _rows(local_out / "grades.csv")
    for sid in ("alice", "carol"):
        assert {k: on_ray[sid][k] for k in COMPARED} == {k: local[sid][k] for k in COMPARED}
    assert (tmp_path / "out" / "alice" / "feedback.html").exists()
