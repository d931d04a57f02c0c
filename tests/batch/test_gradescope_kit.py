"""The Gradescope autograder as Gradescope runs it: `alexnet-lab gradescope` builds the zip, its
real run_autograder runs in a folder laid out like Gradescope's /autograder (the zip unpacked into
source/, run_autograder copied beside it, submission/, submission_metadata.json, results/), and
results.json is read back against Gradescope's "Autograder Specifications"."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from classes import REPO, all_answers, cli_command

from autograder.demo.sample_class import answer
from autograder.export.gradescope import ROOT_ENV

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# The submissions here are copies of one shared run, made with the course's fixed seed.
KIT_TOML = "[identity]\nper_student_seeds = false\n"
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kit")
    (folder / "course.toml").write_text(KIT_TOML)
    done = subprocess.run(cli_command("--config", folder / "course.toml", "gradescope", "--profile", "smoke",
                                      "--out", folder / "autograder.zip"),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return folder / "autograder.zip"


def gradescope_folder(tmp_path: Path, kit: Path, files: dict[str, str], metadata: dict) -> Path:
    """/autograder as Gradescope lays it out, with the zip unpacked as `unzip` would (modes kept)."""
    root = tmp_path / "autograder"
    source = root / "source"
    with zipfile.ZipFile(kit) as zf:
        for info in zf.infolist():
            target = source / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            if info.external_attr >> 16:
                os.chmod(target, (info.external_attr >> 16) & 0o777)
    (root / "run_autograder").write_bytes((source / "run_autograder").read_bytes())
    os.chmod(root / "run_autograder", os.stat(source / "run_autograder").st_mode)
    (root / "submission").mkdir()
    for name, text in files.items():
        (root / "submission" / name).write_text(text)
    (root / "results").mkdir()
    (root / "submission_metadata.json").write_text(json.dumps(metadata))
    return root


def run_autograder(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, **{ROOT_ENV: str(root), "ALEXNET_LAB_PYTHON": sys.executable})
    return subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=900)


def valid_results(path: Path) -> dict:
    """results.json as Gradescope's spec has it: a top-level score (the tests may have none), each
    test with a name and max_score, a score and a status only together."""
    data = json.loads(path.read_text())
    assert set(data) <= TOP_KEYS and isinstance(data["score"], float) and isinstance(data["output"], str)
    assert data["visibility"] in VISIBILITY and data["stdout_visibility"] in VISIBILITY
    assert data["output_format"] == data["test_output_format"] == data["test_name_format"] == "text"
    for test in data["tests"]:
        assert set(test) <= TEST_KEYS and test["name"] and isinstance(test["max_score"], float)
        assert test["visibility"] in VISIBILITY and isinstance(test["output"], str)
        assert test["output_format"] == test["name_format"] == "text"
        assert ("score" in test) == ("status" in test)
        if "score" in test:
            assert test["status"] == ("passed" if test["score"] >= test["max_score"] else "failed")
    return data


def metadata(sid: str) -> dict:
    return {"id": 123456, "created_at": "2026-03-01T10:00:00.000000+00:00",
            "assignment": {"title": "AlexNet lab", "total_points": "16.0"},
            "users": [{"email": f"{sid}@example.edu", "id": 1234, "name": "Alice Smith", "sid": sid}]}


def test_the_zip_has_gradescopes_two_scripts_at_its_root_and_setup_is_valid_bash(kit):
    with zipfile.ZipFile(kit) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "requirements.txt", "kit.json"} <= names
        assert "course/source/alexnet/alexnet.ipynb" in names and "course/source/alexnet/reference/smoke.json" in names
        assert "course/alexnet-lab.toml" in names and "package/autograder/export/gradescope.py" in names
        assert (zf.getinfo("run_autograder").external_attr >> 16) & 0o111
        assert "nbgrader" in zf.read("requirements.txt").decode()
        setup = zf.read("setup.sh")
    checked = subprocess.run(["bash", "-n"], input=setup, capture_output=True)
    assert checked.returncode == 0, checked.stderr


def test_run_autograder_grades_a_submission_into_results_json_with_answers_pending(kit, executed, tmp_path):
    nb = answer(executed, all_answers("alice"))
    root = gradescope_folder(tmp_path, kit, {"alexnet.ipynb": nbformat.writes(nb)}, metadata("s-alice"))
    done = run_autograder(root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = valid_results(root / "results" / "results.json")
    tests = {t["name"]: t for t in data["tests"]}
    checks = [tests[n] for n in ("trajectory", "evidence", "kernel plots")]
    assert [t["status"] for t in checks] == ["passed"] * 3
    assert data["score"] == sum(t["score"] for t in checks) == 6.0
    questions = [t for name, t in tests.items() if name.startswith("Question ")]
    assert len(questions) == 7
    for q in questions:  # waiting for a TA: no score, never 0 or "failed"
        assert "score" not in q and "status" not in q and "a TA grades this by hand" in q["output"]
    assert "wait for a TA" in data["output"] and "not the final grade" in data["output"]


def test_a_submission_without_a_notebook_gets_zero_and_the_reason(kit, tmp_path):
    root = gradescope_folder(tmp_path, kit, {"answers.txt": "my answers"}, metadata("s-bob"))
    done = run_autograder(root)
    assert done.returncode == 0, done.stderr
    data = valid_results(root / "results" / "results.json")
    assert data["score"] == 0.0 and "No notebook (.ipynb) in your submission" in data["output"]


def test_the_student_is_gradescopes_sid_else_email_and_the_notebook_is_the_assignments_own(tmp_path):
    from autograder.export.gradescope import pick_notebook, student_id

    user = {"email": "ann@example.edu", "id": 77, "name": "Ann Lee"}
    assert student_id({"users": [dict(user, sid="s-ann")]}) == "s-ann"
    assert student_id({"users": [dict(user, sid="")]}) == "ann@example.edu"
    assert student_id({"users": [{"id": 77}]}) == "77"
    (tmp_path / "draft.ipynb").write_text("{}")
    (tmp_path / "alexnet.ipynb").write_text("{}")
    assert pick_notebook(tmp_path, "alexnet") == (tmp_path / "alexnet.ipynb", "")
    (tmp_path / "alexnet.ipynb").unlink()
    (tmp_path / "copy.ipynb").write_text("{}")
    found, why = pick_notebook(tmp_path, "alexnet")
    assert found is None and "copy.ipynb, draft.ipynb" in why and "upload only yours" in why
