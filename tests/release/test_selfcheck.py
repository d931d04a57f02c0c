"""`alexnet-lab check`: the right verdict, naming questions by label, in seconds, without executing."""
import json
import os
import subprocess
import sys
import time

import nbformat
import notebooks
import pytest

from alexnet_core.selfcheck import TRAJECTORY_MIME, Expectations, check_notebook, check_this_notebook
from autograder.cli import main
from autograder.demo.sample_class import type_id


def write(nb, path):
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def complete(executed_nb):
    """The executed release answered, with the student's id typed in (an empty id is not ready)."""
    return type_id(notebooks.answer_all(executed_nb), "s1234567")


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
    # Any text reaches a TA (issue 11: Q3a's answer is a number); a short one is a note, not a zero.
    short = check_notebook(write(notebooks.answer_all(executed_nb, lambda label: "yes"), tmp_path / "short.ipynb"))
    assert short.unanswered == [] and any("Short answers: Q1" in n and "Q3a" not in n for n in short.notes)


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
    # The course's settings say which assignment it grades; a notebook of another one is refused.
    report = check_notebook(write(complete, tmp_path / "other.ipynb"), Expectations(required_assignment="alexnet"))
    assert not report.ready and "'resnet'" in report.text()
    # Without a course's settings, the notebook's stamp says which assignment it is (a course may
    # rename it): a student without the course's file is not told their own release is wrong.
    assert check_notebook(tmp_path / "other.ipynb").ready
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


# Malformed notebooks: valid JSON with the wrong shapes inside. Built from the committed (unrun) release,
# so nothing is executed. Each must give one line naming the file, exit 1, and no traceback.
def _release_json():
    return json.loads(notebooks.release_path().read_text(encoding="utf-8"))


def _first(nb, cell_type):
    return next(c for c in nb["cells"] if c.get("cell_type") == cell_type)


def _break_cell(nb):
    nb["cells"][1] = "print('hello')"


def _null_metadata(nb):
    nb["metadata"] = None


def _lab_metadata_string(nb):
    nb["metadata"]["alexnet_lab"] = "alexnet"


def _cell_metadata_list(nb):
    _first(nb, "markdown")["metadata"] = ["nbgrader"]


def _nbgrader_metadata_null(nb):
    _first(nb, "code")["metadata"]["nbgrader"] = None


def _grade_id_list(nb):
    _first(nb, "code")["metadata"]["nbgrader"] = {"grade_id": ["train"]}


def _source_number(nb):
    _first(nb, "markdown")["source"] = 42


def _source_list_of_numbers(nb):
    _first(nb, "code")["source"] = [1, 2]


def _outputs_not_list(nb):
    _first(nb, "code")["outputs"] = {"output_type": "stream", "text": "hi"}


def _output_string(nb):
    _first(nb, "code")["outputs"] = ["some text"]


def _output_data_list(nb):
    _first(nb, "code")["outputs"] = [{"output_type": "display_data", "data": ["image/png"], "metadata": {}}]


# Each of these is repaired by the one structural reader the grader uses too (alexnet_core.structure):
# the check says what was repaired, as a note, and judges the rest; it never crashes or refuses.
@pytest.mark.parametrize("damage, repair", [
    (_break_cell, "cell 2 was a string, not a cell; removed"),
    (_null_metadata, "notebook metadata was null, not an object; removed"),
    (_lab_metadata_string, "notebook alexnet_lab metadata was a string"),
    (_cell_metadata_list, "had metadata that was a list, not an object; removed"),
    (_nbgrader_metadata_null, "nbgrader metadata was null"),
    (_grade_id_list, "nbgrader metadata was an object of the wrong form"),
    (_source_number, "had no text (its source was a number); read as empty"),
    (_source_list_of_numbers, "had no text (its source was a list); read as empty"),
    (_outputs_not_list, "had outputs that were an object, not a list; removed"),
    (_output_string, "had an output that no notebook holds (a string); removed"),
    (_output_data_list, "had an output that no notebook holds (display_data with data that is a list)"),
])
def test_a_malformed_notebook_is_repaired_as_the_grader_repairs_it(damage, repair, tmp_path, capsys):
    nb = _release_json()
    damage(nb)
    path = tmp_path / "malformed.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert main(["check", str(path)]) == 1  # the release is unrun and unanswered: not ready, for that
    captured = capsys.readouterr()
    assert "[note] Repaired as the grader will: " in captured.out and repair in captured.out
    assert "Traceback" not in captured.out + captured.err and captured.err == ""
    report = check_notebook(path)
    assert report.fatal is None and any(repair in note for note in report.notes)


def test_the_report_reaches_a_terminal_that_cannot_show_the_files_name(tmp_path):
    """A Latin-1 terminal (or output redirected under such a locale) and a file named in another
    script, with a key the reader names in a repair: the report is printed with those characters
    escaped; before, the check printed only the encoder's error and no report."""
    path = tmp_path / "王伟.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "cells": [], "metadata": {}, "笔记": 1}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "check", str(path)], capture_output=True,
                          env={**os.environ, "PYTHONIOENCODING": "latin-1"})
    out = done.stdout.decode("latin-1")
    assert done.returncode == 1 and b"codec can't encode" not in done.stderr, done.stderr
    assert "NOT READY" in out and "\\u738b\\u4f1f.ipynb" in out and "\\u7b14\\u8bb0" in out


def test_a_file_that_is_no_notebook_at_all_through_the_console_script(tmp_path):
    path = tmp_path / "malformed.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "cells": "print('hello')"}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "check", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stdout.strip() == f"{path}: NOT READY: {check_notebook(path).fatal}"
    assert "no list of cells" in done.stdout


def test_deeply_nested_json_gets_one_line(tmp_path, capsys):
    path = tmp_path / "deep.ipynb"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and str(path) in out and "not a notebook" in out


@pytest.mark.parametrize("record", [
    {"epochs": 2, "accuracy": 57},
    {"epochs": 2, "accuracy": {"0": 10.0}},
    {"epochs": 2, "accuracy": ["10", "20", "30"]},
    {"epochs": True, "accuracy": [10.0, 20.0]},
])
def test_a_malformed_training_record_is_a_problem_not_a_crash(record, tmp_path, capsys):
    nb = notebooks.answer_all(nbformat.read(str(notebooks.release_path()), 4))
    notebooks.cell_by_id(nb, "train").outputs = [nbformat.v4.new_output(
        "display_data", data={TRAJECTORY_MIME: record, "text/plain": "training record"})]
    path = write(nb, tmp_path / "record.ipynb")
    assert main(["check", str(path)]) == 1
    captured = capsys.readouterr()
    assert "training record is malformed" in captured.out and captured.err == ""
    assert captured.out.startswith(f"{path}: NOT READY")


def test_an_empty_training_record_is_incomplete(tmp_path):
    nb = notebooks.answer_all(nbformat.read(str(notebooks.release_path()), 4))
    notebooks.cell_by_id(nb, "train").outputs = [nbformat.v4.new_output(
        "display_data", data={TRAJECTORY_MIME: {"epochs": -1, "accuracy": []}})]
    report = check_notebook(write(nb, tmp_path / "empty.ipynb"))
    assert not report.ready and "training record is incomplete" in report.text()


def test_inside_the_notebook_the_check_judges_by_the_courses_settings_from_the_release(complete, tmp_path,
                                                                                      monkeypatch, capsys):
    # No grader is installed in a student's kernel: the release stamps what the course set, and
    # the notebook's own check reads it (here a course that accepts short answers and small files).
    complete.metadata["alexnet_lab"].update(min_answer_chars=3, submission_mb=0.01)
    notebooks.answer_cells(complete)["Q1"].source = "Data."
    path = write(complete, tmp_path / "mine.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    report = check_this_notebook()
    assert report.fatal and "more than the 0.01 MB accepted" in report.fatal
    complete.metadata["alexnet_lab"]["submission_mb"] = 50
    write(complete, path)
    report = check_this_notebook()
    assert report.ready, report.text()
    assert not any("Short answers" in n for n in report.notes), report.notes
    # `alexnet-lab check` follows the same stamp; where the stamp says nothing, the lab's defaults:
    # 20 characters, so "Data." is short (still answered: a TA reads it).
    assert check_notebook(path).ready and not any("Short answers" in n for n in check_notebook(path).notes)
    del complete.metadata["alexnet_lab"]["min_answer_chars"]
    write(complete, path)
    by_default = check_notebook(path)
    assert by_default.unanswered == [] and any("Short answers: Q1" in n for n in by_default.notes)
