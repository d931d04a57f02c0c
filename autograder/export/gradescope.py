"""Gradescope's autograder: the zip Gradescope takes (`alexnet-lab gradescope`), and the run its
`run_autograder` makes for each submission (`python -m autograder.export.gradescope run`).

Gradescope ("Autograder Specifications") unpacks the zip into /autograder/source, runs its
`setup.sh` once to build an image, then for each submission runs `run_autograder` in /autograder
with the student's files in `submission/` and `submission_metadata.json` beside them, and shows
`results/results.json`. The zip holds, at its root:

    setup.sh, run_autograder   gradescope_kit/ (installed with the package)
    requirements.txt           the grader's packages, from this package's own requirements
    kit.json                   the profile it grades with, the assignment and notebook names
    package/                   this package's code (alexnet_core, autograder, grading_config.py)
    course/                    the course folder: source/<assignment>/ (master, figures, reference
                               envelopes), release/ when present, the course's alexnet-lab.toml

`run` lays the submission out as an nbgrader `submitted/<id>/<assignment>/<notebook>.ipynb` tree
(the id from the metadata's `users[0]`: `sid`, else `email`, else `id`; its `created_at` as
timestamp.txt), grades it with `alexnet-lab grade`, and copies the student's `gradescope.json`
(reports/feedback.py: gradescope_json) to results.json: written answers go to Gradescope's own
manual questions, so they stand there without a score, never as 0. A submission with no notebook
gets 0 with the reason; a grader that could not run writes no results.json and exits 1, so
Gradescope reports an autograder error instead of a grade.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from autograder.batch.collect import safe_id
from autograder.config import COURSE_CONFIG_FILE
from autograder.course import CourseFolder, NbgraderRoot, OutputFolder
from autograder.database import mask
from autograder.errors import LabError
from autograder.files import atomic_write
from autograder.reports import feedback
from grading_config import Course, GradingConfig, Profile

ROOT_ENV = "ALEXNET_LAB_AUTOGRADER_ROOT"
DEFAULT_ROOT = Path("/autograder")
KIT = Path(__file__).with_name("gradescope_kit")
KIT_SCRIPTS = ("setup.sh", "run_autograder")
KIT_FILE = "kit.json"
PACKAGE_DIR = "package"
COURSE_DIR = "course"
DISTRIBUTION = "alexnet-lab"
EXECUTABLE = 0o100755 << 16
"""A zip member's mode (external_attr's high bits): run_autograder must stay executable."""


# -- building the zip ---------------------------------------------------------------------------
def requirements() -> list[str]:
    """The packages the grader needs (the distribution's own list, with its `grader` extra)."""
    from packaging.requirements import Requirement

    wanted = []
    for line in importlib.metadata.requires(DISTRIBUTION) or []:
        req = Requirement(line)
        if req.name == DISTRIBUTION or (req.marker is not None and not req.marker.evaluate({"extra": "grader"})):
            continue
        req.marker = None
        wanted.append(str(req))
    return wanted


def _package_files() -> list[tuple[Path, str]]:
    """(file, name in the zip) for the code of this package, as it is imported now."""
    import alexnet_core
    import autograder
    import grading_config

    files = [(Path(grading_config.__file__), f"{PACKAGE_DIR}/grading_config.py")]
    for module in (alexnet_core, autograder):
        top = Path(module.__file__).parent
        for path in sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.append((path, f"{PACKAGE_DIR}/{top.name}/{path.relative_to(top).as_posix()}"))
    return files


def _course_files(course: CourseFolder) -> list[tuple[Path, str]]:
    files = []
    for folder in (course.assignment_dir, course.root / "release"):
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                files.append((path, f"{COURSE_DIR}/{path.relative_to(course.root).as_posix()}"))
    return files


def build_kit(course: CourseFolder, config: GradingConfig, profile: Profile, target: Path,
              config_file: Path | None = None) -> Path:
    """The zip to upload as the assignment's autograder, grading with `profile` (one of the config's,
    resolved by the CLI); `config_file`: the course's settings file (shipped as the kit course's
    alexnet-lab.toml, so grading there reads the same settings)."""
    name = profile.name
    if not course.envelope(name).is_file():
        raise LabError(f"{course.envelope(name)}: no reference envelope for profile {name!r}, so the kit could "
                       f"not grade; build it first: alexnet-lab reference --profile {name}")
    if mask(config.gradebook.url) != config.gradebook.url:  # the settings file goes into the zip
        raise LabError(f"{config_file or 'the settings'}: gradebook.url holds the gradebook's password, which the "
                       "kit would upload to Gradescope; take it out of the URL (PGPASSWORD or ~/.pgpass hold it)")
    kit = {"profile": name, "synthetic": bool(profile.synthetic),
           "assignment": config.course.assignment, "notebook": config.course.notebook}
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in KIT_SCRIPTS:
            info = zipfile.ZipInfo(name)
            info.external_attr = EXECUTABLE
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (KIT / name).read_bytes())
        zf.writestr("requirements.txt", "\n".join(requirements()) + "\n")
        zf.writestr(KIT_FILE, json.dumps(kit, indent=1))
        for path, name in _package_files() + _course_files(course):
            zf.write(path, name)
        if config_file is not None:
            zf.write(config_file, f"{COURSE_DIR}/{COURSE_CONFIG_FILE}")
    os.replace(partial, target)
    return target


# -- one submission on Gradescope -------------------------------------------------------------
def student_id(metadata: dict) -> str:
    """The submitter's id: Gradescope's `sid` (the roster's student id), else email, else user id."""
    users = metadata.get("users") if isinstance(metadata, dict) else None
    user = users[0] if isinstance(users, list) and users and isinstance(users[0], dict) else {}
    for key in ("sid", "email", "id"):
        value = user.get(key)
        if value not in (None, ""):
            return str(value)
    return "student"


def pick_notebook(folder: Path, notebook: str) -> tuple[Path | None, str]:
    """The submitted notebook (the assignment's own name first), else None and why, for the student."""
    found = sorted(p for p in folder.rglob("*.ipynb") if p.is_file() and ".ipynb_checkpoints" not in p.parts)
    named = [p for p in found if p.name == f"{notebook}.ipynb"]
    if len(named) == 1:
        return named[0], ""
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"No notebook (.ipynb) in your submission: upload your {notebook}.ipynb."
    names = ", ".join(p.relative_to(folder).as_posix() for p in found[:10])
    return None, f"Several notebooks in your submission ({names}) and none named {notebook}.ipynb: upload only yours."


def not_graded(reason: str) -> dict:
    """results.json for a submission that cannot be graded at all: 0, and why."""
    return feedback.gradescope_results([feedback.gradescope_test("notebook submitted", 0.0, 0.0, reason)], 0.0, reason)


def run(root: Path, python: str = sys.executable) -> int:
    """Grade /autograder/submission and write /autograder/results/results.json; the exit status."""
    root = Path(root)
    source, results = root / "source", root / "results" / "results.json"
    kit = json.loads((source / KIT_FILE).read_text(encoding="utf-8"))
    try:
        metadata = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    notebook, problem = pick_notebook(root / "submission", kit["notebook"])
    if notebook is None:
        atomic_write(results, json.dumps(not_graded(problem), indent=2))
        print(problem)
        return 0
    sid = safe_id(student_id(metadata))  # a folder name: an email or odd sid must not leave the tree
    work = Path(tempfile.mkdtemp(prefix="alexnet-lab-gradescope-"))
    try:
        folder = work / "submitted" / sid / kit["assignment"]
        folder.mkdir(parents=True)
        shutil.copyfile(notebook, folder / f"{kit['notebook']}.ipynb")
        if isinstance(metadata.get("created_at"), str):  # when Gradescope received it (nbgrader's timestamp.txt)
            (folder / "timestamp.txt").write_text(metadata["created_at"], encoding="utf-8")
        out = work / "out"
        # One submission, graded in a folder of its own: its own SQLite gradebook, whatever server
        # database the course's gradebook.url names for its TAs (not Gradescope's to reach).
        own = NbgraderRoot(out / OutputFolder.NBGRADER, Course()).gradebook_url
        command = [python, "-m", "autograder.cli", "--course", str(source / COURSE_DIR), "grade",
                   str(work / "submitted"), "--out", str(out), "--profile", kit["profile"], "--runners", "1",
                   "--db", own]
        print("+ " + " ".join(command), flush=True)
        done = subprocess.run(command, stdin=subprocess.DEVNULL)
        graded = sorted(p for p in out.glob(f"*/{OutputFolder.GRADESCOPE}") if p.parent.name != OutputFolder.NBGRADER)
        if len(graded) != 1:
            print(f"alexnet-lab grade exited {done.returncode} without a result for {sid}: no results.json written, "
                  "so Gradescope reports an autograder error (the lines above say why)", file=sys.stderr)
            return 1
        atomic_write(results, graded[0].read_text(encoding="utf-8"))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.export.gradescope",
                                     description="Grade one Gradescope submission (what run_autograder runs).")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json")
    r.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT))
    args = parser.parse_args(argv)
    return run(args.root)


if __name__ == "__main__":
    sys.exit(main())
