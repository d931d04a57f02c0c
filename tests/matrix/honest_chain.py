"""The honest-student matrix: an honest student gets every automatic point and no flag, whatever
the course changed (the tests: test_course_*.py beside this file).

Each course below changes the lab the way an instructor does, in its own folder: the master
(a question added or removed) and its settings file (epochs, learning rate, points, a new profile,
per-student seeds off, the variant). Then the whole chain runs as its users run it, with nobody
setting $ALEXNET_LAB_PROFILE: the instructor rebuilds the envelope where the recipe changed and
releases; the student runs the release as given with their own id, answers every question the
release asks and runs `alexnet-lab check` (READY) without the course's files; the TA grades with
no --profile (the release says which), grades the answers, exports; and the LMS files and the
final feedback are read. One course also changes a question's points after grading and regrades,
as `export` asks.

Changes are combined in two courses (each a full run of the chain costs about a minute on two
cores); the lab as shipped walks the same chain in the demo and the batch tests. What is shared
is the synthetic data cache.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbclient import NotebookClient

from alexnet_core.contract import TRAJECTORY_MIME, answer_cells, grade_id
from alexnet_core.identity import ID_CELL, ID_VARIABLE
from alexnet_core.profiles import PROFILE_ENV, RECIPE_ENV
from autograder.cli import main
from autograder.config import load_config
from autograder.course import CourseFolder, OutputFolder
from autograder.demo.export import enter_manual_grade

REPO = Path(__file__).resolve().parents[2]
MASTER_FOLDER = REPO / "source" / "alexnet"


def add_question_q5(nb):
    """A fifth question and its answer cell before the conclusion, as an instructor adds one."""
    template_q = next(c for c in nb.cells if grade_id(c) == "question_q4b")
    template_a = next(c for c in nb.cells if grade_id(c) == "answer_q4b")
    question = nbformat.from_dict(json.loads(json.dumps(template_q)))
    answer = nbformat.from_dict(json.loads(json.dumps(template_a)))
    question.id, answer.id = "question_q5", "answer_q5"
    question.source = "### Question 5\n\n**[Q5]** In one or two sentences: what surprised you most in this lab?"
    question.metadata.nbgrader["grade_id"] = "question_q5"
    answer.metadata.nbgrader["grade_id"] = "answer_q5"
    answer.metadata.alexnet_lab = {"question": "Q5", "rubric": "2 points: an honest, specific observation."}
    at = next(i for i, c in enumerate(nb.cells) if c.get("id") == "conclusion")
    nb.cells[at:at] = [question, answer]


def remove_question_q4b(nb):
    nb.cells = [c for c in nb.cells if grade_id(c) not in ("question_q4b", "answer_q4b")]


@dataclass(frozen=True)
class Course:
    name: str
    settings: str
    variant: str
    profile: str
    student: str
    edit_master: object = None
    rebuild_envelope: bool = False
    regrade_after: tuple = ()
    """(setting, its new value) written into the settings after grading, then `grade --regrade`."""


COURSES = [
    # Its own recipe (4 epochs, another learning rate), other points and a fifth question, released
    # for JupyterHub; after grading, Q1's points change again and the TA regrades, as `export` asks.
    Course("recipe-points-q5-regrade",
           "[profiles.smoke]\nepochs = 4\nlr = 0.02\nreference_seeds = 4\n"
           "[points]\ntrajectory = 4\n[points.questions]\nQ1 = 3\nQ5 = 2\n",
           "local", "smoke", "s2000002", edit_master=add_question_q5, rebuild_envelope=True,
           regrade_after=("Q1 = 3", "Q1 = 1")),
    # The Colab variant of a profile of its own, Q4b removed, everyone on the course's fixed seed.
    Course("colab-own-profile-fixed-seed-no-q4b",
           "[profiles.quick]\nbase = \"smoke\"\nepochs = 3\nreference_seeds = 4\n"
           "[identity]\nper_student_seeds = false\n[course]\ndefault_variant = \"colab\"\n",
           "colab", "quick", "s3000003", edit_master=remove_question_q4b, rebuild_envelope=True),
]


def make_course(root: Path, case: Course) -> CourseFolder:
    """A course folder of its own: a copy of the lab's source/, edited as the case says."""
    shutil.copytree(MASTER_FOLDER, root / "source" / "alexnet", ignore=shutil.ignore_patterns("__pycache__"))
    master = root / "source" / "alexnet" / "alexnet.ipynb"
    if case.edit_master:
        nb = nbformat.read(str(master), as_version=4)
        case.edit_master(nb)
        nbformat.write(nb, str(master))
    (root / "alexnet-lab.toml").write_text(case.settings)
    return CourseFolder(root, load_config(None, root).config.course)


def run_as_student(release: Path, workdir: Path, student: str, labels: list[str]) -> Path:
    """The release run as given (no profile in the environment: the notebook trains what the
    release says), with the student's id typed in and every question answered; saved."""
    workdir.mkdir(parents=True)
    for item in release.parent.iterdir():
        shutil.copy2(item, workdir / item.name)
    nb = nbformat.read(str(workdir / release.name), as_version=4)
    cell = next(c for c in nb.cells if grade_id(c) == ID_CELL)
    cell.source = cell.source.replace(f'{ID_VARIABLE} = ""', f'{ID_VARIABLE} = "{student}"')
    env = {k: v for k, v in os.environ.items() if k not in (PROFILE_ENV, RECIPE_ENV, "MPLBACKEND")}
    env["OMP_NUM_THREADS"] = "1"
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute(env=env, cwd=str(workdir))
    before = next(rec["accuracy"][0] for c in nb.cells for out in c.get("outputs", [])
                  if isinstance(rec := out.get("data", {}).get(TRAJECTORY_MIME), dict))
    cells = answer_cells(nb, labels)
    assert sorted(cells) == sorted(labels)
    for label, answer_cell in cells.items():
        answer_cell.source = (f"My own run printed {before:.1f}% before training." if label == "Q3a" else
                              f"{student}'s own answer to {label}: the kernels pick up colour and edges.")
    path = workdir.parent / f"{student}.ipynb"
    nbformat.write(nb, str(path))
    return path


def automatic(result: dict) -> dict:
    return {c["name"]: (c["score"], c["max_score"]) for c in result["checks"]}


def assert_honest_result(result: dict, case: Course) -> None:
    assert result["status"] == "graded", result.get("reason")
    assert result["flags"] == [], f"{case.name}: an honest student was flagged: {result['flags']}"
    for name, (score, worth) in automatic(result).items():
        assert score == worth, f"{case.name}: {name} {score}/{worth}: {result}"


def walk_the_chain(case: Course, tmp_path: Path, monkeypatch, capsys) -> None:
    """The whole chain for one course's honest student (the tests are one file per course, so
    the two courses, about a minute each, can run at once under pytest-xdist)."""
    monkeypatch.delenv(PROFILE_ENV, raising=False)  # nobody tells any command the profile
    course = make_course(tmp_path / "course", case)
    cli = ["--course", str(course.root)]
    if case.rebuild_envelope:
        assert main([*cli, "reference", "--profile", case.profile]) == 0
    assert main([*cli, "release", "--variant", case.variant, "--profile", case.profile]) == 0
    release = course.release_notebook(case.variant)
    stamp = nbformat.read(str(release), as_version=4).metadata.alexnet_lab
    config = load_config(None, course.root).config
    labels = stamp["questions"]
    assert stamp["recipe"]["epochs"] == config.profiles[case.profile].epochs

    # The student: runs the release, answers, checks (no course file in sight), submits.
    submission = run_as_student(release, tmp_path / "student" / "work", case.student, labels)
    capsys.readouterr()
    assert main(["check", str(submission)]) == 0, capsys.readouterr().out
    record = next(rec for c in nbformat.read(str(submission), 4).cells for out in c.get("outputs", [])
                  if isinstance(rec := out.get("data", {}).get(TRAJECTORY_MIME), dict))
    assert record["epochs"] == config.profiles[case.profile].epochs and record["profile"] == case.profile

    # The TA: grades without --profile, every answer by hand, exports.
    out = tmp_path / "grading"
    assert main([*cli, "grade", str(submission), "--out", str(out)]) == 0
    folder = OutputFolder(out, config.course)
    result = json.loads((folder.student(case.student) / OutputFolder.GRADED).read_text())
    assert_honest_result(result, case)
    assert [a["label"] for a in result["answers"]] == labels

    if case.regrade_after:
        settings = course.root / "alexnet-lab.toml"
        settings.write_text(settings.read_text().replace(*case.regrade_after))
        config = load_config(None, course.root).config
        assert main([*cli, "grade", str(submission), "--out", str(out), "--regrade"]) == 0
        result = json.loads((folder.student(case.student) / OutputFolder.GRADED).read_text())
        assert_honest_result(result, case)

    bound = {label: config.points.questions[label] for label in labels}
    for label, worth in bound.items():
        enter_manual_grade(out, config, case.student, label, worth, comment=f"Good answer to {label}.")
    capsys.readouterr()
    assert main([*cli, "export", str(out)]) == 0, capsys.readouterr().err
    full = sum(bound.values()) + sum(config.points.checks().values())

    final = out / "final"
    with (final / "final_grades.csv").open(newline="", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["student_id"] == case.student)
    assert float(row["total"]) == pytest.approx(full) and float(row["max_total"]) == pytest.approx(full)
    # Every LMS file names the student with the full total (read as the LMS reads CSV).
    for lms_file in sorted(final.glob("*.csv")):
        text = lms_file.read_text(encoding="utf-8-sig")
        if case.student in text:
            assert any(f"{full:g}" in line or f"{full:.2f}" in line for line in text.splitlines()
                       if case.student in line), f"{lms_file.name}: {case.student}'s total is not {full:g}"
    page = BeautifulSoup((folder.student(case.student) / OutputFolder.FEEDBACK).read_text(), "html.parser")
    text = page.get_text(" ")
    assert "Good answer to Q1." in text
    assert len(page.find_all("img")) >= 3, "the final feedback lost the kernel pictures"
