"""The one place an instructor edits numbers: profiles, points, tolerances, limits, runners.

Every field has a default, a one-line help (so `alexnet-lab config` can say what each number
means) and the rule its value obeys (`minimum=`, `above=`, `between=`, `choices=`, `check=`, or
`unchecked="why"`: alexnet_core/settings.py), which `autograder.config.validate` applies to every
field. These are the defaults; an instructor overrides any of them from a TOML file without
editing the package (`alexnet-lab --config FILE`, or $ALEXNET_LAB_CONFIG), and
`autograder.config.load_config` validates the result once. Code takes the loaded config as an
argument; only the CLI reads this module.

A grading profile is the lab's training recipe (`alexnet_core.profiles`, the student's side) plus
the bars a run must clear and the time it may take.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from alexnet_core.contract import (
    ASSIGNMENT,
    CHECK_CELLS,
    LABEL_PATTERN,
    MIN_ANSWER_CHARS,
    MIN_ANSWER_CHARS_BY_QUESTION,
    QUESTIONS,
    SUBMISSION_MB,
)
from alexnet_core.profiles import DEFAULT_RECIPE, RECIPES, Recipe
from alexnet_core.profiles import setting as _f

BACKENDS = ("local", "ray")
LATE_POLICIES = ("none", "per_day", "per_submission")


# ---------------------------------------------------------------- checks beyond bounds and choices
# Each returns None for a good value, else the message after the setting's name (settings.Check).

def _chance_band(band, config) -> str | None:
    numbers = len(band) == 2 and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in band)
    if numbers and 0 <= band[0] <= band[1] <= 100:
        return None
    return f" = {list(band)!r} must be [low, high] percentages, low <= high"


def _a_profile(name, config) -> str | None:
    if name in config.profiles:
        return None
    return f" = {name!r} is not a profile ({', '.join(sorted(config.profiles))})"


def _a_variant(name, config) -> str | None:
    if name in config.course.variants:
        return None
    return f" = {name!r} is not one of course.variants {list(config.course.variants)}"


def _question_points(table, config) -> str | None:
    # Which questions exist is the master's to say (`autograder.config.with_questions`); here only the values.
    for label, value in table.items():
        if not LABEL_PATTERN.fullmatch(str(label)):
            return f".{label} is not a question label (letters and digits, like Q5 or Q3a)"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            return f".{label} = {value!r} must be a number, 0 or more"
    return None


def _question_minimums(table, config) -> str | None:
    for label, value in table.items():
        if not LABEL_PATTERN.fullmatch(str(label)) or isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f".{label} = {value!r} must be a whole number, 0 or more, for a question label (like Q3a)"
    return None


SANDBOX_UIDS = (1000, 2**31 - 2**23)
"""Not a system uid, and room above for a runner's process id (at most 2**22) below 2**31."""


def _sandbox_uid_base(uid, config) -> str | None:
    if SANDBOX_UIDS[0] <= uid <= SANDBOX_UIDS[1]:
        return None
    return (f" = {uid!r} must leave room for a process id below 2**31 and not be a system uid "
            f"({SANDBOX_UIDS[0]} to {SANDBOX_UIDS[1]})")


def _due(text, config) -> str | None:
    # autograder.sources reads due dates and submission times alike (one parser); imported here, when
    # a config is checked, because autograder imports this module.
    from autograder.sources import parse_time

    if not text or parse_time(text) is not None:
        return None
    return f" = {text!r} is not an ISO date and time ('2026-03-01T23:59:00+00:00')"


def _canvas_id(text, config) -> str | None:
    if not text or (text.isascii() and text.isdigit()):
        return None
    return (f" = {text!r} must be the number in the assignment's Canvas address (.../assignments/12345), "
            'as text: "12345"')


def _profiles(table, config) -> str | None:
    if not table:
        return " is empty; keep at least the full profile"
    for name, profile in table.items():
        if not isinstance(profile, Profile) or profile.name != name:
            return f".{name} must be a Profile named {name!r}"
    return None


# ---------------------------------------------------------------- the settings

@dataclass(frozen=True)
class Profile(Recipe):
    """A recipe (which data, how long, how fast) and what a good run of it looks like."""

    chance_band: tuple = _f((5.0, 15.0), "Before-training test accuracy (%) that counts as chance, when the "
                                         "reference envelope has no band measured over its seeds.",
                            check=_chance_band)
    chance_margin: float = _f(3.0, "Points around the reference seeds' before-training accuracies that count as "
                                   "chance (about 2 standard deviations of the measured spread).",
                            minimum=0)
    final_floor: float = _f(45.0, "Lowest final test accuracy (%) of a re-run that raises no runner alarm (the "
                                  "points are kept either way).", between=(0, 100))
    envelope_margin: float = _f(5.0, "Percentage points added around the reference envelope.", minimum=0)
    reference_seeds: int = _f(12, "Seeds `alexnet-lab reference` trains: the default seed and 11 drawn as "
                                  "student seeds are, so the envelope covers a class of seeds.", above=0)
    evidence_tolerance: float = _f(5.0, "Max |submitted - re-executed| accuracy (points) before a flag.", minimum=0)
    cell_timeout_s: int = _f(600, "Per-cell execution limit in seconds when grading (training is one cell).", above=0)
    notebook_timeout_s: int = _f(1800, "Whole-notebook execution limit in seconds when grading.", above=0)


def _profile(recipe: Recipe, **bars) -> Profile:
    return replace(Profile(), **{**recipe.__dict__, **bars})


PROFILES: dict[str, Profile] = {
    "full": _profile(RECIPES["full"]),
    # The full-size lab on synthetic data: the full profile's bars, its own envelope (built on this
    # project's 2-core CPU in 46 min; `alexnet-lab reference --profile full-synthetic` rebuilds it).
    "full-synthetic": _profile(RECIPES["full-synthetic"]),
    # Smoke's floor and margin: chosen with benchmarks/bench_false_reject.py (docs/instructor.md, "The envelope
    # and the runner alarm") so that an honest seed alarms at a modelled rate of at most 1 in 10,000.
    "smoke": _profile(RECIPES["smoke"], final_floor=30.0, envelope_margin=5.0,
                      cell_timeout_s=120, notebook_timeout_s=300),
}


@dataclass(frozen=True)
class Course:
    course_id: str = _f("alexnet-lab", "nbgrader course id.", unchecked="any name nbgrader takes")
    assignment: str = _f(ASSIGNMENT, "Assignment name: folder under source/ and release/.",
                         unchecked="a folder name; CourseFolder finds the master under it or says so")
    notebook: str = _f("alexnet", "Notebook file name (without .ipynb) inside the assignment.",
                       unchecked="a file name; CourseFolder finds the master by it or says so")
    default_profile: str = _f(DEFAULT_RECIPE, "Profile used when neither --profile nor ALEXNET_LAB_PROFILE is set.",
                             check=_a_profile)
    default_variant: str = _f("colab", "Variant `alexnet-lab release` builds when --variant is not given.",
                             check=_a_variant)
    variants: tuple = _f(("colab", "local"), "Variants the master can be rendered as.",
                      unchecked="names the master's own {% if variant %} blocks give a meaning")
    repository_url: str = _f(
        "https://github.com/alexnet-lab/alexnet-lab",
        "Where the colab variant pip-installs alexnet_core from.",
        unchecked="any address pip takes; the colab variant's install cell shows it",
    )


@dataclass(frozen=True)
class Points:
    """Points per question and per automatic check; totals are derived, never typed twice."""

    questions: dict = _f(
        dict(zip(QUESTIONS, (2, 2, 1, 1, 1, 1, 2))),
        "Manually graded points per free-text question (one entry per question of the lab).",
        check=_question_points,
    )
    trajectory: float = _f(3, "Re-executed trajectory inside the reference envelope.", minimum=0)
    evidence: float = _f(1, "Submitted outputs present and agreeing with the re-execution.", minimum=0)
    kernel_plots: float = _f(2, "Three kernel plots produced; trained kernels differ from untrained.", minimum=0)
    min_answer_chars: int = _f(MIN_ANSWER_CHARS, "Shortest answer (after trimming) that is not marked short for the TA "
                                                 "and the student (empty or the placeholder is unanswered).",
                                  minimum=0)
    min_answer_chars_per_question: dict = _f(
        dict(MIN_ANSWER_CHARS_BY_QUESTION),
        "Per-question override of min_answer_chars (Q3a's answer is a number, so 1 character is enough).",
        check=_question_minimums)

    def min_chars(self, label: str) -> int:
        """The shortest answer to `label` that is not marked short."""
        return int(self.min_answer_chars_per_question.get(label, self.min_answer_chars))

    def checks(self) -> dict[str, float]:
        """Points of each automatic check, by check name (the contract's list of checks)."""
        return {name: getattr(self, name) for name in CHECK_CELLS}


@dataclass(frozen=True)
class Limits:
    memory_mb: int = _f(6_000, "Memory cap for the grading kernel (MiB): address space on CPU runners (at least "
                               "4,000 for a warm start: torch maps 3.2 GB at import), resident memory on GPU "
                               "runners (CUDA reserves large address ranges), counted as proportional set size "
                               "so pages shared with the zygote or between forks count once.", above=0)
    output_mb: float = _f(20.0, "Cap on the executed notebook's outputs (MiB); larger outputs are cut.", above=0)
    submission_mb: float = _f(SUBMISSION_MB, "Submissions larger than this (MiB) are refused before parsing.", above=0)
    zip_total_mb: float = _f(2048.0, "Most an input zip may expand to (MiB); the rest of its members are skipped.", above=0)
    zip_members: int = _f(10_000, "Most members read from one input zip.", above=0)
    zip_ratio: float = _f(200.0, "Highest expansion ratio of a zip member over 1 MiB (a zip bomb's is thousands).", above=0)
    run_extra_code: bool = _f(False, "Run code cells a student added (the lab asks for none).")
    require_sandbox: bool = _f(False, "Refuse to grade when bubblewrap is not available.")
    processes: int = _f(256, "Most processes and threads one grading kernel may run (a fork bomb stops there).", above=0)
    scratch_mb: int = _f(1024, "Size of the kernel's writable folders (tmpfs) and of the largest file it may write (MiB).", above=0)
    gpu_memory_mb: int = _f(0, "GPU memory one grading kernel may hold (MiB); 0: its slot's share of the GPU (the "
                               "GPU's memory divided by the slots on it, or runners.ray_gpu_fraction of it). A kernel "
                               "over it is stopped, so one submission cannot take the GPU from the others.",
                             minimum=0)
    sandbox_uid_base: int = _f(1_900_000_000, "When grading as root, a kernel runs as this uid plus its runner's "
                                              "process id: an unused uid of its own, never root.",
                                check=_sandbox_uid_base)


@dataclass(frozen=True)
class Runners:
    backend: str = _f("local", "Runner pool: 'local' (processes on this machine) or 'ray'.", choices=BACKENDS)
    slots_per_gpu: int = _f(4, "Submissions run at once on each visible GPU, at most one per CPU core. 4: the "
                               "sweep on an H100 (docs/runners.md, 'On a GPU'): 1, 2, 4 slots graded 526, 783, 948 "
                               "submissions/hour, about 1 GiB of GPU memory each; a kernel is mostly Python "
                               "on a CPU core, the GPU under 2 % busy.", above=0)
    cpu_runners: int = _f(0, "Runners when there is no GPU; 0 means one per two CPU cores, at least 1.", minimum=0)
    threads_per_runner: int = _f(1, "Torch/OMP threads per CPU runner (kernels fight for cores).", above=0)
    retries: int = _f(1, "Times a submission whose runner died is retried before it is failed.", minimum=0)
    warm_start: bool = _f(True, "Fork each sandboxed kernel from a per-runner process that has already imported "
                                "torch, torchvision, matplotlib and ipykernel (about 3 s less per submission on "
                                "CPU); false, or `grade --cold`: start every kernel from nothing.")
    ray_address: str = _f("auto", "Ray cluster address for --backend ray.",
                          unchecked="'auto' or an address; ray.init says when it cannot connect")
    ray_gpu_fraction: float = _f(0.5, "GPU share one submission asks Ray for (0.5 = two per GPU).",
                                 above=0, maximum=1)
    near_duplicate_ratio: float = _f(0.9, "Answer similarity (0-1) from which two students are flagged.",
                                     above=0, maximum=1)
    runner_grace_s: int = _f(120, "Seconds past the notebook limit before a silent runner is killed and failed.", minimum=0)
    progress: bool = _f(True, "Show a progress bar (counts and ETA) on the terminal while grading.")


@dataclass(frozen=True)
class Late:
    """The late policy, applied by `alexnet-lab export` (final grades, LMS files, feedback)."""

    policy: str = _f("none", "'none', 'per_day' (percent off per day or part of a day late) or "
                             "'per_submission' (percent off once when late).", choices=LATE_POLICIES)
    percent: float = _f(10.0, "Percent of the points taken off per day (per_day) or once (per_submission).", between=(0, 100))
    cap_percent: float = _f(50.0, "Most percent a late penalty takes off.", between=(0, 100))
    due: str = _f("", "Due date and time, ISO 8601 with its zone ('2026-03-01T23:59:00+00:00'): days late are "
                      "counted from it for nbgrader submitted/ trees (their timestamp.txt); empty: no due date.",
                  check=_due)
    unknown_days: float = _f(1.0, "Days counted for a submission marked late without a time (Canvas's _LATE_).",
                              between=(0, 365))


@dataclass(frozen=True)
class Export:
    """What `alexnet-lab export` writes for the LMSs."""

    lms_column: str = _f("", "The assignment's name in the LMS (Canvas/Brightspace/Moodle import files); empty: "
                             "course.assignment.", unchecked="any text: the column's name in the LMS file")
    canvas_assignment_id: str = _f("", "The Canvas assignment's id (the number in its URL, .../assignments/12345): "
                                       "canvas.csv's column is then 'NAME (12345)', as Canvas's own export writes "
                                       "it, and the import fills that assignment; empty: Canvas matches the name "
                                       "exactly or creates a new assignment.", check=_canvas_id)


@dataclass(frozen=True)
class Identity:
    """Per-student seeds: every student runs their own experiment, and the grader re-runs it."""

    per_student_seeds: bool = _f(True, "Each student's seed comes from (salt, student id); off: everyone runs "
                                       "the profile's fixed seed, as before.")
    salt: str = _f("alexnet-lab-2026", "Course salt of the seed hash: change it per course or year, before the "
                                        "release, so seeds cannot be looked up from last year's class.",
                  unchecked="any text: it is hashed")
    q3a_tolerance: float = _f(0.5, "Most |Q3a number - own before-training accuracy| (points) that counts as the "
                                   "student's own (covers rounding to a whole percent and CPU/GPU arithmetic).",
                               minimum=0)
    q3a_auto_points: bool = _f(True, "A Q3a number that is the student's own earns Q3a's points automatically.")


@dataclass(frozen=True)
class GradebookStore:
    """Where nbgrader's gradebook lives (every command opens it there; `--db URL` overrides it)."""

    url: str = _f("", "Empty: OUT/nbgrader/gradebook.db (SQLite). For TAs grading on several servers: "
                      "postgresql://USER@HOST:5432/DATABASE (the password in PGPASSWORD or ~/.pgpass, not here).",
                  unchecked="autograder.database.normalise checks it as the config is loaded (and --db)")


@dataclass(frozen=True)
class Manual:
    """The TA's grading of written answers (`alexnet-lab groups`, the grading page)."""

    similar_threshold: float = _f(0.8, "Similarity (0-1: TF-IDF cosine of words and characters, times sqrt(shorter/longer)) "
                                       "from which answers are suggested as one group; higher: smaller, safer groups. "
                                       "0.8: no planted class (300, 3,000, 10,000) mixed answers deserving different points "
                                       "(benchmarks/bench_grouping.py).",
                                  above=0, maximum=1)


@dataclass(frozen=True)
class GradingConfig:
    course: Course = _f(Course(), "Course and assignment names.")
    points: Points = _f(Points(), "Points per question and per check.")
    limits: Limits = _f(Limits(), "Execution limits and safety switches.")
    runners: Runners = _f(Runners(), "How many submissions run at once, and where.")
    profiles: dict = _f(PROFILES, "Training profiles by name.", check=_profiles)
    identity: Identity = _f(Identity(), "Per-student seeds and the Q3a check.")
    late: Late = _f(Late(), "Late policy (applied by `alexnet-lab export`).")
    export: Export = _f(Export(), "LMS import files written by `alexnet-lab export`.")
    manual: Manual = _f(Manual(), "Written answers graded by hand: answer groups.")
    gradebook: GradebookStore = _f(GradebookStore(), "Where the gradebook lives (SQLite by default, or PostgreSQL).")


CONFIG = GradingConfig()
