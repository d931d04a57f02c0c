"""The gradebook on a real PostgreSQL server (`gradebook.url`, `--db URL`), started by this module.

One server for the module (tests/postgres.py: initdb + pg_ctl in a temporary folder, as an
unprivileged user, password authentication on a free loopback port), one database per OUT:
- `kernel`: one real submission graded by a real kernel through `alexnet-lab grade`, its URL in the
  course's settings file without the password (libpq reads PGPASSWORD, as a TA would set it);
- `klass`: a written-answer class recorded by the real Recorder (benchmarks/written_class.py), for
  the grading store.
Manual grades go in through nbgrader's own Gradebook API on that database; `alexnet-lab export`,
`nbgrader export` and formgrader read them there. Skips with the reason where PostgreSQL is missing.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest
from classes import REPO, all_answers, formgrader_running, free_port
from postgres import running_postgres

from alexnet_core.contract import QUESTIONS
from autograder.config import with_gradebook_url
from autograder.demo.sample_class import answer
from autograder.gradebook import Gradebook

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STUDENT = "s-ada"
COMMENT = "Data and compute, both named: full marks."


@pytest.fixture(scope="module")
def pg():
    with running_postgres() as server:
        yield server


def cli(*args, env: dict | None = None, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(REPO), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def one_line(done: subprocess.CompletedProcess) -> str:
    """A refusal: exit 2 and exactly one line on stderr, no traceback."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def graded(pg, tmp_path_factory, executed):
    """`alexnet-lab grade` of one real submission (a real kernel re-runs it) into PostgreSQL: the URL
    in the settings file has no password; PGPASSWORD supplies it. (OUT, settings file, full URL, output)."""
    folder = tmp_path_factory.mktemp("pg-class")
    (folder / "inputs").mkdir()
    nbformat.write(answer(executed, all_answers("ada")), str(folder / "inputs" / f"{STUDENT}.ipynb"))
    url = pg.create_database("kernel")
    settings = folder / "course.toml"
    settings.write_text(f'[identity]\nper_student_seeds = false\n[gradebook]\nurl = "{pg.url("kernel", password=False)}"\n')
    out = folder / "out"
    done = cli("--config", settings, "grade", folder / "inputs", "--out", out, "--runners", "1",
               env={"PGPASSWORD": pg.password})
    assert done.returncode == 0, done.stderr[-3000:]
    return out, settings, url, done.stdout + done.stderr


def pending(url: str, student: str) -> list[str]:
    with Gradebook(url.replace("postgresql://", "postgresql+psycopg://")) as gb:
        sub = gb.find_submission_notebook("alexnet", "alexnet", student)
        return sorted(g.name for g in sub.grades if g.needs_manual_grade and g.manual_score is None)


def test_grade_writes_the_gradebook_into_postgresql_and_never_prints_the_password(pg, graded):
    out, _, url, printed = graded
    assert pg.password not in printed
    assert not (out / "nbgrader" / "gradebook.db").exists(), "a SQLite gradebook was made beside the server's"
    with Gradebook(url.replace("postgresql://", "postgresql+psycopg://")) as gb:
        sub = gb.find_submission_notebook("alexnet", "alexnet", STUDENT)
        checks = {g.name: g.auto_score for g in sub.grades if g.name.startswith("check_")}
    assert checks and all(score is not None for score in checks.values()), checks
    # Every answer was written, so each waits for a TA there (what formgrader lists).
    assert pending(url, STUDENT) == sorted(f"answer_{q.lower()}" for q in QUESTIONS)
    graded_json = json.loads((out / STUDENT / "graded.json").read_text())
    assert graded_json["status"] != "failed", graded_json.get("reason")
    # nbgrader's own apps are pointed at the same database, and the file holds no password.
    nbgrader_config = (out / "nbgrader" / "nbgrader_config.py").read_text()
    assert f"c.CourseDirectory.db_url = 'postgresql+psycopg://grader@127.0.0.1:{pg.port}/kernel'" in nbgrader_config
    assert pg.password not in nbgrader_config
    recorded = json.loads((out / "nbgrader" / "gradebook_db.json").read_text())
    assert recorded == {"gradebook": f"postgresql://grader@127.0.0.1:{pg.port}/kernel"}


def test_manual_grades_in_postgresql_reach_export_and_nbgraders_own_export(pg, graded):
    out, settings, url, _ = graded
    # What formgrader stores when a TA types points and a comment, on the server's database.
    with Gradebook(url.replace("postgresql://", "postgresql+psycopg://")) as gb:
        for name in pending(url, STUDENT):
            grade = gb.find_grade(name, "alexnet", "alexnet", STUDENT)
            grade.manual_score = 1.0
            grade.needs_manual_grade = False
        gb.find_comment("answer_q1", "alexnet", "alexnet", STUDENT).manual_comment = COMMENT
        gb.db.commit()
    done = cli("export", out, "--db", url)  # the password in the URL this time: never printed
    assert done.returncode == 0, done.stderr[-2000:]
    assert pg.password not in done.stdout + done.stderr
    with (out / "final" / "final_grades.csv").open(newline="") as fh:
        row = {r["student_id"]: r for r in csv.DictReader(fh)}[STUDENT]
    checks = sum(float(row[f"{name}_auto"]) for name in ("trajectory", "evidence", "kernel_plots"))
    assert row["Q1_manual"] == "1" and row["Q1_comment"] == COMMENT and not row["pending"], row
    assert float(row["final"]) == checks + len(QUESTIONS), row
    assert COMMENT in (out / STUDENT / "feedback.html").read_text()

    # nbgrader's own CLI, from the course root (its nbgrader_config.py names the database; libpq
    # takes the password from PGPASSWORD), and with --db given explicitly from elsewhere.
    nbgrader = Path(sys.executable).with_name("nbgrader")
    env = {**os.environ, "PGPASSWORD": pg.password}
    for cwd, extra in ((out / "nbgrader", []), (out, ["--db", url.replace("postgresql://", "postgresql+psycopg://"),
                                                      "--CourseDirectory.course_id=alexnet-lab"])):
        target = cwd / "nbgrader-grades.csv"
        done = subprocess.run([str(nbgrader), "export", f"--to={target}", *extra], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        with target.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["student_id"] == STUDENT]
        assert len(rows) == 1 and float(rows[0]["raw_score"]) >= len(QUESTIONS), rows


def test_an_out_graded_into_postgresql_is_not_opened_as_sqlite_nor_another_database(pg, graded, tmp_path):
    out, _, url, _ = graded
    line = one_line(cli("export", out, "--allow-pending"))  # no --db, no gradebook.url
    assert f"graded into postgresql://grader@127.0.0.1:{pg.port}/kernel" in line and "--db" in line
    other = pg.create_database("other")
    line = one_line(cli("formgrader", out, "--no-browser", "--db", other))
    assert "/kernel" in line and "/other" in line and pg.password not in line
    assert not (out / "nbgrader" / "gradebook.db").exists()


def test_bad_url_and_unreachable_server_are_refused_in_one_line_before_anything_runs(pg, graded, tmp_path):
    out = tmp_path / "out"
    inputs = graded[0].parent / "inputs" / f"{STUDENT}.ipynb"
    line = one_line(cli("grade", inputs, "--out", out, "--db", f"mysql://grader:{pg.password}@127.0.0.1/x"))
    assert line.startswith("alexnet-lab grade: --db ") and "mysql" in line and pg.password not in line
    settings = tmp_path / "bad.toml"
    settings.write_text('[gradebook]\nurl = "not a url"\n')
    line = one_line(cli("--config", settings, "grade", inputs, "--out", out))
    assert str(settings) in line and "gradebook.url" in line and "postgresql://" in line
    closed = free_port()  # nobody listens there
    line = one_line(cli("grade", inputs, "--out", out, "--db", f"postgresql://grader:{pg.password}@127.0.0.1:{closed}/x"))
    assert f"127.0.0.1:{closed}" in line and pg.password not in line
    # The right server, the wrong password: named, and still not printed.
    line = one_line(cli("grade", inputs, "--out", out, "--db", pg.url("kernel").replace(pg.password, "wrong-pw")))
    assert "password authentication failed" in line and "wrong-pw" not in line and pg.password not in line
    assert not (out / "nbgrader").exists() and not list(out.glob(f"{STUDENT}*")), "grade ran something"


def test_config_masks_the_password(pg, tmp_path):
    settings = tmp_path / "course.toml"
    settings.write_text(f'[gradebook]\nurl = "{pg.url("kernel")}"\n')
    done = cli("--config", settings, "config")
    assert done.returncode == 0 and pg.password not in done.stdout
    assert f"gradebook.url = 'postgresql+psycopg://grader:***@127.0.0.1:{pg.port}/kernel'" in done.stdout


def test_formgrader_with_db_serves_the_class_from_postgresql(pg, graded):
    out, _, url, _ = graded
    port = free_port()
    with formgrader_running(out, "--db", url, port=port) as served:
        line = ""
        while served.process.poll() is None and not line.startswith("(the gradebook"):
            line = served.line()
        assert f"PostgreSQL database 'kernel' on 127.0.0.1:{pg.port}" in line
        assert pg.password not in "".join(served.printed)
        base = f"http://127.0.0.1:{port}"
        assignments = json.loads(urllib.request.urlopen(f"{base}/formgrader/api/assignments?token={served.token}",
                                                        timeout=60).read())
        assert [(a["name"], a["num_submissions"]) for a in assignments] == [("alexnet", 1)]
        with Gradebook(url.replace("postgresql://", "postgresql+psycopg://")) as gb:
            sid = gb.find_submission_notebook("alexnet", "alexnet", STUDENT).id
        page = urllib.request.urlopen(f"{base}/formgrader/submissions/{sid}/?token={served.token}",
                                      timeout=60).read().decode()
        assert "answer_q1" in page


def test_a_roster_name_holding_nul_stops_no_batch_on_postgresql(pg, tmp_path, course, config):
    """PostgreSQL refuses NUL in text, which a roster exported from a spreadsheet can hold: the batch
    stopped with a traceback at enrolment. The row is used with U+FFFD in its place and named (no
    kernel runs: the notebooks are refused)."""
    from autograder.batch.coordinator import grade
    from autograder.config import select_profile

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for sid in ("ann", "bob"):
        nbformat.write(nbformat.v4.new_notebook(), str(inbox / f"{sid}.ipynb"))
    roster = tmp_path / "roster.csv"
    roster.write_bytes(b"student_id,lms_id,name\nann,10\x0001,Ann \x00Lee\nbob,1002,Bob Ray\n")
    url = pg.create_database("nul_roster")
    bound = with_gradebook_url(config, url, "--db", "--db")
    summary = grade([inbox], tmp_path / "out", course, bound, profile=select_profile(config, "smoke"), runners=1,
                    roster=roster)
    assert summary.failed == 2 and summary.problems == 1, summary
    with Gradebook(url.replace("postgresql://", "postgresql+psycopg://")) as gb:
        ann = gb.find_student("ann")
        assert (ann.first_name, ann.last_name, ann.lms_user_id) == ("Ann", "\ufffdLee", "10\ufffd01")
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert f"{roster} line 2" in report and "holds NUL characters" in report


def test_the_config_url_and_the_command_line_url_are_one_url(pg, config):
    """gradebook.url and --db are normalised alike (psycopg 3's driver), so the record compares them."""
    from_file = with_gradebook_url(config, pg.url("kernel", password=False), "course.toml")
    from_cli = with_gradebook_url(config, f"postgres://grader@127.0.0.1:{pg.port}/kernel", "--db", "--db")
    assert from_file.gradebook.url == from_cli.gradebook.url == (
        f"postgresql+psycopg://grader@127.0.0.1:{pg.port}/kernel")


# -- the grading page and its store on PostgreSQL ----------------------------------------------------
@pytest.fixture(scope="module")
def klass(pg, tmp_path_factory, config):
    """A written-answer class (benchmarks/written_class.py) recorded into its own PostgreSQL database
    by the real Recorder, as `grade` records: (OUT, the config bound to its master, URL)."""
    if str(REPO) not in sys.path:  # benchmarks/ is imported from the repository root, as tests/manual does
        sys.path.insert(0, str(REPO))
    from autograder.config import for_master
    from benchmarks.written_class import graded_out, planted_class

    url = pg.create_database("klass")
    bound = with_gradebook_url(config, url, "--db", "--db")
    folder = graded_out(tmp_path_factory.mktemp("pg-klass") / "out", bound, planted_class(8, seed=3))
    return folder.root, for_master(bound, folder.nbgrader.source_notebook()), url


def rubrics_of(config):
    """The course master's rubrics (the registered notebook in OUT carries none: render keeps them home)."""
    from autograder.manual.rubric import read_rubrics

    return read_rubrics(REPO / "source" / "alexnet" / "alexnet.ipynb", config.points.questions)


def store_of(out: Path, config, url: str):
    """The grading store as one server opens it (autograder/manual/store.py)."""
    from autograder.manual.store import ManualGrading

    rubrics = rubrics_of(config)
    return rubrics, ManualGrading(config.gradebook.url, config.course.course_id, config.course.assignment,
                                  config.course.notebook, rubrics, {q: f"answer_{q.lower()}" for q in rubrics})


def test_two_stores_on_one_postgresql_a_stale_write_is_refused_naming_who(klass):
    from autograder.manual.rubric import score_of

    out, config, url = klass
    rubrics, first = store_of(out, config, url)
    _, second = store_of(out, config, url)  # a second server, its own engine and session
    try:
        seen_first, seen_second = first.answers("Q2"), second.answers("Q2")
        students = sorted(seen_first)[:2]
        item, other = rubrics["Q2"].items[0], rubrics["Q2"].items[1]
        done = first.apply("Q2", item.id, students, True, {s: seen_first[s].version for s in students}, "ana (root)")
        assert done.changed == students and not done.conflicts
        late = second.apply("Q2", other.id, students[:1], True, {students[0]: seen_second[students[0]].version},
                            "ben (root)")
        assert late.changed == [] and [(c.student, c.by) for c in late.conflicts] == [(students[0], "ana (root)")]
        assert "ana (root)" in late.conflicts[0].message
    finally:
        first.close()
        second.close()
    with Gradebook(config.gradebook.url) as gb:  # nbgrader's own rows hold the first TA's grade, not the second's
        grade = gb.find_grade("answer_q2", "alexnet", "alexnet", students[0])
        assert grade.manual_score == score_of(rubrics["Q2"].max_points, [item]) and not grade.needs_manual_grade


def test_a_grade_given_through_the_pages_api_on_postgresql_reaches_export(pg, klass):
    out, config, url = klass
    port = free_port()
    with formgrader_running(out, "--db", url, port=port) as served:
        token = served.token
        api = f"http://127.0.0.1:{port}/alexnet-lab/api/questions/Q1"
        headers = {"Authorization": f"token {token}", "X-Alexnet-Lab-TA": "cleo"}

        def call(path: str = "", body: dict | None = None) -> dict:
            request = urllib.request.Request(api + path, headers={**headers, "Content-Type": "application/json"},
                                             data=json.dumps(body).encode() if body is not None else None,
                                             method="POST" if body is not None else "GET")
            with urllib.request.urlopen(request, timeout=120) as reply:
                return json.loads(reply.read())

        page = call()
        group = max(page["groups"], key=lambda g: len(g["students"]))  # the largest group, as a TA starts
        students = sorted(group["students"])
        item = call("/items", {"title": "Names data and compute", "score": 2, "comment": COMMENT})["item"]
        done = call("/apply", {"item": item["id"], "students": students, "on": True,
                               "seen": {s: page["answers"][s]["version"] for s in students}})
        assert sorted(done["changed"]) == students and not done["conflicts"]
        assert all(a["by"] and "cleo" in a["by"] for a in done["answers"]), done["answers"]
    exported = cli("export", out, "--db", url, "--allow-pending")
    assert exported.returncode == 0, exported.stderr[-2000:]
    with (out / "final" / "final_grades.csv").open(newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    for student in students:  # a fixed score of 2 with its comment, in the export's file
        assert rows[student]["Q1_manual"] == "2" and rows[student]["Q1_comment"] == COMMENT, rows[student]
    assert COMMENT in (out / students[0] / "feedback.html").read_text()


def test_the_database_password_never_reaches_a_students_kernel(monkeypatch, tmp_path, smoke, pg):
    """PGPASSWORD is how a TA gives the password; a kernel's environment is built from a fixed list."""
    from autograder.submission.kernel import kernel_env

    monkeypatch.setenv("PGPASSWORD", pg.password)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "pgpass"))
    env = kernel_env(tmp_path, smoke, "cpu", 1)
    assert not {"PGPASSWORD", "PGPASSFILE"} & set(env) and not any(pg.password in v for v in env.values())


def test_an_out_graded_into_its_sqlite_file_is_not_opened_on_a_server(pg, config, tmp_path):
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from benchmarks.written_class import graded_out, planted_class

    out = graded_out(tmp_path / "out", config, planted_class(2, seed=5)).root
    assert (out / "nbgrader" / "gradebook.db").is_file()
    assert "db_url" not in (out / "nbgrader" / "nbgrader_config.py").read_text()  # nbgrader's default: that file
    url = pg.create_database("empty")
    for command in (("export", out, "--allow-pending"), ("grade", out / "nowhere", "--out", out)):
        line = one_line(cli(*command, "--db", url))
        assert "graded into its own SQLite file" in line and "without --db" in line and pg.password not in line
    with Gradebook(url.replace("postgresql://", "postgresql+psycopg://")) as gb:
        assert gb.students == [] and gb.assignments == [], "a refused command wrote into the server's database"


def test_the_gradescope_kit_grades_in_its_own_sqlite_whatever_gradebook_url_says(pg, tmp_path):
    """A course's settings name its TAs' server; Gradescope's container grades each submission in a
    folder of its own (and a settings file holding the password is not zipped for upload)."""
    import zipfile

    from autograder.export.gradescope import run

    settings = tmp_path / "course.toml"
    settings.write_text(f'[gradebook]\nurl = "{pg.url("kernel")}"\n')
    line = one_line(cli("--config", settings, "gradescope", "--profile", "smoke", "--out", tmp_path / "kit.zip"))
    assert "password" in line and pg.password not in line and not (tmp_path / "kit.zip").exists()
    closed = free_port()
    settings.write_text(f'[gradebook]\nurl = "postgresql://grader@127.0.0.1:{closed}/nowhere"\n')
    done = cli("--config", settings, "gradescope", "--profile", "smoke", "--out", tmp_path / "kit.zip")
    assert done.returncode == 0, done.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "kit.zip") as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    (root / "submission" / "alexnet.ipynb").write_text('{"cells": [')  # cut off: graded as failed, no kernel
    (root / "submission_metadata.json").write_text(json.dumps({"users": [{"sid": "s-kit"}]}))
    assert run(root) == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and "notebook" in results["output"].lower(), results["output"]


@pytest.mark.parametrize("url", ["postgresql://grader@127.0.0.1:5432/gb\nx", "postgresql://grader@127.0.0.1:99999/gb",
                                 "postgresql://gra%0Ader@127.0.0.1:1/g%0Ab"])
def test_a_hostile_url_stays_one_line(url, tmp_path):
    line = one_line(cli("export", tmp_path, "--db", url))
    assert "--db" in line or "no gradebook here" in line
