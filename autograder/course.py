"""Every path the grader uses, from two roots, as nbgrader's CourseDirectory does for its own.

`CourseFolder` is the instructor's course (this repository, or a copy of its `source/` and
`release/` anywhere): the Jinja master, its figures, the reference envelopes, the release. The
grader finds it from `--course`, else the current folder; an installed package never assumes it
sits inside one.

`OutputFolder` is where `alexnet-lab grade --out OUT` writes: per-student folders, the class
tables, the coordinator's scratch and an nbgrader course root for formgrader and `nbgrader export`.

`NbgraderRoot` is an nbgrader course root, laid out as nbgrader expects (`gradebook.db`,
`source/<assignment>/<notebook>.ipynb`, `autograded/<student>/...`): `OUT/nbgrader` is one for
grading; the release builds in a throwaway one and copies only the release into the course folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.database import describe
from autograder.errors import ConfigError
from grading_config import Course, GradingConfig

TIMESTAMP_FILE = "timestamp.txt"
"""nbgrader's record of when a submission was handed in, beside it in `submitted/` trees."""
FIGURES_DIR = "figures"
"""Beside the master: pictures its markdown links as `![..](attachment:NAME)`, embedded by the
renderer so the release shows them offline and in Colab, where relative links do not resolve."""


@dataclass(frozen=True)
class NbgraderRoot:
    root: Path
    course: Course
    db_url: str = ""
    """The gradebook's address (`gradebook.url` or `--db`, normalised by autograder/database.py);
    empty: the SQLite file `gradebook` in this root."""

    @property
    def gradebook(self) -> Path:
        """The course root's own SQLite file (the gradebook unless `db_url` names another)."""
        return self.root / "gradebook.db"

    @property
    def gradebook_url(self) -> str:
        """The one URL every command opens the gradebook with (and nbgrader_config.py's db_url)."""
        return self.db_url or f"sqlite:///{self.gradebook.resolve()}"

    @property
    def gradebook_shown(self) -> str:
        """The gradebook for a message: its file, or its server and database (never a password)."""
        return describe(self.gradebook_url)

    @property
    def config_file(self) -> Path:
        return self.root / "nbgrader_config.py"

    def source_notebook(self, source_directory: str = "source") -> Path:
        """The assignment's nbgrader source notebook (with hidden tests)."""
        return self.root / source_directory / self.course.assignment / f"{self.course.notebook}.ipynb"

    def release_dir(self) -> Path:
        return self.root / "release" / self.course.assignment

    def submitted(self, student_id: str) -> Path:
        """nbgrader's `submitted/<student>/<assignment>/` (its timestamp.txt is what formgrader counts)."""
        return self.root / "submitted" / student_id / self.course.assignment

    def autograded(self, student_id: str) -> Path:
        return self.root / "autograded" / student_id / self.course.assignment / f"{self.course.notebook}.ipynb"


@dataclass(frozen=True)
class CourseFolder:
    root: Path
    course: Course

    @classmethod
    def locate(cls, root: Path | None, course: Course) -> CourseFolder:
        """The course at `root` (default: the current folder); ConfigError when it has no master."""
        folder = cls(Path(root or Path.cwd()).resolve(), course)
        if not folder.master.is_file():
            given = "--course" if root else "the current folder"
            raise ConfigError(f"{folder.root}: no course here ({given} has no "
                              f"{folder.master.relative_to(folder.root)}); run from the course folder "
                              "or pass --course COURSE_FOLDER")
        return folder

    @property
    def assignment_dir(self) -> Path:
        return self.root / "source" / self.course.assignment

    @property
    def master(self) -> Path:
        """The Jinja master notebook the instructor edits."""
        return self.assignment_dir / f"{self.course.notebook}.ipynb"

    @property
    def figures(self) -> Path:
        """Pictures the master embeds as attachments (`![..](attachment:NAME)`)."""
        return self.assignment_dir / FIGURES_DIR

    @property
    def envelopes(self) -> Path:
        return self.assignment_dir / "reference"

    def envelope(self, profile_name: str) -> Path:
        """The reference envelope of a profile, built by `alexnet-lab reference`."""
        return self.envelopes / f"{profile_name}.json"

    RELEASE = "release"

    def release_dir(self, variant: str | None = None) -> Path:
        """`release/<variant>/<assignment>/`: each variant keeps its own folder (a course keeps its Colab
        and local releases side by side), laid out as nbgrader's own release folder, so
        `CourseDirectory.release_directory = "release/<variant>"` serves it through nbgrader's exchange."""
        return self.root / self.RELEASE / (variant or self.course.default_variant) / self.course.assignment

    def release_notebook(self, variant: str | None = None) -> Path:
        """The student notebook of a variant's release (default: course.default_variant)."""
        return self.release_dir(variant) / f"{self.course.notebook}.ipynb"

    def released_notebooks(self) -> list[Path]:
        """Every release notebook the course holds: one per variant released, plus the single folder
        of releases made before variants had their own (`release/<assignment>/`)."""
        name = f"{self.course.notebook}.ipynb"
        found = sorted((self.root / self.RELEASE).glob(f"*/{self.course.assignment}/{name}"))
        legacy = self.root / self.RELEASE / self.course.assignment / name
        return found + ([legacy] if legacy.is_file() else [])


@dataclass(frozen=True)
class OutputFolder:
    root: Path
    course: Course
    db_url: str = ""
    """The gradebook's address (see NbgraderRoot.db_url); `of(root, config)` takes it from the config."""

    NBGRADER = "nbgrader"
    WORK = ".work"
    GRADES_CSV = "grades.csv"
    REPORT = "report.html"
    QUESTIONS = "questions"
    FINAL = "final"
    """`alexnet-lab export`'s folder: final grades, the LMS files."""
    OWN_NAMES = frozenset({NBGRADER, WORK, GRADES_CSV, REPORT, QUESTIONS, FINAL})
    """The output's own entries: no student's folder may take one of these names."""
    GRADED = "graded.json"
    """Per student: the whole SubmissionResult, written last and atomically: its presence = done."""
    GRADESCOPE = "gradescope.json"
    """Per student: the result in Gradescope's results.json schema."""
    FEEDBACK = "feedback.html"
    EXECUTED = "executed.ipynb"

    @classmethod
    def of(cls, root: Path, config: GradingConfig) -> OutputFolder:
        """OUT as a command opens it: the course's names and the gradebook the config points at."""
        return cls(Path(root), config.course, config.gradebook.url)

    @property
    def nbgrader(self) -> NbgraderRoot:
        """The nbgrader course root of this batch: formgrader and `nbgrader export` run here."""
        return NbgraderRoot(self.root / self.NBGRADER, self.course, self.db_url)

    def student(self, student_id: str) -> Path:
        return self.root / student_id

    @property
    def work(self) -> Path:
        """The coordinator's private scratch: extracted zips, runner job files, runner logs."""
        return self.root / self.WORK

    @property
    def scratch(self) -> Path:
        """Runs' scratch (the kernel's socket folder, its log); one folder per run, removed when
        the run ends, and the whole folder at the next start after a kill."""
        return self.work / "scratch"

    @property
    def jobs(self) -> Path:
        """Runner job files (a pickled job holds a student's notebook) and results."""
        return self.work / "jobs"

    @property
    def lock(self) -> Path:
        """Held (flock) by the coordinator grading into this folder; says who holds it."""
        return self.work / "grade.lock"

    @property
    def grades_csv(self) -> Path:
        return self.root / self.GRADES_CSV

    @property
    def report(self) -> Path:
        return self.root / self.REPORT

    @property
    def final(self) -> Path:
        return self.root / self.FINAL

    @property
    def questions(self) -> Path:
        return self.root / self.QUESTIONS
