"""`alexnet-lab check`: the right verdict, naming questions by label, in seconds, without executing."""
import json
import subprocess
import sys
import time

import nbformat
import pytest

import notebooks
from autograder.cli import main
from autograder.precheck import check_notebook, check_this_notebook


def write(nb, path):
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def complete(executed_nb):
    return notebooks.answer_all(executed_nb)


def test_complete_notebook_is_ready_and_exits_0(complete, tmp_path, capsys):
    path = write(complete, tmp_path / "ada.ipynb")
    start = time.perf_counter()
    assert main(["check", str(path)]) == 0
    assert time.perf_counter() - start < 5
    out = capsys.readouterr().out
    assert "READY to submit" in out and "NOT READY" not in out


def test_console_script_exit_codes(complete, executed_nb, tmp_path):
    ready = write(complete, tmp_path / "ready.ipynb")
    blank = write(executed_nb, tmp_path / "blank.ipynb")
    exe = [sys.executable, "-m", "autograder.cli", "check"]
    assert subprocess.run(exe + [str(ready)], capture_output=True).returncode == 0
    done = subprocess.run(exe + [str(blank)], capture_output=True, text=True)
    assert done.returncode == 1 and "Q1" in done.stdout


def test_unanswered_questions_are_named(executed_nb, tmp_path):
    partly = notebooks.answer_all(executed_nb, lambda label: "" if label in ("Q2", "Q4b") else
                                  f"A considered answer to {label} in a sentence.")
    report = check_notebook(write(partly, tmp_path / "partly.ipynb"))
    assert not report.ready and report.unanswered == ["Q2", "Q4b"]
    assert "Unanswered: Q2, Q4b" in report.text()
    short = notebooks.answer_all(executed_nb, lambda label: "yes")
    assert check_notebook(write(short, tmp_path / "short.ipynb")).unanswered == list(
        notebooks.answer_cells(executed_nb))


def test_unrun_notebook_is_not_ready(tmp_path):
    unrun = notebooks.answer_all(nbformat.read(str(notebooks.release_path()), 4))
    report = check_notebook(write(unrun, tmp_path / "unrun.ipynb"))
    assert not report.ready and "has not been run" in report.text()


def test_missing_trajectory_and_kernel_plot_are_named(complete, tmp_path):
    notebooks.cell_by_id(complete, "train").outputs = []
    notebooks.cell_by_id(complete, "trained_kernels").outputs = []
    text = check_notebook(write(complete, tmp_path / "half.ipynb")).text()
    assert "No training record" in text and "trained AlexNet-mini kernels" in text
    assert "untrained AlexNet-mini kernels" not in text


def test_errors_in_outputs_are_named(complete, tmp_path):
    notebooks.cell_by_id(complete, "predict").outputs.append(
        nbformat.v4.new_output("error", ename="NameError", evalue="name 'model' is not defined", traceback=[]))
    report = check_notebook(write(complete, tmp_path / "err.ipynb"))
    assert not report.ready and "predict (NameError)" in report.text()


def test_another_assignments_notebook_is_refused(complete, tmp_path):
    complete.metadata["alexnet_lab"]["assignment"] = "resnet"
    report = check_notebook(write(complete, tmp_path / "other.ipynb"))
    assert not report.ready and "'resnet'" in report.text()
    del complete.metadata["alexnet_lab"]
    assert "not the 'alexnet' lab notebook" in check_notebook(write(complete, tmp_path / "plain.ipynb")).text()


@pytest.mark.parametrize("content, reason", [
    (b"this is my essay", "not valid JSON"),
    (b'{"answers": []}', "not a Jupyter notebook"),
    (b"%PDF-1.4\n\xff\xfe\x00binary", "not text"),
    (b'{"cells": [', "not valid JSON"),
])
def test_a_file_that_is_not_a_notebook_gets_one_line(content, reason, tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out.strip()
    assert reason in out and len(out.splitlines()) == 1


def test_missing_file(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.ipynb")]) == 1
    assert capsys.readouterr().out.strip().endswith("file not found.")


def test_check_from_inside_jupyter_reads_the_saved_notebook(complete, tmp_path, monkeypatch, capsys):
    path = write(complete, tmp_path / "mine.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    report = check_this_notebook()
    captured = capsys.readouterr()
    assert report.ready and "READY to submit" in captured.out and captured.err == ""


def test_check_from_inside_a_grader_never_fails(monkeypatch, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert check_this_notebook() is None
    captured = capsys.readouterr()
    assert "alexnet-lab check" in captured.out and captured.err == ""
