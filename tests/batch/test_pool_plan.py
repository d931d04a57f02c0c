"""How many runners the local pool starts, and where each one is pinned."""
import dataclasses
import glob
import os
import subprocess
import sys

import pytest
from notebooks import CONFIG

from autograder.batch.pool import CUDA_DEVICE_FILES, plan_slots, visible_gpus
from autograder.errors import ConfigError


def _config(**runners):
    return dataclasses.replace(CONFIG, runners=dataclasses.replace(CONFIG.runners, **runners))


def test_slots_per_gpu_as_configured_and_never_more_than_the_cores(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert len(plan_slots(None, CONFIG, gpus=[0])) == CONFIG.runners.slots_per_gpu
    assert [s.device for s in plan_slots(None, _config(slots_per_gpu=1), gpus=[0, 1])] == ["cuda:0", "cuda:1"]
    four = plan_slots(None, _config(slots_per_gpu=2), gpus=[0, 1])
    assert [s.device for s in four] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert [s.device for s in plan_slots(3, CONFIG, gpus=[5])] == ["cuda:5"] * 3
    monkeypatch.setattr("os.cpu_count", lambda: 2)  # a 2-core GPU box: one slot per core
    assert len(plan_slots(None, _config(slots_per_gpu=4), gpus=[0])) == 2
    assert len(plan_slots(None, _config(slots_per_gpu=4), gpus=[0, 1])) == 2


def test_cpu_runners_follow_the_machine_or_the_config(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert len(plan_slots(None, _config(cpu_runners=0), gpus=[])) == 8
    assert len(plan_slots(None, _config(cpu_runners=3), gpus=[])) == 3
    assert len(plan_slots(2, _config(cpu_runners=3), gpus=[])) == 2
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    slots = plan_slots(None, _config(cpu_runners=0, threads_per_runner=1), gpus=[])
    assert [(s.device, s.threads) for s in slots] == [("cpu", 1)]


def test_cuda_visible_devices_names_the_physical_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpus() == [2, 3]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


@pytest.mark.skipif(any(glob.glob(p) for p in CUDA_DEVICE_FILES), reason="this machine has a GPU device")
def test_a_machine_without_gpu_devices_plans_cpu_runners_without_importing_torch():
    """Counting GPUs through torch cost each `alexnet-lab grade` about 2 s of its start."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    done = subprocess.run([sys.executable, "-c", "import sys; from autograder.batch.pool import visible_gpus; "
                           "print(visible_gpus(), 'torch' in sys.modules)"], env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["[]", "False"], done.stdout + done.stderr


def test_zero_runners_is_refused_with_a_clear_message():
    with pytest.raises(ConfigError, match="--runners 0"):
        plan_slots(0, CONFIG, gpus=[])
