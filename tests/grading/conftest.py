"""Session fixtures of the grading tests: one course root, one student run, three graded submissions.

Executing notebooks is what costs time, so the session does it as few times as it can: the
student's run of the release is the shared one from tests/notebooks.py, and the complete, blank
and tampered submissions are graded once, two at a time (one torch thread each), and shared.
"""
import copy
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import notebooks  # noqa: E402

from autograder.prepare import prepare  # noqa: E402
from autograder.runner import Job, load_reference, run_job  # noqa: E402
from grading_config import CONFIG, active_profile  # noqa: E402

# nbgrader runs `alembic` from PATH (shared/NOTES.md).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

HAND_EDITED = [9.9, 40.0, 60.0, 70.0, 80.0, 90.0]


@pytest.fixture(scope="session")
def smoke():
    return active_profile("smoke")


@pytest.fixture(scope="session")
def course_root(tmp_path_factory) -> Path:
    """An nbgrader course root with the assignment registered (what `grade` makes itself)."""
    from autograder.release import register

    root = tmp_path_factory.mktemp("course")
    register(root, profile="smoke")
    return root


@pytest.fixture(scope="session")
def release_nb():
    """The committed student release, as downloaded (no outputs, no answers)."""
    return nbformat.read(str(notebooks.release_path()), as_version=4)


@pytest.fixture(scope="session")
def student_run(tmp_path_factory):
    """The release run end to end by a student in the smoke profile (shared across suites)."""
    return notebooks.executed_release(tmp_path_factory)


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
        record = out.get("data", {}).get("application/vnd.alexnet-lab.trajectory+json")
        if record:
            record["accuracy"] = list(HAND_EDITED)
    nb.cells.append(nbformat.v4.new_code_cell("import os\nprint(os.listdir('/'))"))
    return nb


@pytest.fixture(scope="session")
def submissions(tmp_path_factory, student_run, release_nb) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("submissions")
    return {
        "complete": write(folder, "complete", notebooks.answer_all(student_run)),
        "blank": write(folder, "blank", copy.deepcopy(release_nb)),
        "tampered": write(folder, "tampered", tampered_copy(student_run)),
    }


@pytest.fixture(scope="session")
def graded(submissions, course_root, smoke):
    """SubmissionResult per submission, plus each file's bytes before grading."""
    before = {name: path.read_bytes() for name, path in submissions.items()}
    reference = load_reference(smoke)
    jobs = {name: Job(prepare(name, path, course_root, smoke), smoke.name, "cpu", 1, reference,
                      CONFIG.limits, hide=(str(course_root),))
            for name, path in submissions.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(jobs, pool.map(run_job, jobs.values())))
    return results, before
