"""The reference envelope and the runner's process entry."""
import dataclasses
import json
import pickle
import subprocess
import sys

import nbformat
import pytest

from autograder.errors import LabError
from autograder.prepare import PreparedSubmission
from autograder.reference import build_reference, envelope
from autograder.runner import Job, load_reference
from grading_config import CONFIG


def test_committed_smoke_envelope_matches_the_profile(smoke):
    ref = load_reference(smoke)
    assert len(ref["lower"]) == len(ref["upper"]) == smoke.epochs + 1
    assert smoke.seed in ref["seeds"]
    assert all(lo <= hi for lo, hi in zip(ref["lower"], ref["upper"]))


def test_missing_envelope_names_the_command_that_builds_it(smoke):
    with pytest.raises(LabError, match="alexnet-lab reference --profile nosuch"):
        load_reference(dataclasses.replace(smoke, name="nosuch"))


def test_envelope_of_an_older_profile_is_refused(smoke):
    with pytest.raises(LabError, match="train_images .* rebuild it with `alexnet-lab reference --profile smoke`"):
        load_reference(dataclasses.replace(smoke, train_images=smoke.train_images + 1))


def test_envelope_is_min_max_over_seeds_widened_by_the_margin():
    env = envelope([[10.0, 50.0], [12.0, 40.0]], margin=5.0)
    assert env["lower"] == [5.0, 35.0] and env["upper"] == [17.0, 55.0]
    assert envelope([[1.0], [99.0]], margin=5.0)["lower"] == [0.0]


def test_build_reference_trains_the_seeds_and_writes_json(tmp_path, smoke):
    out = build_reference(smoke, seeds=1, out=tmp_path / "smoke.json")
    data = json.loads(out.read_text())
    assert data["seeds"] == [smoke.seed] and len(data["runs"][0]) == smoke.epochs + 1
    assert data["lower"][-1] == round(max(0.0, data["runs"][0][-1] - smoke.envelope_margin), 2)


def test_runner_process_writes_a_result_even_for_a_failing_notebook(tmp_path, smoke):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("while True:\n    pass")])
    prepared = PreparedSubmission("bob", str(tmp_path / "bob.ipynb"), nbformat.writes(nb), {}, [], [])
    limits = dataclasses.replace(CONFIG.limits, smoke_cell_timeout_s=2, smoke_notebook_timeout_s=10)
    job = tmp_path / "job.pkl"
    job.write_bytes(pickle.dumps(Job(prepared, smoke.name, "cpu", 1, {}, limits)))
    done = subprocess.run([sys.executable, "-m", "autograder.runner", str(job), str(tmp_path / "result.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "failed" and result["failed_cell"] == "cell 1"
    assert "per-cell limit of 2 s" in result["reason"]


def test_runner_builds_the_synthetic_set_before_the_read_only_sandbox(tmp_path, monkeypatch, smoke):
    from autograder.run import _assets_ready, warm_assets

    monkeypatch.setenv("ALEXNET_LAB_DATA", str(tmp_path / "fresh-cache"))
    assert not _assets_ready(smoke)
    warm_assets(smoke)
    assert _assets_ready(smoke)
