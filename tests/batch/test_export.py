"""The TA's last step, on a real graded class and nbgrader's real gradebook: manual grades in,
final grades and LMS files out (`alexnet-lab export`), and formgrader served (`alexnet-lab formgrader`).

One Canvas zip and an nbgrader submitted/ tree, graded once for the module (two notebooks run):
alice answered everything; bob was late (Canvas's _LATE_), wrote only a number for Q3a and typed
his Q1 answer into a cell of his own; dan's file is broken, and its timestamp.txt says 2.5 days
after the due date. The roster names them, gives alice's and bob's Canvas ids, and lists carol,
who handed in nothing.
Each test works on its own copy of the graded folder. Manual grades go in through nbgrader's
Gradebook API, as formgrader stores them.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from classes import REPO, all_answers, formgrader_running, free_port
from nbgrader.api import Gradebook

from alexnet_core.contract import PLACEHOLDER
from autograder.batch.coordinator import grade
from autograder.config import select_profile
from autograder.demo.sample_class import answer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROSTER = ("student_id,lms_id,name\ns-alice,1001,\"Smith, Alice\"\ns-bob,1002,Bob Jones\ns-carol,1003,Carol King\n"
          "s-dan,,Dan Brown\n")
DUE = "2026-03-01T00:00:00+00:00"
LATE_TOML = f'[late]\npolicy = "per_day"\npercent = 10\ncap_percent = 50\ndue = "{DUE}"\n'
Q1_COMMENT = "Good: data and compute. Say why GPUs mattered."


@pytest.fixture(scope="module")
def graded(tmp_path_factory, executed, course, config):
    folder = tmp_path_factory.mktemp("export-class")
    alice = answer(executed, all_answers("alice"))
    bob = answer(executed, {"Q3a": "13.5%"})
    stray_at = next(i for i, c in enumerate(bob.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_q1")
    bob.cells.insert(stray_at + 1, nbformat.v4.new_markdown_cell("Q1: ImageNet did not exist and GPUs were not used."))
    with zipfile.ZipFile(folder / "submissions.zip", "w") as zf:
        zf.writestr("smithalice_1001_5001_alexnet.ipynb", nbformat.writes(alice))
        zf.writestr("jonesbob_LATE_1002_5002_alexnet.ipynb", nbformat.writes(bob))
    dan = folder / "submitted" / "s-dan" / "alexnet"
    dan.mkdir(parents=True)
    (dan / "alexnet.ipynb").write_text(nbformat.writes(alice)[:500])
    (dan / "timestamp.txt").write_text("2026-03-03 12:00:00.000000 UTC")
    (folder / "roster.csv").write_text(ROSTER)
    out = folder / "out"
    late = dataclasses.replace(config, late=dataclasses.replace(config.late, due=DUE))
    grade([folder / "submissions.zip", folder / "submitted"], out, course, late, profile=select_profile(late, "smoke"), runners=2,
          roster=folder / "roster.csv")
    return out


@pytest.fixture
def out(graded, tmp_path) -> Path:
    copy_ = tmp_path / "out"
    shutil.copytree(graded, copy_, ignore=shutil.ignore_patterns(".work"))
    return copy_


def cli(*args, cwd=REPO, config: Path | None = None) -> subprocess.CompletedProcess:
    extra = ["--config", str(config)] if config else []
    return subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(REPO), *extra, *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def late_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "course.toml"
    path.write_text(LATE_TOML + extra)
    return path


def rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {r.get("student_id") or r.get("ID") or r.get("OrgDefinedId"): r for r in csv.DictReader(fh)}


def gradebook(out: Path) -> Gradebook:
    return Gradebook(f"sqlite:///{(out / 'nbgrader' / 'gradebook.db').resolve()}")


def grade_by_hand(out: Path, student: str, points: dict[str, float], comments: dict[str, str] | None = None) -> None:
    """What formgrader stores when a TA types points and a comment."""
    with gradebook(out) as gb:
        for label, score in points.items():
            g = gb.find_grade(f"answer_{label.lower()}", "alexnet", "alexnet", student)
            g.manual_score = score
            g.needs_manual_grade = False
        for label, text in (comments or {}).items():
            gb.find_comment(f"answer_{label.lower()}", "alexnet", "alexnet", student).manual_comment = text
        gb.db.commit()


def pending_of(out: Path, student: str) -> list[str]:
    with gradebook(out) as gb:
        sub = gb.find_submission_notebook("alexnet", "alexnet", student)
        return sorted(g.name for g in sub.grades if g.needs_manual_grade and g.manual_score is None)


def grade_everything(out: Path) -> None:
    for student in ("s-alice", "s-bob"):
        labels = [name.removeprefix("answer_").replace("q", "Q", 1) for name in pending_of(out, student)]
        grade_by_hand(out, student, {label: 1.0 for label in labels})
    grade_by_hand(out, "s-alice", {"Q1": 1.5}, {"Q1": Q1_COMMENT})


# -- the export ------------------------------------------------------------------------------
def test_export_refuses_while_answers_wait_for_a_ta_and_names_who_and_which(out, tmp_path):
    done = cli("export", out, config=late_config(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "manual grading is not finished" in done.stderr
    alice_line = next(line for line in done.stderr.splitlines() if line.strip().startswith("s-alice"))
    assert "Q1" in alice_line and "Q4b" in alice_line and "Alice Smith" in alice_line
    assert "--allow-pending" in done.stderr
    assert not (out / "final" / "canvas.csv").exists()


def test_export_with_pending_leaves_their_grade_empty_never_zero(out, tmp_path):
    grade_by_hand(out, "s-alice", {"Q1": 2.0})
    done = cli("export", out, "--allow-pending", config=late_config(tmp_path))
    assert done.returncode == 0, done.stderr
    final = rows(out / "final" / "final_grades.csv")
    alice = final["s-alice"]
    assert alice["final"] == "" and alice["total"] == ""
    assert "Q2" in alice["pending"] and "Q1" not in alice["pending"].split("; ")
    assert alice["Q1_manual"] == "2" and alice["Q2_auto"] == "" and alice["Q2_manual"] == ""
    canvas = rows(out / "final" / "canvas.csv")
    assert canvas["1001"]["alexnet"] == ""
    page = (out / "s-alice" / "feedback.html").read_text()
    assert "Not final yet" in page and "not graded yet" in page


def test_manual_points_and_comments_reach_final_grades_canvas_and_feedback(out, tmp_path):
    grade_everything(out)
    (out / "nbgrader" / "feedback" / "s-alice" / "alexnet").mkdir(parents=True)  # formgrader's "generate feedback"
    (out / "nbgrader" / "feedback" / "s-alice" / "alexnet" / "alexnet.html").write_text("nbgrader's copy")
    done = cli("export", out, config=late_config(tmp_path))
    assert done.returncode == 0, done.stderr
    with (out / "final" / "final_grades.csv").open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:4] == ["student_id", "name", "lms_id", "status"]
    final = rows(out / "final" / "final_grades.csv")
    alice = final["s-alice"]
    assert (alice["name"], alice["lms_id"]) == ("Alice Smith", "1001")
    assert alice["Q1_manual"] == "1.5" and alice["Q1_comment"] == Q1_COMMENT
    assert alice["pending"] == "" and alice["late"] == "no"
    auto = sum(float(alice[f"{c}_auto"]) for c in ("trajectory", "evidence", "kernel_plots"))
    assert float(alice["total"]) == pytest.approx(auto + 1.5 + 6 * 1.0)
    assert alice["final"] == alice["total"] and alice["max_total"] == "16"
    # Bob: Canvas said _LATE_, 10% per day, one day (Canvas gives no time: late.unknown_days, and it says so).
    bob = final["s-bob"]
    assert bob["late"] == "yes" and bob["late_penalty_percent"] == "10" and bob["days_late"] == "1.00"
    assert "gives no time" in bob["late_how"] and "late.unknown_days" in bob["late_how"]
    assert "without a time (s-bob)" in done.stdout and "late.unknown_days = 1 day(s)" in done.stdout
    assert float(bob["final"]) == pytest.approx(float(bob["total"]) * 0.9)
    # Dan: timestamp.txt 2.5 days after the due date: 3 days at 10%; no LMS id, so not in canvas.csv.
    dan = final["s-dan"]
    assert (dan["status"], dan["late"], dan["days_late"], dan["late_penalty_percent"]) == ("failed", "yes", "2.50", "30")
    assert "canvas.csv: no LMS id for s-dan" in done.stdout
    assert "moodle.csv: no lms_id for s-dan, so their 'ID number' is the student id" in done.stdout
    # Carol handed in nothing: listed, no grade, never a 0.
    assert final["s-carol"]["status"] == "no submission" and final["s-carol"]["final"] == ""
    assert "no submission" in done.stdout and "s-carol" in done.stdout
    canvas = rows(out / "final" / "canvas.csv")
    with (out / "final" / "canvas.csv").open(newline="") as fh:
        assert next(csv.reader(fh)) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "alexnet"]
    assert canvas["1001"]["alexnet"] == alice["final"] and canvas["1002"]["alexnet"] == bob["final"]
    assert canvas["1003"]["alexnet"] == ""
    # No Canvas assignment id configured: the summary says what Canvas will do and how to set it.
    assert "Canvas fills an assignment of exactly that name or creates a new one" in done.stdout
    assert "canvas_assignment_id" in done.stdout
    bright = rows(out / "final" / "brightspace.csv")
    assert bright["#1001"]["alexnet Points Grade <Numeric MaxPoints:16>"] == alice["final"]
    assert bright["#1001"]["End-of-Line Indicator"] == "#"
    assert "1001" in (out / "final" / "moodle.csv").read_text()
    results = json.loads((out / "final" / "gradescope.json").read_text())
    q1 = next(t for t in results["s-alice"]["tests"] if t["name"] == "Question Q1")
    assert q1["score"] == 1.5 and Q1_COMMENT in q1["output"] and results["s-alice"]["score"] == float(alice["final"])
    page = (out / "s-alice" / "feedback.html").read_text()
    assert Q1_COMMENT in page and f"Final grade: <strong>{alice['final']} / 16</strong>" in page
    assert "1.5 / 2" in page and "a TA grades this by hand" not in page
    bob_page = (out / "s-bob" / "feedback.html").read_text()
    assert "late" in bob_page and "10% off per day" in bob_page
    assert not (out / "nbgrader" / "feedback" / "s-alice" / "alexnet").exists()  # one feedback file per student
    # nbgrader's own export agrees on bob's late penalty now.
    with gradebook(out) as gb:
        assert gb.find_submission("alexnet", "s-bob").late_submission_penalty == pytest.approx(float(bob["late_penalty"]))


def test_the_final_feedback_keeps_the_kernel_pictures_grading_showed(out, tmp_path):
    graded_page = BeautifulSoup((out / "s-alice" / "feedback.html").read_text(), "html.parser")
    assert len(graded_page.select(".kernels img")) == 3  # what grading wrote
    grade_everything(out)
    done = cli("export", out, config=late_config(tmp_path))
    assert done.returncode == 0, done.stderr
    page = (out / "s-alice" / "feedback.html").read_text()
    soup = BeautifulSoup(page, "html.parser")
    assert soup.select_one("#final-grade") is not None  # the export's page, not grading's
    kernels = soup.select(".kernels img")
    assert len(kernels) == 3 and all(img["src"].startswith("data:image/png;base64,") for img in kernels)
    assert [img["src"] for img in kernels] == [img["src"] for img in graded_page.select(".kernels img")]
    assert "No kernel plots were produced" not in page


def test_gradescope_results_never_show_a_pending_answer_as_zero(graded, out, tmp_path):
    # At grading: bob's Q1 (stray text) and Q3a wait for a TA; his unanswered questions are 0.
    graded_bob = json.loads((graded / "s-bob" / "gradescope.json").read_text())
    tests = {t["name"]: t for t in graded_bob["tests"]}
    for name in ("Question Q1", "Question Q3a"):
        assert "score" not in tests[name] and "status" not in tests[name] and tests[name]["max_score"] > 0
    assert tests["Question Q2"]["score"] == 0.0 and tests["Question Q2"]["status"] == "failed"
    checks = [tests[n] for n in ("trajectory", "evidence", "kernel plots")]
    assert graded_bob["score"] == sum(t["score"] for t in checks)
    assert "Q1, Q3a (3 points) wait for a TA" in graded_bob["output"]
    # At export with answers still pending: no score for them, the points so far on top, said not final.
    done = cli("export", out, "--allow-pending", config=late_config(tmp_path))
    assert done.returncode == 0, done.stderr
    final = json.loads((out / "final" / "gradescope.json").read_text())
    bob = final["s-bob"]
    assert bob == json.loads((out / "s-bob" / "gradescope.json").read_text())
    tests = {t["name"]: t for t in bob["tests"]}
    for name in ("Question Q1", "Question Q3a"):
        assert "score" not in tests[name] and "status" not in tests[name]
    known = sum(t["score"] for t in bob["tests"] if "score" in t and t["name"] != "late penalty")
    assert bob["score"] == pytest.approx(known * 0.9) and tests["late penalty"]["score"] == pytest.approx(-known * 0.1)
    assert bob["output"].startswith("Not final: Q1, Q3a wait for a TA")
    # Checks that lost points say why (dan's notebook never ran).
    dan_checks = [t for t in final["s-dan"]["tests"] if not t["name"].startswith(("Question", "late"))]
    assert dan_checks and all(t["score"] == 0 and t["output"] for t in dan_checks)
    reason = json.loads((out / "s-dan" / "graded.json").read_text())["reason"]
    assert all(reason in t["output"] for t in dan_checks)


def test_lms_files_read_as_each_lms_reads_them(out, tmp_path):
    grade_everything(out)
    done = cli("export", out, config=late_config(tmp_path, '[export]\ncanvas_assignment_id = "4242"\n'))
    assert done.returncode == 0, done.stderr
    final = rows(out / "final" / "final_grades.csv")
    # Canvas: its own export's layout: the column "NAME (ID)", then the Points Possible row.
    with (out / "final" / "canvas.csv").open(newline="") as fh:
        canvas = list(csv.reader(fh))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "alexnet (4242)"]
    assert canvas[1] == ["    Points Possible", "", "", "", "", "16"]
    by_id = {row[1]: row for row in canvas[2:]}
    assert by_id["1001"][5] == final["s-alice"]["final"] and by_id["1001"][0] == "Alice Smith"
    assert "creates a new one" not in done.stdout
    # Brightspace: OrgDefinedId behind '#', the item's maximum in its header, '#' ending each row.
    with (out / "final" / "brightspace.csv").open(newline="") as fh:
        bright = list(csv.reader(fh))
    assert bright[0] == ["OrgDefinedId", "alexnet Points Grade <Numeric MaxPoints:16>", "End-of-Line Indicator"]
    assert ["#1002", final["s-bob"]["final"], "#"] in bright[1:]
    # Moodle: the columns of its own "Export to text file"; feedback with reasons, TA comments, the penalty.
    with (out / "final" / "moodle.csv").open(newline="") as fh:
        moodle = {r["ID number"]: r for r in csv.DictReader(fh)}
        fh.seek(0)
        header = next(csv.reader(fh))
    assert header == ["First name", "Surname", "ID number", "Institution", "Department", "Email address",
                      "Assignment: alexnet (Real)", "Assignment: alexnet (Feedback)"]
    alice, bob, dan = moodle["1001"], moodle["1002"], moodle["s-dan"]
    assert (alice["First name"], alice["Surname"]) == ("Alice", "Smith")
    assert alice["Assignment: alexnet (Real)"] == final["s-alice"]["final"]
    assert f"Q1 1.5/2: {Q1_COMMENT}" in alice["Assignment: alexnet (Feedback)"]
    assert "late penalty -10%" in bob["Assignment: alexnet (Feedback)"]
    assert "not graded automatically" in dan["Assignment: alexnet (Feedback)"]
    assert "trajectory 0/3" in dan["Assignment: alexnet (Feedback)"]
    assert moodle["1003"]["Assignment: alexnet (Real)"] == ""  # carol: no submission, no grade, never 0


def test_points_changed_since_grading_are_refused_with_what_to_run(out, tmp_path):
    grade_everything(out)
    config = late_config(tmp_path, "[points.questions]\nQ1 = 3\n")
    done = cli("export", out, config=config)
    assert done.returncode == 1
    assert "points changed" in done.stderr and "Q1" in done.stderr and "--regrade" in done.stderr
    assert not (out / "final" / "final_grades.csv").exists()


# -- what grading records for the TA -----------------------------------------------------------
def test_roster_names_lms_ids_and_lateness_reach_grades_csv_gradebook_and_report(graded):
    table = rows(graded / "grades.csv")
    assert (table["s-alice"]["name"], table["s-alice"]["lms_id"], table["s-alice"]["late"]) == ("Alice Smith", "1001", "no")
    # Canvas's _LATE_ has no time: the days counted are late.unknown_days, said, not left empty.
    assert (table["s-bob"]["late"], table["s-bob"]["lms_id"], table["s-bob"]["days_late"]) == ("yes", "1002", "1.00")
    assert (table["s-dan"]["late"], table["s-dan"]["days_late"]) == ("yes", "2.50")
    with gradebook(graded) as gb:
        alice = gb.find_student("s-alice")
        assert (alice.first_name, alice.last_name, alice.lms_user_id) == ("Alice", "Smith", "1001")
        assert gb.find_student("s-carol").last_name == "King"
        # nbgrader's own lateness: the submission's timestamp against the assignment's due date.
        assert gb.find_submission("alexnet", "s-dan").total_seconds_late == pytest.approx(2.5 * 86400)
        assert gb.find_submission("alexnet", "s-alice").total_seconds_late == 0
    report = (graded / "report.html").read_text()
    assert "s-carol" in report and "no submission" in report
    every = report.split("<h2>Every submission</h2>")[1]
    bob_row = every.split("s-bob</a>")[1].split("</tr>")[0]
    assert "late (days late unknown; Canvas marked the file _LATE_)" in bob_row
    assert "late" not in every.split("s-alice</a>")[1].split("</tr>")[0]


def test_a_short_number_reaches_the_ta_and_stray_text_is_flagged_where_formgrader_looks(graded):
    result = json.loads((graded / "s-bob" / "graded.json").read_text())
    q3a = next(a for a in result["answers"] if a["label"] == "Q3a")
    assert q3a["answered"] and "13.5%" in q3a["text"]
    assert "answer_q3a" in pending_of(graded, "s-bob")  # formgrader: needs manual grading
    assert "answer_q1" in pending_of(graded, "s-bob")  # the stray text: unanswered cell, still a TA's call
    with gradebook(graded) as gb:
        assert gb.find_submission_notebook("alexnet", "alexnet", "s-bob").flagged
        comment = gb.find_comment("answer_q1", "alexnet", "alexnet", "s-bob").auto_comment
    assert "outside the answer cells" in comment and "ImageNet did not exist" in comment
    page = (graded / "questions" / "Q1.html").read_text()
    assert "ImageNet did not exist" in page and "outside the answer cell" in page
    q3a_page = (graded / "questions" / "Q3a.html").read_text()
    assert "13.5%" in q3a_page
    side = json.loads((graded / "s-bob" / "gradebook.json").read_text())
    assert f"/formgrader/submissions/{side['submission_id']}/" in page


def test_the_self_check_tells_the_student_to_move_stray_text(executed, tmp_path):
    from alexnet_core.selfcheck import check_notebook

    nb = answer(executed, all_answers("dan"))
    nb.cells.append(nbformat.v4.new_markdown_cell("Q4b: this answer is in a cell of my own"))
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "answer_q3a":
            cell.source = "13.5%"
    path = tmp_path / "dan.ipynb"
    nbformat.write(nb, str(path))
    report = check_notebook(path)
    assert "Q3a" not in report.unanswered
    assert not report.ready and any("Move it into the answer cell" in p for p in report.problems)
    blank = copy.deepcopy(nb)
    for cell in blank.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "answer_q3a":
            cell.source = f"  {PLACEHOLDER}  "
    nbformat.write(blank, str(path))
    assert "Q3a" in check_notebook(path).unanswered


# -- formgrader ---------------------------------------------------------------------------------
def test_formgrader_command_serves_formgrader_and_stops_on_sigterm(out):
    port = free_port()
    with formgrader_running(out, port=port) as served:
        assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/formgrader\?token=\w+", served.url)
        with gradebook(out) as gb:
            sid = gb.find_submission_notebook("alexnet", "alexnet", "s-alice").id
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/formgrader/submissions/{sid}/?token={served.token}",
                                      timeout=60).read().decode()
        assert "answer_q1" in page or "Smith" in page or "s-alice" in page


def test_the_demo_tail_enters_one_grade_through_nbgraders_api_and_exports(out, config, capsys):
    from autograder.demo.export import demo_export

    demo_export(out, config)
    printed = capsys.readouterr().out
    canvas = re.search(r"Canvas import file: +(\S+)", printed)
    page = re.search(r"a final feedback page: +(\S+)", printed)
    assert canvas and Path(canvas[1]) == out / "final" / "canvas.csv" and Path(canvas[1]).is_file()
    assert page and "entered by the demo" in Path(page[1]).read_text()
    assert "pending" in printed  # the other answers still wait for a TA, and the demo says so


def test_lateness_survives_a_moved_timestamp_through_the_gradebook(out, tmp_path, graded):
    grade_everything(out)
    stamp = graded.parent / "submitted" / "s-dan" / "alexnet" / "timestamp.txt"
    moved = stamp.with_name("timestamp.moved")
    stamp.rename(moved)
    try:
        done = cli("export", out, config=late_config(tmp_path))
    finally:
        moved.rename(stamp)
    assert done.returncode == 0, done.stderr
    dan = rows(out / "final" / "final_grades.csv")["s-dan"]
    assert (dan["late"], dan["days_late"], dan["late_penalty_percent"]) == ("yes", "2.50", "30")
