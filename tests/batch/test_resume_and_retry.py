"""Nothing lost: kill -9 of the coordinator mid-batch, and runners that die (real processes, real kills)."""
import csv
import json
import shutil

import nbformat

from conftest import all_answers, kill, log_of, processes_matching, start_coordinator, wait_for, with_answers


def _write_class(folder, executed, real, broken):
    folder.mkdir(parents=True)
    for sid in real:
        nbformat.write(with_answers(executed, all_answers(sid)), str(folder / f"{sid}.ipynb"))
    for sid in broken:
        (folder / f"{sid}.ipynb").write_text("{ this is not json", encoding="utf-8")
    return folder


def _csv_ids(out):
    with (out / "grades.csv").open(newline="") as fh:
        return {r["student_id"]: r for r in csv.DictReader(fh)}


def test_kill_9_of_the_coordinator_loses_nothing_and_the_same_command_resumes(tmp_path, executed):
    folder = _write_class(tmp_path / "class", executed, real=["frank"], broken=["aaron", "abby"])
    out = tmp_path / "out"
    coordinator = start_coordinator([folder], out, "--runners", "1")
    try:
        runner = wait_for(lambda: processes_matching("autograder.runner", "frank.attempt1"), timeout=120)
        assert runner, log_of(out)
        assert (out / "aaron" / "result.json").exists() and (out / "abby" / "result.json").exists()
        kill([coordinator.pid])
        coordinator.wait(timeout=30)
    finally:
        kill([coordinator.pid])
    # The runner dies with its coordinator, and no half-written file is left behind.
    assert wait_for(lambda: not processes_matching("autograder.runner", "frank.attempt1"), timeout=10)
    assert not (out / "frank" / "result.json").exists()
    assert not [p for p in out.rglob("*.part")]
    assert set(_csv_ids(out)) == {"aaron", "abby"}
    before = (out / "aaron" / "result.json").stat().st_mtime_ns

    again = start_coordinator([folder], out, "--runners", "1")
    assert again.wait(timeout=300) == 0, log_of(out)
    text = log_of(out)
    assert "already done 2" in text
    assert (out / "aaron" / "result.json").stat().st_mtime_ns == before  # not graded twice
    rows = _csv_ids(out)
    assert set(rows) == {"aaron", "abby", "frank"} and rows["frank"]["status"] == "graded"


def test_a_dying_runner_is_retried_once_then_failed_with_the_reason(tmp_path, executed):
    folder = _write_class(tmp_path / "class", executed, real=["erin", "dan"], broken=[])
    out = tmp_path / "out"
    coordinator = start_coordinator([folder], out, "--runners", "1")
    targets = ["dan.attempt1", "dan.attempt2", "erin.attempt1"]  # dan dies twice, erin once
    try:
        for target in targets:
            pids = wait_for(lambda: processes_matching("autograder.runner", target + ".pkl"), timeout=120, interval=0.02)
            assert pids, f"no runner for {target}\n{log_of(out)}"
            kill(pids)
        assert coordinator.wait(timeout=300) == 0, log_of(out)
    finally:
        kill([coordinator.pid])
    dan = json.loads((out / "dan" / "result.json").read_text())
    erin = json.loads((out / "erin" / "result.json").read_text())
    assert dan["status"] == "failed" and dan["attempts"] == 2
    assert "runner failed 2 times" in dan["reason"] and "SIGKILL" in dan["reason"]
    assert erin["status"] == "graded" and erin["attempts"] == 2
    assert "SIGKILL" in json.loads((out / "dan" / "results.json").read_text())["output"]
