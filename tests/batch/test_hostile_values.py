"""Hostile values, names and text (issue 19): no value in a file stops the batch or loses a grade,
no name a student chose becomes an LMS id, nothing a student wrote reaches formgrader as anything but
text, sanitising a huge answer is bounded, and a command on an OUT another command holds waits or
says which command holds it.

One real `alexnet-lab grade` (a process of its own, two kernel runs) serves the class tests: while it
grades, a second grade, an export and a formgrader are started on its OUT.
"""
from __future__ import annotations

import csv
import html
import io
import json
import os
import random
import signal
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from classes import REPO, all_answers, cli_command, free_port, log_of, start_coordinator, wait_for
from nbconvert import HTMLExporter
from nbgrader.server_extensions.formgrader import handlers as formgrader_handlers

from alexnet_core.contract import PLOT_MIME, TRAJECTORY_MIME
from autograder.batch.collect import collect, load_roster
from autograder.batch.coordinator import grade
from autograder.config import select_profile
from autograder.demo.export import enter_manual_grade
from autograder.demo.sample_class import answer, answer_cells, cell
from autograder.export.final import export
from autograder.reports import inert
from autograder.sources import canvas_match, lateness_of, lms_id_from_source, parse_time

ASSIGNMENT = "alexnet"
HUGE = "1" + "0" * 400  # float() of it is inf; round() of inf raises
FAR_FUTURE = "9999-12-31 23:59:59.999999-23:59"  # a moment after year 9999 in UTC
FAR_PAST = "0001-01-01T00:00:00+23:59"  # a moment before year 1 in UTC
ON_TIME = "2026-03-01 12:00:00.000000 UTC"
MARKER = "<img src=x onerror=alert('big')>"


def _big_answer(mb: float = 5.0) -> str:
    """About `mb` MB of prose with some markdown and one tag: what the TA must still read, as text."""
    rng = random.Random(19)
    words = ["kernel", "edge", "*colour*", "blob", "**data**", "epoch", "accuracy", "[link](http://x.org)", "-"]
    body = " ".join(rng.choice(words) for _ in range(int(mb * 1024 * 1024 / 7)))
    return f"Start of a long answer. {MARKER} {body} End of a long answer."


BIG = _big_answer()


def _odd_numbers(nb):
    """Numbers too large to convert where the grader reads them: the release's stamp and a points value."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    nb.metadata.setdefault("alexnet_lab", {})["submission_mb"] = int(HUGE)
    cell(nb, "check_trajectory").metadata["nbgrader"]["points"] = int(HUGE)
    return nb


def _hostile_picture(nb):
    """A refused notebook (another assignment's stamp) whose picture outputs carry metadata that
    nbconvert writes into the <img> tag unquoted, and a file name it would make the src."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    nb.metadata.setdefault("alexnet_lab", {})["assignment"] = "another_lab"
    pictures = 0
    for c in nb.cells:
        for out in c.get("outputs", []):
            if "image/png" in out.get("data", {}):
                out["metadata"] = {"image/png": {"width": "1 onerror=alert('width')", "height": int(HUGE)},
                                   "height": "2 onload=alert('height')",
                                   "filenames": {"image/png": "x\" onerror=\"alert('file')"}}
                pictures += 1
    assert pictures, "the executed release has no pictures to carry the metadata"
    return nb


def _write(folder: Path, sid: str, nb, timestamp: str) -> None:
    target = folder / "submitted" / sid / ASSIGNMENT
    target.mkdir(parents=True)
    nbformat.write(nb, str(target / f"{ASSIGNMENT}.ipynb"))
    (target / "timestamp.txt").write_text(timestamp, encoding="utf-8")


def _run(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _formgrader_while_busy(out: Path) -> str:
    """`alexnet-lab formgrader OUT` started while grade holds OUT: its output until it served, then stopped."""
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(out.parent / "runtime"))
    log = out.parent / "formgrader.log"
    with log.open("w") as fh:
        server = subprocess.Popen(cli_command("formgrader", out, "--port", str(free_port()), "--no-browser"),
                                  cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
    try:
        wait_for(lambda: "formgrader: http" in log.read_text() or server.poll() is not None, 90, 0.2)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
    return log.read_text()


@pytest.fixture(scope="module")
def batch(tmp_path_factory, executed):
    """ann: a 5 MB answer, Q3a '1' and 400 zeros '%', 400-digit numbers in the metadata, timestamp.txt
    after year 9999 in UTC. ben: an honest notebook on time, queued behind her. cal: a refused
    notebook whose pictures carry hostile metadata, timestamp.txt before year 1. Graded by a real
    `alexnet-lab grade`; a second grade, an export and a formgrader are tried on OUT while it runs."""
    base = tmp_path_factory.mktemp("hostile_values")
    folder, out = base / "class", base / "out"
    _write(folder, "ann", _odd_numbers(answer(executed, {**all_answers("ann"), "Q1": BIG, "Q3a": f"{HUGE}%"})),
           FAR_FUTURE)
    _write(folder, "ben", answer(executed, all_answers("ben")), ON_TIME)
    _write(folder, "cal", _hostile_picture(answer(executed, all_answers("cal"))), FAR_PAST)
    coordinator = start_coordinator([folder], out, "--runners", "2")
    try:
        lock = out / ".work" / "grade.lock"
        held = wait_for(lambda: lock.is_file() and "alexnet-lab grade" in lock.read_text()
                        and (out / "nbgrader" / "gradebook.db").is_file(), 120, 0.1)
        assert held, f"grade never took OUT's lock:\n{log_of(out)}"
        busy = {"grade": _run("grade", folder, "--out", out, "--profile", "smoke"),
                "export": _run("export", out),
                "formgrader": _formgrader_while_busy(out)}
        busy["still grading"] = coordinator.poll() is None
        coordinator.wait(600)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
            coordinator.wait()
    assert coordinator.returncode == 0, log_of(out)
    return out, busy


def _graded(out: Path, sid: str) -> dict:
    return json.loads((out / sid / "graded.json").read_text())


def _grades(out: Path) -> dict[str, dict]:
    return {row["student_id"]: row for row in csv.DictReader(io.StringIO((out / "grades.csv").read_text()))}


def test_odd_values_stop_nobody_and_the_cross_check_runs(batch):
    out, _ = batch
    rows = _grades(out)
    assert rows["ann"]["status"] == "graded" and rows["ben"]["status"] == "graded", rows
    assert rows["cal"]["status"] == "failed" and "another_lab" in rows["cal"]["reason"], rows["cal"]
    for sid, when in (("ann", FAR_FUTURE), ("cal", FAR_PAST)):
        flags = _graded(out, sid)["flags"]
        stamp = out.parent / "class" / "submitted" / sid / ASSIGNMENT / "timestamp.txt"
        assert any(f.startswith(f"{stamp}: {when[:40]!r} is not a time") and "by hand" in f for f in flags), flags
        assert rows[sid]["late"] == "no"
    assert "timestamp.txt" not in " ".join(_graded(out, "ben")["flags"])
    # The cross-check ran after the batch: both re-ran with their own seeds, and both notebooks carry
    # the default seed's run (copies of one executed release), which only the cross-check names.
    for sid in ("ann", "ben"):
        assert any("ran with the default seed" in f for f in _graded(out, sid)["flags"]), _graded(out, sid)["flags"]
    assert "cross-check after the batch stopped" not in log_of(out)
    assert "could not be recorded" not in log_of(out)
    ann = _graded(out, "ann")
    assert ann["identity"]["q3a"]["wrote"] == float("inf") and not ann["identity"].get("q3a_matches")


def test_a_5_mb_answer_is_graded_and_reaches_formgrader_whole_as_text(batch):
    out, _ = batch
    q1 = next(a for a in _graded(out, "ann")["answers"] if a["label"] == "Q1")
    assert q1["text"] == BIG and q1["answered"]
    autograded = nbformat.read(str(out / "nbgrader" / "autograded" / "ann" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)
    shown = answer_cells(autograded)["Q1"]
    assert BIG in html.unescape(shown.source) and shown.metadata["alexnet_lab"][inert.SANITISED_KEY]
    page = _render(out, "ann")  # formgrader's own rendering takes no longer than a second or two either
    soup = BeautifulSoup(page, "html.parser")
    assert not soup.select("[onerror]"), "the answer's tag became markup"
    assert BIG in soup.get_text()  # shown whole, as the student typed it


def test_picture_metadata_of_a_refused_notebook_reaches_formgrader_as_numbers_or_not_at_all(batch):
    out, _ = batch
    autograded = nbformat.read(str(out / "nbgrader" / "autograded" / "cal" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)
    metadata = [o.get("metadata", {}) for c in autograded.cells for o in c.get("outputs", [])
                if "image/png" in o.get("data", {})]
    assert metadata and all(set(m) <= {"image/png"} and not m.get("image/png") for m in metadata), metadata
    soup = BeautifulSoup(_render(out, "cal"), "html.parser")
    pictures = soup.select(".output_png img")
    assert pictures, "the refused notebook's pictures are not on formgrader's page"
    for img in pictures:
        assert set(img.attrs) <= {"src", "alt", "width", "height", "class"}, img.attrs
        assert img["src"].startswith("data:image/png;base64,")
    assert any("output metadata" in f for f in _graded(out, "cal")["flags"])


def test_a_command_on_an_out_being_graded_waits_or_says_which_command_holds_it(batch):
    _, busy = batch
    assert busy["still grading"], "grade ended before the other commands were tried: nothing was tested"
    for name in ("grade", "export"):
        done = busy[name]
        lines = done.stderr.strip().splitlines()
        assert done.returncode != 0 and len(lines) == 1, (name, done.returncode, done.stdout, done.stderr)
        assert "is in use by another command (`alexnet-lab grade` grading it: pid" in lines[0], lines
    assert "export when it has finished" in busy["export"].stderr
    log = busy["formgrader"]
    assert "formgrader: http" in log, log
    note = next(line for line in log.splitlines() if line.startswith("note: "))
    assert "`alexnet-lab grade` grading it" in note and "formgrader serves it meanwhile" in note


def _render(out: Path, sid: str) -> str:
    """formgrader's submission page for `sid`, made as its extension makes it."""
    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[formgrader_handlers.template_path])
    resources = {"assignment_id": ASSIGNMENT, "notebook_id": ASSIGNMENT, "submission_id": "x", "index": 0, "total": 1,
                 "base_url": "", "student": sid, "last_name": "", "first_name": "", "notebook_path": "x"}
    page, _ = exporter.from_filename(str(out / "nbgrader" / "autograded" / sid / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
                                     resources=resources)
    return page


# -- values read without a kernel ------------------------------------------------------------
@pytest.mark.parametrize("text", [FAR_FUTURE, FAR_PAST, "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00",
                                  "2026-02-30T10:00:00", "+002026-01-01", "2026-01-01T00:00:00+99:00", "1e400",
                                  "\x00\ufffd", "2026-13-01 00:00:00 UTC"])
def test_a_time_beyond_what_the_grader_counts_is_no_time(text):
    assert parse_time(text) is None


def test_a_time_with_an_offset_is_read_in_utc():
    assert parse_time("2026-03-01T23:30:00-23:59") == datetime(2026, 3, 2, 23, 29, tzinfo=UTC)
    assert parse_time(ON_TIME) == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_timestamp_that_is_no_time_is_flagged_naming_the_file(tmp_path):
    notebook = tmp_path / "submitted" / "ann" / ASSIGNMENT / "alexnet.ipynb"
    notebook.parent.mkdir(parents=True)
    (notebook.parent / "timestamp.txt").write_bytes(b"\xff\xfe 9999-99-99")
    late = lateness_of(str(notebook), "2026-03-01T23:59:00+00:00")
    assert not late.late and late.problem.startswith(str(notebook.parent / "timestamp.txt"))


# -- LMS ids come from what the LMS controls --------------------------------------------------
def test_canvas_ids_come_from_canvas_names_never_from_the_students_own_file_name():
    assert lms_id_from_source("class.zip!alicea_1001_5001_bobb_1002_5002_alexnet.ipynb") == "1001"
    assert lms_id_from_source("class.zip!alicea_LATE_1001_5001_bobb_1002_5002.ipynb") == "1001"
    for source in ("d2l.zip!11-22 - Cyd Brown - Mar 1, 2026 1:00 PM/bobb_1002_5002_alexnet.ipynb",
                   "/dl/11-22 - Cyd Brown - Mar 1, 2026 1:00 PM/bobb_LATE_1002_5002_alexnet.ipynb",
                   "/course/submitted/cyd/alexnet/bobb_LATE_1002_5002_alexnet.ipynb",
                   "class.zip!folder/bobb_1002_5002_alexnet.ipynb"):
        assert canvas_match(source) is None and lms_id_from_source(source) == "", source
        assert not lateness_of(source).late


def test_the_lms_files_list_each_id_once_with_its_own_students_grade(tmp_path, course, config):
    """A Canvas zip where Alice's own file name carries Bob's Canvas ids, and a Brightspace download
    where Cyd's does: each LMS id is listed once, with its own student's grade (no kernel runs:
    the notebooks are refused, the grades are a TA's)."""
    refused = nbformat.writes(nbformat.v4.new_notebook())
    canvas = tmp_path / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as zf:
        zf.writestr("alicea_1001_5001_bobb_1002_5002_alexnet.ipynb", refused)
        zf.writestr("bobb_1002_5002_alexnet.ipynb", refused)
    brightspace = tmp_path / "brightspace.zip"
    with zipfile.ZipFile(brightspace, "w") as zf:
        zf.writestr("11-22 - Cyd Brown - Mar 99, 20266 25:61 PM/bobb_LATE_1002_5002_alexnet.ipynb", refused)
        zf.writestr("index.html", "<html></html>")
    out = tmp_path / "out"
    summary = grade([canvas, brightspace], out, course, config, profile=select_profile(config, "smoke"), runners=1)
    assert summary.failed == 3, summary
    for sid, points in (("1001", 1.0), ("1002", 2.0), ("cyd_brown", 0.5)):
        enter_manual_grade(out, config, sid, "Q1", points)
    done = export(out, config, allow_pending=True)
    rows = list(csv.DictReader(io.StringIO(done.files["canvas.csv"].read_text())))[1:]  # after Points Possible
    grade_column = [c for c in rows[0] if c not in ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")][0]
    assert sorted((r["ID"], r[grade_column]) for r in rows) == [("1001", "1"), ("1002", "2")], rows
    brightspace_rows = list(csv.reader(io.StringIO(done.files["brightspace.csv"].read_text())))[1:]
    assert sorted(r[0] for r in brightspace_rows) == ["#1001", "#1002"]
    assert any("cyd_brown" in w for w in done.warnings), done.warnings
    assert _grades(out)["cyd_brown"]["late"] == "no"  # nor is her own '_LATE_' Canvas's word


# -- roster names are text in formgrader ------------------------------------------------------
def test_markup_in_a_roster_name_is_stored_as_text_and_flagged_naming_the_row(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nann,Ann O'Neil\neve,<img src=x onerror=alert(1)> Smith\n"
                      "zed,\"Zed, <b>Bold</b>\"\n", encoding="utf-8")
    loaded = load_roster(roster)
    assert loaded.names["ann"] == ("Ann", "O'Neil")
    assert loaded.names["eve"] == ("\u2039img src=x onerror=alert(1)\u203a", "Smith")
    assert loaded.names["zed"] == ("\u2039b\u203aBold\u2039/b\u203a", "Zed")
    problems = {p.origin: p.message for p in loaded.problems}
    assert set(problems) == {f"{roster} line 3", f"{roster} line 4"}, problems
    assert "formgrader prints as markup" in problems[f"{roster} line 3"]
    found = collect([], tmp_path / "scratch", loaded, limits=_limits())
    assert len(found.problems) == 2  # reported with the inputs' problems (report.html)


def _limits():
    from autograder.config import load_config

    return load_config().config.limits


def test_sanitising_a_huge_answer_is_bounded_and_keeps_it_whole():
    """The render budget: a text past it is shown literally (not rendered to be checked), in full."""
    text, changed = inert.inert_markdown(BIG)
    assert changed and BIG in html.unescape(text) and inert.LONG_NOTE in text
    budget = inert.RenderBudget()
    small = "An answer with *markdown* in it. " * 100
    assert inert.inert_markdown(small, None, budget) == (small, False)
    assert budget.left == inert.NOTEBOOK_RENDER_CHARS - len(small) - inert.RENDER_CHARGE
    budget.left = 10  # a notebook that used its budget: the rest is shown literally
    text, changed = inert.inert_markdown(small, None, budget)
    assert changed and small in html.unescape(text) and not inert.active_parts(inert.render_markdown(text))


def test_a_notebook_of_many_one_line_cells_has_a_bounded_number_of_them_rendered(monkeypatch):
    """nbconvert's renderer costs about the same for one line as for a page: a notebook of 20,000
    one-line markdown cells had each rendered to be checked (the coordinator's time grew with the
    cells, minutes at the size limit). At most NOTEBOOK_RENDER_CHARS / RENDER_CHARGE texts are
    rendered now (each at most four times: itself and up to three safer forms); every other cell is
    shown literally, whole and inert; empty cells are left as they are."""
    renders = []
    real = inert.render_markdown
    monkeypatch.setattr(inert, "render_markdown", lambda *args, **kw: renders.append(1) or real(*args, **kw))
    monkeypatch.setattr(inert, "NOTEBOOK_RENDER_CHARS", 32 * 1024)  # the same rule with a budget of 128 renders
    link = " [a](javascript:alert(1))"  # in a few cells: a text that needs its safer forms checked too
    nb = nbformat.from_dict({"metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": f"note {i} <b>x</b>{link if i % 100 == 99 else ''}"
         if i % 2 else ""} for i in range(20_000)]})
    inert.inert_notebook(nb)
    assert 0 < len(renders) <= 4 * (inert.NOTEBOOK_RENDER_CHARS // inert.RENDER_CHARGE)
    assert all(c.source == "" for c in nb.cells[::2])
    literal = [c for c in nb.cells[1::2] if c.source.endswith(inert.LONG_NOTE)]
    assert len(literal) >= 10_000 - inert.NOTEBOOK_RENDER_CHARS // inert.RENDER_CHARGE
    assert not any(inert.active_parts(real(c.source)) for c in literal[-3:])
    assert "note 19999 &lt;b&gt;x&lt;/b&gt; &#91;a&#93;(javascript:alert(1))" in nb.cells[-1].source


def test_an_odd_trajectory_or_plot_record_is_kept_out_of_formgraders_copy():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("x")
    code.outputs = [nbformat.v4.new_output("display_data", data={TRAJECTORY_MIME: {"accuracy": [int(HUGE)]},
                                                                 PLOT_MIME: {"width": int(HUGE)}},
                                           metadata={"width": int(HUGE), "alt": "kernels"})]
    nb.cells.append(code)
    notes = inert.inert_notebook(nb)
    assert code.outputs[0].metadata == {"alt": "kernels"} and notes


def test_an_lms_id_two_students_hold_is_given_to_neither(tmp_path, config):
    """However two students came to one LMS id (a roster typo, an old gradebook), the import files
    never carry it twice: neither row is guessed, and the export says why."""
    from autograder.export.final import StudentFinal, _one_student_per_lms_id
    from autograder.export.lms import lms_files

    students = [StudentFinal("ann", lms_id="1001"), StudentFinal("bob", lms_id="1001"), StudentFinal("cyd", lms_id="7")]
    listed, shared = _one_student_per_lms_id(students)
    assert shared == {"1001": ["ann", "bob"]}
    canvas = dict((name, text) for name, text, _ in lms_files(listed, config.export, ASSIGNMENT, 10.0))["canvas.csv"]
    assert [row[1] for row in csv.reader(io.StringIO(canvas))][2:] == ["7"]


def test_a_graded_json_with_a_400_digit_q3a_number_is_graded_again_not_a_stopped_batch(tmp_path, config):
    """graded.json is read back on every resume; the report formats Q3a's number with :g, which an
    integer of 400 digits cannot be: such a file is unreadable (that submission graded again)."""
    from autograder.batch.record import load_done
    from autograder.submission.results import SubmissionResult

    folder = tmp_path / "ann"
    folder.mkdir()
    result = SubmissionResult("ann", "ann.ipynb", identity={"q3a": {"wrote": int(HUGE), "own": 10.0}})
    (folder / "graded.json").write_text(json.dumps(result.to_dict()))
    problems: list = []
    assert load_done(tmp_path, problems) == {}
    assert "q3a" in problems[0].message and problems[0].origin == str(folder / "graded.json")



def test_a_grade_started_while_an_export_holds_out_names_the_export(tmp_path):
    """The other order: a process holding OUT as `alexnet-lab export` does; grade refuses in one line."""
    import sys

    from autograder.export.final import EXPORT_HOLDER

    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from autograder.files import exclusive_lock\n"
         f"with exclusive_lock(sys.argv[1], 'busy', holder={EXPORT_HOLDER!r}):\n"
         "    print('held', flush=True); time.sleep(120)", str(out / ".work" / "grade.lock")],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        nbformat.write(nbformat.v4.new_notebook(), str(inbox / "ann.ipynb"))
        done = _run("grade", inbox, "--out", out, "--profile", "smoke")
    finally:
        holder.kill()
        holder.wait()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"is in use by another command ({EXPORT_HOLDER}: pid {holder.pid}" in lines[0]
    assert not (out / "grades.csv").exists()


def test_file_names_that_are_not_utf8_or_not_latin_are_each_a_student_recorded_whole(tmp_path, course, config):
    """A download unzipped on Linux keeps names that are not UTF-8 (Latin-1's ü, ö); a class also has
    names in other scripts. Each file is its own student (not 'mller' twice, not 'student' twice) and
    its result is recorded whole, the tables too: no writer meets a character it cannot write (no
    kernel runs: the notebooks are refused)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    refused = nbformat.writes(nbformat.v4.new_notebook())
    for raw in (b"m\xfcller.ipynb", b"m\xf6ller.ipynb", "王伟.ipynb".encode(), "李娜.ipynb".encode()):
        with open(os.path.join(os.fsencode(inbox), raw), "w", encoding="utf-8") as fh:
            fh.write(refused)
    out = tmp_path / "out"
    summary = grade([inbox], out, course, config, profile=select_profile(config, "smoke"), runners=1)
    assert summary.failed == 4 and summary.problems == 0, summary
    rows = _grades(out)
    assert len(rows) == 4 and all(row["status"] == "failed" for row in rows.values()), rows
    assert all("not the alexnet notebook" in row["reason"] for row in rows.values())
    assert sorted(row["reason"].split(":")[0] for row in rows.values()) == ["m?ller.ipynb", "m?ller.ipynb",
                                                                          "李娜.ipynb", "王伟.ipynb"]
    for sid in rows:
        assert (out / sid / "graded.json").is_file() and (out / sid / "feedback.html").is_file()
    assert all(sid in (out / "report.html").read_text(encoding="utf-8") for sid in rows)


def test_a_refused_notebook_is_read_for_formgrader_by_the_same_reader(tmp_path, course, config):
    """A failed submission's own notebook goes to formgrader when it is one the lab reads, read by the
    reader that refused it: a notebook of 6,000 one-line cells, refused in a fraction of a second,
    was then read, made inert and written whole by nbformat for formgrader (11 s for 100,000 cells,
    on the one coordinator). Now formgrader gets none, as for a file that is no notebook."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cells = [{"cell_type": "markdown", "metadata": {}, "source": f"line {i}"} for i in range(6_000)]
    (inbox / "ann.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    out = tmp_path / "out"
    summary = grade([inbox], out, course, config, profile=select_profile(config, "smoke"), runners=1)
    assert summary.failed == 1
    assert "6,000 cells" in _grades(out)["ann"]["reason"]
    assert not (out / "nbgrader" / "autograded" / "ann" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()
