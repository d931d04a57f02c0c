"""The reference envelope and the runner's process entry."""
import dataclasses
import json
import pickle
import subprocess
import sys

import nbformat
import pytest
from notebooks import CONFIG

from alexnet_core import assets, synthetic
from autograder.authoring.reference import (
    HONEST_ALARM_TARGET,
    build_reference,
    envelope,
    honest_alarm_rate,
    load_reference,
)
from autograder.errors import LabError
from autograder.submission.execute import warm_assets
from autograder.submission.job import Job
from autograder.submission.results import PreparedSubmission


def test_committed_smoke_envelope_matches_the_profile(course, smoke):
    ref = load_reference(course, smoke)
    assert len(ref["lower"]) == len(ref["upper"]) == smoke.epochs + 1
    assert smoke.seed in ref["seeds"]
    assert all(lo <= hi for lo, hi in zip(ref["lower"], ref["upper"]))


def test_missing_envelope_names_the_command_that_builds_it(course, smoke):
    with pytest.raises(LabError, match="alexnet-lab reference --profile nosuch"):
        load_reference(course, dataclasses.replace(smoke, name="nosuch"))


def test_envelope_of_an_older_profile_is_refused(course, smoke):
    with pytest.raises(LabError, match="train_images .* rebuild it with `alexnet-lab reference --profile smoke`"):
        load_reference(course, dataclasses.replace(smoke, train_images=smoke.train_images + 1))


def test_envelope_is_min_max_over_seeds_widened_by_the_margin():
    env = envelope([[10.0, 50.0], [12.0, 40.0]], margin=5.0)
    assert env["lower"] == [5.0, 35.0] and env["upper"] == [17.0, 55.0]
    assert envelope([[1.0], [99.0]], margin=5.0)["lower"] == [0.0]


def test_build_reference_trains_the_seeds_and_writes_json(tmp_path, course, smoke):
    said = []
    out = build_reference(course, smoke, seeds=1, out=tmp_path / "smoke.json", progress=said.append)
    data = json.loads(out.read_text())
    assert len(said) == 1 and said[0].startswith(f"seed 1/1 ({smoke.seed}): ")  # a TA sees each seed end
    assert data["seeds"] == [smoke.seed] and len(data["runs"][0]) == smoke.epochs + 1 and data["seed_count"] == 1
    assert data["lower"][-1] == round(max(0.0, data["runs"][0][-1] - smoke.envelope_margin), 2)


def test_seeds_train_in_worker_processes_and_a_log_resumes_the_build(tmp_path, course, smoke):
    log, said = tmp_path / "runs.jsonl", []
    first = json.loads(build_reference(course, smoke, seeds=2, out=tmp_path / "a.json", jobs=2, log=log).read_text())
    assert first["threads"] == 1 and [json.loads(line)["seed"] for line in log.read_text().splitlines()] == first["seeds"]
    # A build killed mid-write leaves half a line: that seed is trained again, the other is read.
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n" + lines[1][:20])
    again = json.loads(build_reference(course, smoke, seeds=2, out=tmp_path / "b.json", log=log,
                                       progress=said.append).read_text())
    assert said[0] == f"1 of 2 seeds read from {log}; training 1"
    assert again["runs"][0] == first["runs"][0] and len(again["runs"]) == 2


def test_a_log_of_another_recipe_is_refused(tmp_path, course, smoke):
    log = tmp_path / "runs.jsonl"
    log.write_text(json.dumps({"seed": smoke.seed, "accuracy": [10.0] * 6, "epochs": 5, "lr": 0.1, "batch_size": 128,
                               "train_images": 1024, "test_images": 1000, "synthetic": True}) + "\n")
    with pytest.raises(LabError, match=r"runs.jsonl: line 1 was trained with lr 0.1, but the smoke profile has "
                                       r"lr 0.015; give another --log file"):
        build_reference(course, smoke, seeds=1, out=tmp_path / "smoke.json", log=log)


def test_many_seeds_set_the_bounds_by_the_tail_model(smoke):
    """Past a handful of seeds the bounds lie where the tail model puts a rate of side_target, never
    inside the extremes widened by the margin; the stated rate then meets the target."""
    import random

    rng = random.Random(1)
    runs = [[rng.gauss(10, 1.5), rng.gauss(25, 5), rng.gauss(40, 5)] for _ in range(400)]
    env = envelope(runs, margin=1.0)
    assert all(lo < mn - 1.0 for lo, mn in zip(env["lower"], env["min"]))
    assert all(hi > mx + 1.0 for hi, mx in zip(env["upper"], env["max"]))
    rate = honest_alarm_rate(runs, env, floor=0.0)
    assert rate["modelled"] <= HONEST_ALARM_TARGET and len(rate["per_epoch"]) == 3
    assert env["chance_band"] == [env["lower"][0], env["upper"][0]]


def test_runner_process_writes_a_result_even_for_a_failing_notebook(tmp_path, smoke):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("while True:\n    pass")])
    prepared = PreparedSubmission("bob", str(tmp_path / "bob.ipynb"), nbformat.writes(nb), {}, [], [])
    # The whole-notebook limit counts the kernel's start too, which a loaded machine can stretch past 10 s.
    quick = dataclasses.replace(smoke, cell_timeout_s=2, notebook_timeout_s=60)
    job = tmp_path / "job.pkl"
    job.write_bytes(pickle.dumps(Job(prepared, quick, "cpu", 1, {}, CONFIG.limits, CONFIG.points)))
    done = subprocess.run([sys.executable, "-m", "autograder.submission.job", str(job), str(tmp_path / "graded.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "graded.json").read_text())
    assert result["status"] == "failed" and result["failed_cell"] == "cell 1"
    assert "per-cell limit of 2 s" in result["reason"]


def test_runner_builds_the_synthetic_set_before_the_read_only_sandbox(tmp_path, monkeypatch, smoke):
    monkeypatch.setenv("ALEXNET_LAB_DATA", str(tmp_path / "fresh-cache"))
    assert not synthetic.dataset_ready(smoke)
    warm_assets(smoke)
    assert synthetic.dataset_ready(smoke)


def test_runner_rebuilds_a_synthetic_set_from_an_older_generator(tmp_path, monkeypatch, smoke):
    # Drift bug: the runner's own readiness look read 4 of the marker's 6 keys, so after a bump of
    # the generator version it called the old set ready, and the kernel (read-only cache) failed.
    monkeypatch.setenv("ALEXNET_LAB_DATA", str(tmp_path / "cache"))
    warm_assets(smoke)
    marker = assets.synthetic_root(smoke.name) / assets.CIFAR_FOLDER / synthetic.MARKER
    spec = json.loads(marker.read_text())
    marker.write_text(json.dumps({**spec, "generator_version": spec["generator_version"] - 1}))
    assert not synthetic.dataset_ready(smoke)
    warm_assets(smoke)
    assert json.loads(marker.read_text()) == synthetic.spec(smoke)
