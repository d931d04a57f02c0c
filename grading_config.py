"""The one place an instructor edits numbers: profiles, points, tolerances, limits, runners.

Every field has a default and a one-line help (``field(metadata={"help": ...})``), so
``alexnet-lab config`` can print what each number means. Code elsewhere takes these values as
arguments; it never hard-codes them. This module is pure standard library on purpose: the lab
notebook's kernel imports it (through ``alexnet_core``) with nothing but torch installed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

PROFILE_ENV = "ALEXNET_LAB_PROFILE"
DATA_ENV = "ALEXNET_LAB_DATA"


def _f(default, help: str):
    """A dataclass field with a default and its help line."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Profile:
    """How the lab trains: which data, how long, how fast, and what a good run looks like."""

    name: str = _f("full", "Profile name, chosen with --profile or ALEXNET_LAB_PROFILE.")
    synthetic: bool = _f(False, "True: a synthetic dataset in CIFAR-10's format instead of CIFAR-10.")
    epochs: int = _f(10, "Training epochs the notebook runs (the lab says 10).")
    lr: float = _f(0.01, "SGD learning rate (momentum 0.9).")
    seed: int = _f(42, "Seed for the model, the data order, the augmentation and the kernel picks.")
    batch_size: int = _f(128, "Training and evaluation batch size (drop_last for training).")
    train_images: int = _f(50_000, "Training images (synthetic profiles generate this many).")
    test_images: int = _f(10_000, "Test images (synthetic profiles generate this many).")
    allow_standins: bool = _f(False, "Missing ImageNet weights or dog photo become labelled stand-ins.")
    chance_band: tuple = _f((5.0, 15.0), "Before-training test accuracy (%) that counts as chance.")
    final_floor: float = _f(45.0, "Lowest final test accuracy (%) that earns the trajectory points.")
    envelope_margin: float = _f(5.0, "Percentage points added around the reference envelope.")
    reference_seeds: int = _f(3, "Seeds of the master that `alexnet-lab reference` trains.")
    evidence_tolerance: float = _f(5.0, "Max |submitted - re-executed| accuracy (points) before a flag.")


PROFILES: dict[str, Profile] = {
    "full": Profile(),
    "smoke": Profile(
        name="smoke",
        synthetic=True,
        epochs=5,
        # Sized so that 5 epochs train in about 4 s on ONE CPU thread (notebooks run many times
        # in the tests) and still rise like a real run: ~10 % -> ~25 % -> ... -> 60-70 %.
        lr=0.015,
        train_images=1_024,
        test_images=1_000,
        allow_standins=True,
        final_floor=45.0,
        envelope_margin=8.0,
    ),
}


@dataclass(frozen=True)
class Course:
    course_id: str = _f("alexnet-lab", "nbgrader course id.")
    assignment: str = _f("alexnet", "Assignment name: folder under source/ and release/.")
    notebook: str = _f("alexnet", "Notebook file name (without .ipynb) inside the assignment.")
    default_profile: str = _f("full", "Profile used when neither --profile nor ALEXNET_LAB_PROFILE is set.")
    default_variant: str = _f("colab", "Variant `alexnet-lab release` builds when --variant is not given.")
    variants: tuple = _f(("colab", "local"), "Variants the master can be rendered as.")
    repository_url: str = _f(
        "https://github.com/alexnet-lab/alexnet-lab",
        "Where the colab variant pip-installs alexnet_core from.",
    )


@dataclass(frozen=True)
class Points:
    """Points per question and per automatic check; totals are derived, never typed twice."""

    questions: dict = _f(
        {"Q1": 2, "Q2": 2, "Q3a": 1, "Q3b": 1, "Q3c": 1, "Q4a": 1, "Q4b": 2},
        "Manually graded points per free-text question.",
    )
    trajectory: float = _f(3, "Re-executed trajectory inside the reference envelope.")
    evidence: float = _f(1, "Submitted outputs present and agreeing with the re-execution.")
    kernel_plots: float = _f(2, "Three kernel plots produced; trained kernels differ from untrained.")
    min_answer_chars: int = _f(20, "An answer shorter than this (after trimming) counts as unanswered.")


@dataclass(frozen=True)
class Limits:
    cell_timeout_s: int = _f(600, "Per-cell execution limit in seconds (training is one cell).")
    notebook_timeout_s: int = _f(1800, "Whole-notebook execution limit in seconds.")
    smoke_cell_timeout_s: int = _f(120, "Per-cell limit when grading the smoke (synthetic) profile.")
    smoke_notebook_timeout_s: int = _f(300, "Whole-notebook limit when grading the smoke (synthetic) profile.")
    memory_mb: int = _f(6_000, "Memory cap for the grading kernel (MB): address space on CPU runners, "
                               "resident memory on GPU runners (CUDA reserves large address ranges).")
    output_mb: float = _f(20.0, "Cap on the executed notebook's outputs (MB); larger outputs are cut.")
    submission_mb: float = _f(50.0, "Submissions larger than this are refused before parsing.")
    run_extra_code: bool = _f(False, "Run code cells a student added (the lab asks for none).")
    require_sandbox: bool = _f(False, "Refuse to grade when bubblewrap is not available.")


@dataclass(frozen=True)
class Runners:
    backend: str = _f("local", "Runner pool: 'local' (processes on this machine) or 'ray'.")
    slots_per_gpu: int = _f(1, "Submissions run at once on each visible GPU.")
    cpu_runners: int = _f(0, "Runners when there is no GPU; 0 means one per two CPU cores, at least 1.")
    threads_per_runner: int = _f(1, "Torch/OMP threads per CPU runner (kernels fight for cores).")
    retries: int = _f(1, "Times a submission whose runner died is retried before it is failed.")
    ray_address: str = _f("auto", "Ray cluster address for --backend ray.")
    ray_gpu_fraction: float = _f(0.5, "GPU share one submission asks Ray for (0.5 = two per GPU).")
    near_duplicate_ratio: float = _f(0.9, "Answer similarity (0-1) from which two students are flagged.")
    runner_grace_s: int = _f(120, "Seconds past the notebook limit before a silent runner is killed and failed.")
    progress: bool = _f(True, "Show a progress bar (counts and ETA) on the terminal while grading.")


@dataclass(frozen=True)
class GradingConfig:
    course: Course = _f(Course(), "Course and assignment names.")
    points: Points = _f(Points(), "Points per question and per check.")
    limits: Limits = _f(Limits(), "Execution limits and safety switches.")
    runners: Runners = _f(Runners(), "How many submissions run at once, and where.")
    profiles: dict = _f(PROFILES, "Training profiles by name.")


CONFIG = GradingConfig()


def active_profile(name: str | None = None, config: GradingConfig = CONFIG) -> Profile:
    """The profile named, else $ALEXNET_LAB_PROFILE, else the course default."""
    chosen = name or os.environ.get(PROFILE_ENV) or config.course.default_profile
    try:
        return config.profiles[chosen]
    except KeyError:
        valid = ", ".join(sorted(config.profiles))
        raise ValueError(f"Unknown profile {chosen!r}. Valid profiles: {valid}.") from None


def describe(obj=CONFIG, prefix: str = "") -> list[str]:
    """One line per setting, 'dotted.name = value  # help', for `alexnet-lab config`."""
    lines = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if hasattr(value, "__dataclass_fields__"):
            lines += describe(value, prefix + f.name + ".")
        else:
            lines.append(f"{prefix}{f.name} = {value!r}  # {f.metadata.get('help', '')}")
    return lines
