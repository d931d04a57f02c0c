"""Nothing lost: runners that die, and kill -9 of the coordinator mid-batch (real processes, real kills).

One story: a first `grade` sees dan's runner killed twice and is itself killed while erin's
runner works; the same command again picks up what is not graded (failures included: the TA may
have fixed their cause), and erin's runner, killed once more, is retried and grades her.
Skipping what is already graded is shown in test_rerun.py.
"""
import csv
import json

import nbformat
from classes import all_answers, kill, log_of, processes_matching, start_coordinator, wait_for

from autograder.demo.sample_class import answer


def _csv_ids(out):
    with (out / "grades.csv").open(newline="") as fh:
        return {r["student_id"]: r for r in csv.DictReader(fh)}


def _kill_runner(out, target):
    pids = wait_for(lambda: processes_matching("autograder.submission.job", f"{target}.pkl"), timeout=120, interval=0.02)
    assert pids, f"no runner for {target}\n{log_of(out)}"
    kill(pids)


def test_dying_runners_and_a_killed_coordinator_lose_nothing(tmp_path, executed):
    folder = tmp_path / "class"
    folder.mkdir()
    for sid in ("dan", "erin"):
        nbformat.write(answer(executed, all_answers(sid)), str(folder / f"{sid}.ipynb"))
    (folder / "aaron.ipynb").write_text("{ this is not json", encoding="utf-8")
    out = tmp_path / "out"

    first = start_coordinator([folder], out, "--runners", "1")
    try:
        _kill_runner(out, "dan.attempt1")
        _kill_runner(out, "dan.attempt2")
        assert wait_for(lambda: processes_matching("autograder.submission.job", "erin.attempt1.pkl"), timeout=120)
        assert wait_for(lambda: "dan" in _csv_ids(out), timeout=60)  # dan's failure is recorded
        kill([first.pid])  # kill -9 of the coordinator while erin's runner works
        first.wait(timeout=30)
    finally:
        kill([first.pid])

    # The runner goes with its coordinator; nothing is half-written; what was done is on disk.
    assert wait_for(lambda: not processes_matching("autograder.submission.job", "erin.attempt1.pkl"), timeout=10)
    assert set(_csv_ids(out)) == {"aaron", "dan"} and not (out / "erin" / "graded.json").exists()
    dan = json.loads((out / "dan" / "graded.json").read_text())
    assert dan["status"] == "failed" and dan["attempts"] == 2
    assert "runner failed 2 times" in dan["reason"] and "SIGKILL" in dan["reason"]
    assert "SIGKILL" in json.loads((out / "dan" / "gradescope.json").read_text())["output"]

    second = start_coordinator([folder], out, "--runners", "1")  # the same command resumes
    try:
        _kill_runner(out, "erin.attempt1")
        assert second.wait(timeout=300) == 0, log_of(out)
    finally:
        kill([second.pid])
    assert "already done 0" in log_of(out)  # nothing was graded yet: failures are tried again
    assert not list(out.rglob("*.part"))  # temp files of the killed coordinator are cleaned up
    erin = json.loads((out / "erin" / "graded.json").read_text())
    assert erin["status"] == "graded" and erin["attempts"] == 2
    dan = json.loads((out / "dan" / "graded.json").read_text())
    assert dan["status"] == "graded" and dan["attempts"] == 1  # his runner lives this time
    rows = _csv_ids(out)
    assert set(rows) == {"aaron", "dan", "erin"}
    assert [rows[s]["status"] for s in ("aaron", "dan", "erin")] == ["failed", "graded", "graded"]
