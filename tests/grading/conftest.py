"""Session fixtures of the grading tests: one course root, one student run, three graded submissions.

Executing notebooks is what costs time, so the session does it as few times as it can: the
student's run of the release is the shared one from tests/notebooks.py, and the complete, blank
and tampered submissions are graded once, two at a time (one torch thread each), and shared.
"""
import copy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import notebooks
import pytest
import scheduling

from alexnet_core.contract import TRAJECTORY_MIME
from autograder.authoring.reference import load_reference
from autograder.authoring.release import register
from autograder.config import select_profile
from autograder.course import NbgraderRoot
from autograder.demo.sample_class import type_id
from autograder.submission.job import Job, run_job
from autograder.submission.sanitise import prepare

HAND_EDITED = [9.9, 40.0, 60.0, 70.0, 80.0, 90.0]


@pytest.fixture(scope="session")
def course_root(tmp_path_factory, course, config) -> Path:
    """An nbgrader course root with the assignment registered (what `grade` makes itself)."""
    root = tmp_path_factory.mktemp("course")
    register(root, course.master, config, profile=select_profile(config, "smoke"))
    return root


@pytest.fixture(scope="session")
def release_nb():
    """The committed student release, as downloaded (no outputs, no answers)."""
    return nbformat.read(str(notebooks.release_path()), as_version=4)


@pytest.fixture(scope="session")
def student_run(tmp_path_factory):
    """The release run end to end by a student in the smoke profile (shared across suites), with a
    student id in its id cell: the run itself is the fixed seed's (the shared run leaves the cell
    empty), which is the seed these runner-level jobs grade with."""
    return type_id(notebooks.executed_release(tmp_path_factory), "s1234567")


def write(folder: Path, name: str, nb) -> Path:
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def tampered_copy(student_run):
    """A complete submission with edited code, a hand-edited training output and a stray code cell."""
    nb = notebooks.answer_all(student_run)
    train = notebooks.cell_by_id(nb, "train")
    train.source = train.source.replace("num_epochs=profile.epochs", "num_epochs=1")
    for out in train.outputs:
        record = out.get("data", {}).get(TRAJECTORY_MIME)
        if record:
            record["accuracy"] = list(HAND_EDITED)
    nb.cells.append(nbformat.v4.new_code_cell("import os\nprint(os.listdir('/'))"))
    return nb


@pytest.fixture(scope="session")
def submissions(tmp_path_factory, student_run, release_nb) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("submissions")
    # The shared run is the fixed seed's (its id cell was empty); these jobs are graded with that
    # seed (the `smoke` profile as given, not the coordinator's per-student seed), so typing the
    # submitter's id afterwards makes them a student's complete submission.
    return {
        "complete": write(folder, "complete", type_id(notebooks.answer_all(student_run), "complete")),
        "blank": write(folder, "blank", copy.deepcopy(release_nb)),
        "tampered": write(folder, "tampered", type_id(tampered_copy(student_run), "tampered")),
    }


@pytest.fixture(scope="session")
@scheduling.one_worker  # three real runs: built once, for the files on one worker
def graded(submissions, course_root, course, config, smoke):
    """SubmissionResult per submission, plus each file's bytes before grading."""
    before = {name: path.read_bytes() for name, path in submissions.items()}
    reference = load_reference(course, smoke)
    jobs = {name: Job(prepare(name, path, NbgraderRoot(course_root, config.course), course.master, smoke, config), smoke, "cpu", 1, reference,
                      config.limits, config.points, hide=(str(course_root),))
            for name, path in submissions.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(jobs, pool.map(run_job, jobs.values())))
    return results, before
