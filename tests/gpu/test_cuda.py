"""On a CUDA device: training, determinism, the sandbox with the NVIDIA device nodes, the memory cap.

Marked `cuda`: `pytest -m cuda` selects them, and gpu/run.sh runs them on the GPU machine. Without
a CUDA device each one skips with the reason "no CUDA device". They print their figures (run with
`-s` to see them): the kit's log keeps them.
"""
from __future__ import annotations

import dataclasses
import json
import warnings

import nbformat
import pytest
import torch
from notebooks import CONFIG, code_notebook

import alexnet_core as ac
from autograder.submission import execute as run

HAS_CUDA = torch.cuda.is_available()
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")]

SMOKE = CONFIG.profiles["smoke"]
# require_sandbox: on the GPU machine a sandbox that cannot start fails these tests with its reason.
LIMITS = dataclasses.replace(CONFIG.limits, output_mb=1.0, run_extra_code=True, require_sandbox=True)


def texts(execution) -> list[str]:
    """Each cell's stdout (a library's warning on stderr must not spoil a printed figure)."""
    nb = nbformat.reads(execution.notebook, as_version=4)
    return ["".join(o.get("text", "") for o in c.outputs if o.get("name") == "stdout") for c in nb.cells]


def run_on_gpu(*sources: str, limits=LIMITS, cell_s: int = 120, device: str = "cuda:0"):
    profile = dataclasses.replace(SMOKE, cell_timeout_s=cell_s, notebook_timeout_s=4 * cell_s)
    notebook = code_notebook(*sources, grade_ids=tuple(f"cell_{i}" for i in range(len(sources))))
    return run.execute(notebook, profile=profile, limits=limits, device=device, threads=1)


def train_smoke(device: str = "cuda"):
    train_loader, test_loader = ac.get_cifar10_dataloaders(device=device, profile=SMOKE)
    model = ac.load_untrained_alexnetmini(device)
    return ac.train(model, train_loader, test_loader, device=device, profile=SMOKE)


def test_training_on_cuda():
    model, t = train_smoke()
    print(f"\nsmoke on {torch.cuda.get_device_name(0)}: {t['epochs']} epochs in {t['seconds']} s, "
          f"accuracy {t['accuracy']}")
    assert t["device"] == "cuda"
    assert next(model.parameters()).device.type == "cuda"
    assert len(t["accuracy"]) == SMOKE.epochs + 1
    low, high = SMOKE.chance_band
    assert low <= t["accuracy"][0] <= high, "before training: chance"
    assert t["accuracy"][-1] >= SMOKE.final_floor, "the smoke recipe learns on the GPU as on the CPU"


def test_training_on_cuda_is_repeatable_within_the_evidence_tolerance():
    # As the grader runs it: train() sets cuDNN's deterministic algorithms, nothing more.
    first_model, first = train_smoke()
    second_model, second = train_smoke()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    gap = max(abs(a - b) for a, b in zip(first["accuracy"], second["accuracy"]))
    same_weights = all(torch.equal(a, b) for a, b in zip(first_model.state_dict().values(),
                                                           second_model.state_dict().values()))
    # Which of the lab's operations PyTorch itself calls non-deterministic on this device (one step).
    model = ac.load_untrained_alexnetmini("cuda")
    images, labels = next(iter(ac.get_cifar10_dataloaders(device="cuda", profile=SMOKE)[0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            torch.nn.functional.cross_entropy(model(images.contiguous(memory_format=torch.channels_last)),
                                              labels).backward()
            torch.cuda.synchronize()
        finally:
            torch.use_deterministic_algorithms(False)
    flagged = sorted({str(w.message)[:120] for w in caught if "determinis" in str(w.message)})
    print(f"\ntwo seeded runs on cuda: {first['accuracy']} vs {second['accuracy']}; largest gap {gap:.2f} points; "
          f"bit-identical weights: {same_weights}; flagged by torch as non-deterministic: {flagged or 'nothing'}")
    assert gap <= SMOKE.evidence_tolerance, "a re-run must agree with the student's own run within the tolerance"


def test_the_sandbox_gives_a_gpu_runner_its_gpu_and_a_cpu_runner_none():
    probe = ("import glob, os, torch\n"
             "x = torch.arange(1_000_000, device='cuda', dtype=torch.float32)\n"
             "print(json.dumps({'available': torch.cuda.is_available(), 'count': torch.cuda.device_count(),"
             " 'name': torch.cuda.get_device_name(0), 'sum': float((x * 2).sum()),"
             " 'visible': os.environ.get('CUDA_VISIBLE_DEVICES'), 'nodes': sorted(glob.glob('/dev/nvidia*'))}))")
    gpu = run_on_gpu("import json", probe)
    assert gpu.status == run.OK and gpu.sandboxed, gpu.reason
    seen = json.loads(texts(gpu)[1].strip().splitlines()[-1])
    print(f"\ninside bubblewrap on cuda:0 ({gpu.seconds} s for the notebook): {seen}")
    assert seen["available"] and seen["count"] == 1 and seen["visible"] == "0"
    assert seen["sum"] == pytest.approx(2 * sum(range(1_000_000)), rel=1e-6)
    assert any(node.startswith("/dev/nvidia") and node[len("/dev/nvidia"):].isdigit() for node in seen["nodes"])

    cpu = run_on_gpu("import torch\nprint(torch.cuda.is_available())", device="cpu")
    assert cpu.status == run.OK and cpu.sandboxed, cpu.reason
    assert texts(cpu)[0] == "False\n", "a CPU runner on a GPU machine sees no GPU"


def test_a_gpu_runner_is_stopped_at_the_host_memory_cap():
    # After CUDA starts, the kernel holds well under 3,000 MB; the second cell then grows without bound.
    limits = dataclasses.replace(LIMITS, memory_mb=3000)
    e = run_on_gpu("import torch\nx = torch.ones(1, device='cuda')\nprint('cuda up')",
                   "blocks = []\nwhile True:\n    blocks.append(b'x' * 50_000_000)",
                   "print('never reached')", limits=limits, cell_s=60)
    print(f"\nhost memory cap on cuda:0: status {e.status}, {e.reason!r} after {e.seconds} s")
    assert texts(e)[0] == "cuda up\n"
    assert e.status == run.MEMORY and e.failed_cell == "cell_1", e.reason
    assert "more than 3000 MB" in e.reason


def test_a_kernel_that_fills_the_gpu_gets_an_out_of_memory_error_in_its_cell():
    # A runner that takes the GPU's memory fails in its own cell, with CUDA's own error, and the
    # kernel goes on (the memory is its own to give back).
    e = run_on_gpu("import torch\nblocks = []\nwhile True:\n"
                   "    blocks.append(torch.empty(2**30, dtype=torch.uint8, device='cuda'))",
                   "n = len(blocks)\ndel blocks\ntorch.cuda.empty_cache()\nprint(n, 'GiB taken, then given back')",
                   cell_s=120)
    print(f"\nfilling the GPU: status {e.status}, {e.reason!r}; then {texts(e)[1].strip()!r} ({e.seconds} s)")
    assert e.status == run.ERROR and e.failed_cell == "cell_0"
    assert e.errors[0]["ename"] in ("OutOfMemoryError", "RuntimeError")
    assert texts(e)[1].endswith("GiB taken, then given back\n")


def test_a_runner_that_takes_the_gpu_from_the_others_fails_alone():
    # Four slots share the GPU: a kernel holding more than a quarter of its memory is stopped with
    # a reason naming its share, while a neighbour on the same GPU trains to the end.
    from concurrent.futures import ThreadPoolExecutor

    hog = ("import torch, time\nblocks = []\nwhile True:\n"
           "    blocks.append(torch.empty(2**30, dtype=torch.uint8, device='cuda'))\n    time.sleep(0.05)")
    neighbour = ("import torch, time\nx = torch.ones(256, 256, device='cuda')\nfor _ in range(40):\n"
                 "    x = (x @ x).clamp(max=1.0)\n    time.sleep(0.25)\nprint('neighbour done', float(x.sum()) > 0)")
    profile = dataclasses.replace(SMOKE, cell_timeout_s=180, notebook_timeout_s=360)

    def grade(source):
        return run.execute(code_notebook(source, grade_ids=("cell_0",)), profile=profile, limits=LIMITS,
                           device="cuda:0", threads=1, gpu_share=0.25)

    with ThreadPoolExecutor(2) as pool:
        hogged, calm = pool.map(grade, [hog, neighbour])
    print(f"\nGPU share on cuda:0: hog {hogged.status}, {hogged.reason!r} after {hogged.seconds} s; "
          f"neighbour {calm.status} ({texts(calm)[0].strip()!r})")
    assert hogged.status == run.MEMORY and "share of the GPU" in hogged.reason, hogged.reason
    assert calm.status == run.OK and texts(calm)[0] == "neighbour done True\n", calm.reason
