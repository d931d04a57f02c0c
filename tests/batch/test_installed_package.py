"""Grading from a real install: `pip install .` (not editable) into a fresh venv, a course folder
outside the repository, and `alexnet-lab --course COURSE grade` run from somewhere else.

Nothing of the checkout may be needed: not its path, not its source/, not its tests/. The fresh
venv borrows the project's dependencies (torch, nbgrader...) from the development venv through a
.pth line, added after the install so pip sees a venv without the project in it, and their data
files (nbconvert's templates) through JUPYTER_PATH.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from classes import REPO

from autograder.demo.sample_class import answer


def _run(cmd, **kw):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding a non-editable install of this repository; returns its bin/."""
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", venv])
    # The wheel is built with the development venv's setuptools (nothing downloaded), then pip
    # installs it as any user's `pip install .` would; --no-deps: dependencies are borrowed below.
    # Built from a copy of what the package holds, so setuptools' build/ never lands in the checkout.
    tree = root / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "grading_config.py"):
        shutil.copy2(REPO / name, tree / name)
    for package in ("alexnet_core", "autograder"):
        shutil.copytree(REPO / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "--disable-pip-version-check", "-w", root / "dist", tree])
    wheel = next((root / "dist").glob("alexnet_lab-*.whl"))
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", wheel])
    site = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                     ).stdout.strip())
    (site / "zz_borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def test_the_installed_package_is_not_the_checkout(installed, tmp_path):
    where = _run([installed / "python", "-c", "import alexnet_core, autograder, grading_config; "
                  "print(alexnet_core.__file__, autograder.__file__, grading_config.__file__)"], cwd=tmp_path).stdout
    assert str(REPO) not in where and all(str(installed.parent) in p for p in where.split())


def test_grading_works_from_a_course_folder_outside_the_repository(installed, tmp_path, executed, config):
    course = tmp_path / "my-course"
    shutil.copytree(REPO / "source" / config.course.assignment, course / "source" / config.course.assignment,
                    ignore=shutil.ignore_patterns("__pycache__"))
    # The course's own settings file, read by the installed package: zoe's notebook is the shared
    # run, made with the course's fixed seed, so this course grades with the fixed seed.
    (course / "alexnet-lab.toml").write_text("[identity]\nper_student_seeds = false\n")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nbformat.write(answer(executed), str(inbox / "zoe.ipynb"))
    (inbox / "yan.ipynb").write_text('{"cells": [', encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The venv's bin first (its alexnet-lab), then the development venv's (nbgrader's `alembic`).
    env = dict(os.environ, PATH=f"{installed}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    # The borrowed dependencies' data files too: nbconvert's templates (formgrader's renderer,
    # which reports/inert.py uses) live in the development venv's share/jupyter, where a real
    # install would have them in its own prefix.
    env["JUPYTER_PATH"] = str(Path(sysconfig.get_paths()["data"]) / "share" / "jupyter")
    _run([installed / "alexnet-lab", "--course", course, "grade", inbox, "--out", tmp_path / "out",
          "--profile", "smoke", "--runners", "1"], cwd=elsewhere, env=env)
    with (tmp_path / "out" / "grades.csv").open(newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert rows["zoe"]["status"] == "graded", rows["zoe"]
    automatic = sum(config.points.checks().values())
    assert float(rows["zoe"]["total"]) == automatic, rows["zoe"]["reason"]
    assert rows["yan"]["status"] == "failed" and "not valid JSON" in rows["yan"]["reason"]


def test_without_a_course_the_grader_says_where_it_looked(installed, tmp_path):
    done = subprocess.run([str(installed / "alexnet-lab"), "grade", str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert "no course here" in done.stderr and "--course" in done.stderr and len(done.stderr.splitlines()) == 1
