"""`alexnet-lab release` reproduces the committed release; `register` makes a course root, idempotently."""
import shutil

import nbformat
import notebooks
import pytest
from nbgrader.api import Gradebook
from notebooks import CONFIG, REPO

from autograder.authoring.release import build_release, register
from autograder.cli import main
from autograder.config import select_profile
from autograder.course import CourseFolder
from autograder.errors import ReleaseError

COURSE = CONFIG.course
MASTER = CourseFolder(REPO, COURSE).master


def test_release_rebuilds_the_committed_release_exactly(tmp_path):
    # A copy of the course's source/ in a scratch root: the test never rewrites the repository.
    shutil.copytree(MASTER.parent, tmp_path / "source" / COURSE.assignment,
                    ignore=shutil.ignore_patterns("reference", "__pycache__"))
    folder = build_release(CourseFolder(tmp_path, COURSE), CONFIG, select_profile(CONFIG))
    committed = notebooks.release_path().parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in committed.iterdir())
    for built in folder.iterdir():
        assert built.read_bytes() == (committed / built.name).read_bytes(), (
            f"{built.name} differs from the committed release: run `alexnet-lab release` and commit release/")
    # The course folder gets the release and nothing else: no gradebook, no build folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release", "source"]
    assert folder == tmp_path / "release" / CONFIG.course.default_variant / COURSE.assignment


def test_variants_are_released_side_by_side(tmp_path):
    shutil.copytree(MASTER.parent, tmp_path / "source" / COURSE.assignment,
                    ignore=shutil.ignore_patterns("reference", "__pycache__"))
    course = CourseFolder(tmp_path, COURSE)
    for variant, profile in (("colab", "full"), ("local", "smoke"), ("colab", "full")):
        assert main(["--course", str(tmp_path), "release", "--variant", variant, "--profile", profile]) == 0
    stamps = {p.parent.parent.name: nbformat.read(str(p), 4).metadata.alexnet_lab for p in course.released_notebooks()}
    assert {v: (s["variant"], s["profile"]) for v, s in stamps.items()} == {
        "colab": ("colab", "full"), "local": ("local", "smoke")}
    assert not (tmp_path / "gradebook.db").exists() and not list((tmp_path / "release").glob("*/*.new"))


def _add_submission(db):
    with Gradebook(f"sqlite:///{db}", COURSE.course_id) as gb:
        gb.update_or_create_student("ada")
        gb.add_submission(COURSE.assignment, "ada")


# nbgrader's own add_submission trips SQLAlchemy autoflush warnings; they are nbgrader's, not ours.
@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
def test_register_makes_an_nbgrader_course_root(tmp_path):
    db = register(tmp_path, MASTER, CONFIG, profile=select_profile(CONFIG, "smoke"))
    assert db == tmp_path / "gradebook.db" and (tmp_path / "nbgrader_config.py").exists()
    source = nbformat.read(str(tmp_path / "source" / COURSE.assignment / f"{COURSE.notebook}.ipynb"), 4)
    assert source.metadata.alexnet_lab["variant"] == "local" and source.metadata.alexnet_lab["profile"] == "smoke"
    assert "### BEGIN HIDDEN TESTS" in notebooks.cell_by_id(source, "check_trajectory").source
    points = CONFIG.points
    total = sum(points.questions.values()) + points.trajectory + points.evidence + points.kernel_plots
    with Gradebook(f"sqlite:///{db}", COURSE.course_id) as gb:
        assignment = gb.find_assignment(COURSE.assignment)
        assert assignment.max_score == total
        assert {c.name for c in assignment.notebooks[0].grade_cells} >= {"check_trajectory", "answer_q4b"}

    # Again, with a submission already recorded: no error, nothing lost.
    _add_submission(db)
    assert register(tmp_path, MASTER, CONFIG, profile=select_profile(CONFIG, "smoke")) == db
    with Gradebook(f"sqlite:///{db}", COURSE.course_id) as gb:
        assert len(gb.find_assignment(COURSE.assignment).submissions) == 1
    # The same cells under another profile (only markdown differs) may be registered over it.
    register(tmp_path, MASTER, CONFIG, profile=select_profile(CONFIG, "full"))
    with Gradebook(f"sqlite:///{db}", COURSE.course_id) as gb:
        assert len(gb.find_assignment(COURSE.assignment).submissions) == 1

    # A master with a question removed after grading started is refused with the reason.
    changed = tmp_path / "master" / f"{COURSE.notebook}.ipynb"
    changed.parent.mkdir()
    (changed.parent / "figures").symlink_to(MASTER.parent / "figures")
    nb = nbformat.read(str(MASTER), 4)
    nb.cells = [c for c in nb.cells if c.get("id") not in ("question_q4b", "answer_q4b")]
    nbformat.write(nb, str(changed))
    with pytest.raises(ReleaseError, match="submission"):
        register(tmp_path, changed, CONFIG, profile=select_profile(CONFIG, "smoke"))


@pytest.mark.parametrize("argv, reason", [
    (["--course", str(REPO), "release", "--variant", "kaggle"], "Valid variants:"),
    (["--course", str(REPO), "release", "--profile", "huge"], "Valid profiles:"),
])
def test_release_refuses_unknown_names_in_one_line(argv, reason, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1
