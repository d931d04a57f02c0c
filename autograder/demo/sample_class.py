"""Sample classes: the one builder of sample submissions the demo, the tests and the benchmarks use.

`execute_release` runs the release notebook as a student would, with the student's id typed in
(so with their own seed); `answer`, `unrun`, `tamper` and `copy_of` derive a student's notebook
from such a run, and `write_class` writes the standard class below. `class_demo` is the class half
of `alexnet-lab demo`: it writes that class and grades it with the local pool. Each student who
ran the notebook ran it with their own id: the class costs three notebook executions (ada, ben,
eve) plus the grading itself.

| student | what they handed in                                                        | expected     |
| ------- | -------------------------------------------------------------------------- | ------------ |
| ada     | ran it with her id, answered every question (Q3a: her own number)           | every automatic point, Q3a's point, 6 answers for the TA |
| ben     | ran it with his id, answered three questions                                | another trajectory than ada's; four answers at 0 |
| cal     | ada's executed notebook under his name: his id typed in, her answers reworded | "outputs match student ada's run", Q3a is ada's, near-duplicate answers |
| dan     | answered, but never ran the notebook (no outputs)                          | evidence point lost |
| eve     | ran it with her id, then edited the learning rate in a locked cell and the accuracies shown | cell restored, evidence flagged |
| fay     | a file cut off half way (not JSON)                                         | failed, with the reason |
"""
from __future__ import annotations

import copy
import csv
import json
import os
import shutil
from dataclasses import fields
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

from alexnet_core import synthetic
from alexnet_core.contract import TRAIN_CELL, TRAJECTORY_MIME, answer_cells, grade_id
from alexnet_core.identity import ID_CELL, ID_VARIABLE
from alexnet_core.profiles import PROFILE_ENV, RECIPE_ENV, RECIPES, Recipe, recipe_to_json
from autograder.authoring.release import build_release
from autograder.batch.coordinator import grade
from autograder.batch.record import load_done
from autograder.config import select_profile
from autograder.course import CourseFolder
from autograder.reports.report import group_by_students, near_duplicates
from grading_config import GradingConfig, Profile

DEMO_PROFILE = "smoke"
ANSWERS = {
    "Q1": "Before 2012 there was far too little labelled data and compute: networks like LeNet were trained "
          "on small digit sets on CPUs, so a large network on high-resolution photos would overfit and take months.",
    "Q2": "Some first-layer kernels react to fur texture and to the light body shape against grass; a wallaby "
          "shares those patterns, so kernels tuned to them push up both classes.",
    "Q3a": "About 10 percent before any training.",
    "Q3b": "Yes: with ten classes and random kernels the network is guessing, so one answer in ten is right.",
    "Q3c": "It rises fast in the first epochs and then more slowly, flattening out towards the end.",
    "Q4a": "The untrained kernels were noise; after training they show smooth colour blobs and some edge-like stripes.",
    "Q4b": "They pick out colour regions and coarse edges at the scale of a 32 pixel image, enough to tell a "
           "blue sky of a plane from a green background of a frog.",
}
# Other students write their own words; only cal borrows the answers above.
OWN_WORDS = {
    "ben": {
        "Q1": "GPUs were not yet used for training and ImageNet did not exist, so earlier learned features "
              "never saw enough examples or enough computation.",
        "Q3a": "My notebook printed roughly eleven percent right at the start.",
        "Q3c": "Accuracy climbs steeply early on and the gains get smaller every epoch after that.",
    },
    "dan": {
        "Q1": "Training needed millions of images and weeks of compute that nobody had in 1998; datasets were tiny.",
        "Q2": "Both animals are pale, furry and photographed outdoors, so texture detectors respond to both.",
        "Q3a": "I think it would be near ten percent.",
        "Q3b": "It matches random guessing between the ten CIFAR classes.",
        "Q3c": "Going up quickly at first, later only a little per epoch.",
        "Q4a": "They went from random speckles to patches of colour with a direction to them.",
        "Q4b": "Colour and simple oriented contrast, which already separates classes like ship, frog and truck.",
    },
    "eve": {
        "Q1": "Small datasets and slow hardware: deep networks overfit a few thousand images and took too long to train.",
        "Q2": "The ears and the sandy-white fur look alike at the level of small patches that kernels compare.",
        "Q3a": "Around 9 or 10 percent.",
        "Q3b": "Yes, an untrained model is no better than picking one of ten labels at random.",
        "Q3c": "Big jumps in the first two epochs, then it levels off.",
        "Q4a": "Trained kernels are smoother and show colour gradients instead of noise.",
        "Q4b": "Detectors for colour blobs and rough edges, useful because CIFAR images are small and blurry.",
    },
}


def release_notebook(course: CourseFolder, config: GradingConfig) -> Path:
    """The course's release notebook, built first (with the course's default profile, as
    `alexnet-lab release` would) when the course has none yet."""
    if not course.release_notebook().exists():
        build_release(course, config, select_profile(config))
    return course.release_notebook()


def type_id(nb, student_id: str):
    """A copy of `nb` with `student_id` typed into the student id cell, as a student types it."""
    nb = copy.deepcopy(nb)
    for c in nb.cells:
        if grade_id(c) == ID_CELL:
            c.source = "\n".join(f"{ID_VARIABLE} = {student_id!r}" if line.startswith(ID_VARIABLE) else line
                                 for line in c.source.splitlines())
    return nb


def _overridden(profile: Profile) -> bool:
    """Whether the course changed the recipe of this profile (the kernel must then be told it)."""
    base = RECIPES.get(profile.name)
    return base is None or any(getattr(base, f.name) != getattr(profile, f.name)
                               for f in fields(Recipe) if f.name != "seed")


def execute_release(release: Path, workdir: Path, profile: Profile, student_id: str | None = None) -> NotebookNode:
    """Run the release once as a student would (one thread, the inline backend), in `workdir`,
    with `student_id` typed into its id cell (None: left empty: the course's fixed seed, or on
    JupyterHub the login name in $JUPYTERHUB_USER)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for item in release.parent.iterdir():
        if item.is_file():
            shutil.copy2(item, workdir / item.name)
    nb = nbformat.read(str(workdir / release.name), as_version=4)
    if student_id is not None:
        nb = type_id(nb, student_id)
    env = dict(os.environ, **{PROFILE_ENV: profile.name, "OMP_NUM_THREADS": "1"})
    env.pop(RECIPE_ENV, None)
    if _overridden(profile):
        # A course's own recipe reaches the kernel as the grader passes it (its seed is then the
        # recipe's: the id typed in does not change it).
        env[RECIPE_ENV] = recipe_to_json(profile)
    env.pop("MPLBACKEND", None)  # the student's Jupyter uses the inline backend
    # Twice the grading limit: the machine may be busy with other notebooks (tests run several).
    NotebookClient(nb, timeout=profile.cell_timeout_s * 2, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute(env=env, cwd=str(workdir))
    return nb


def answer(nb, answers: dict | None = None, change=None):
    """A copy of `nb` with `answers` ({label: text}, default ANSWERS) typed in; questions left out
    keep the placeholder. `change(text)` edits each answer first (a copycat's light touch)."""
    answers = ANSWERS if answers is None else answers
    nb = copy.deepcopy(nb)
    for label, c in answer_cells(nb).items():
        if label in answers:
            c.source = change(answers[label]) if change else answers[label]
    return nb


def inflate_trajectory(nb, points: float = 30.0):
    """A copy whose shown training accuracies were raised by hand (the re-run will disagree)."""
    nb = copy.deepcopy(nb)
    for c in nb.cells:
        for out in c.get("outputs", []):
            record = out.get("data", {}).get(TRAJECTORY_MIME)
            if isinstance(record, dict) and record.get("accuracy"):
                record["accuracy"] = [min(99.0, a + points) for a in record["accuracy"]]
    return nb


def cell(nb, cell_id: str):
    """The cell with this grade id."""
    return next(c for c in nb.cells if grade_id(c) == cell_id)


def tamper(nb):
    """What a student hoping for points might do: a better learning rate, and nicer numbers shown."""
    nb = inflate_trajectory(nb)
    train = cell(nb, TRAIN_CELL)
    train.source = train.source.replace("lr=", "lr=10 * ") if "lr=" in train.source else train.source + "\n# tuned"
    return nb


def unrun(nb):
    """A copy with every output cleared, as a student who never ran it would hand it in."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def before_training(nb) -> float | None:
    """The before-training accuracy a run printed (what a student copies into Q3a)."""
    for c in nb.cells:
        for out in c.get("outputs", []):
            record = out.get("data", {}).get(TRAJECTORY_MIME)
            if isinstance(record, dict) and record.get("accuracy"):
                return float(record["accuracy"][0])
    return None


def with_own_q3a(answers: dict, run, wording: str = "My run printed {acc:.1f}% before any training.") -> dict:
    """`answers` with Q3a stating the before-training accuracy that `run` printed, in `wording`."""
    acc = before_training(run)
    return answers if acc is None else {**answers, "Q3a": wording.format(acc=acc)}


STUDENTS_WHO_RAN = ("ada", "ben", "eve")


def write_class(folder: Path, runs: dict) -> list[str]:
    """The sample submissions as `<student>.ipynb` in `folder`; returns the student ids.
    `runs` holds the executed release of each student of STUDENTS_WHO_RAN, run with their own id."""
    folder.mkdir(parents=True, exist_ok=True)
    ada = answer(runs["ada"], with_own_q3a(ANSWERS, runs["ada"]))
    samples = {
        "ada": ada,
        "ben": answer(runs["ben"], with_own_q3a(OWN_WORDS["ben"], runs["ben"],
                                                "Untrained, AlexNet-mini scored {acc:.1f} percent on the test set.")),
        # cal hands in ada's executed notebook: his id typed over hers, her answers lightly reworded.
        "cal": type_id(answer(ada, {k: v.replace("the", "teh", 1) for k, v in with_own_q3a(ANSWERS, runs["ada"]).items()}),
                       "cal"),
        "dan": type_id(unrun(answer(runs["ben"], OWN_WORDS["dan"])), "dan"),
        "eve": tamper(answer(runs["eve"], OWN_WORDS["eve"])),
    }
    for sid, nb in samples.items():
        nbformat.write(nb, str(folder / f"{sid}.ipynb"))
    text = json.dumps(nbformat.from_dict(type_id(samples["ada"], "fay")))
    (folder / "fay.ipynb").write_text(text[: len(text) // 2], encoding="utf-8")
    return sorted([*samples, "fay"])


def print_table(grades_csv: Path, config: GradingConfig) -> None:
    with grades_csv.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # An empty question cell is an answer waiting for a TA (an unanswered one scores 0, and Q3a's
    # number may be scored already): the column counts those, and says so.
    print(f"\n{'student':<10} {'status':<7} {'auto':>5} {'of':>3} {'final acc':>9}  for a TA  flags / reason")
    for r in rows:
        waiting = sum(1 for label in config.points.questions if r.get(label) == "")
        note = r["reason"] if r["status"] == "failed" else r["flags"]
        acc = f"{float(r['final_accuracy']):.1f}%" if r["final_accuracy"] else "-"
        print(f"{r['student_id']:<10} {r['status']:<7} {r['total']:>5} {r['max_total']:>3} {acc:>9}  "
              f"{waiting}/{len(config.points.questions)}       {note[:110]}")


def print_trajectories(runs: dict) -> None:
    for sid, nb in runs.items():
        record = next((o["data"][TRAJECTORY_MIME] for c in nb.cells for o in c.get("outputs", [])
                       if TRAJECTORY_MIME in o.get("data", {})), None)
        if record:
            print(f"  {sid:<4} seed {record['seed']:>10}: " + ", ".join(f"{a:.1f}" for a in record["accuracy"]) + " %")


def print_duplicates(graded: Path, config: GradingConfig) -> None:
    pairs = near_duplicates(list(load_done(graded).values()), config.runners.near_duplicate_ratio)
    for row in group_by_students(pairs):
        labels = ", ".join(p.label for p in row["pairs"])
        print(f"near-identical answers: {row['a']} and {row['b']} ({labels})")


def class_demo(out: Path, course: CourseFolder, config: GradingConfig) -> Path:
    """Write the sample class under `out/class`, grade it into `out/grading`; return the report path."""
    out = Path(out)
    profile = select_profile(config, DEMO_PROFILE)
    synthetic.ensure_synthetic(profile)
    release = release_notebook(course, config)
    runs = {}
    for sid in STUDENTS_WHO_RAN:
        print(f"demo: {sid} runs the release notebook with her or his own id (smoke profile)...")
        runs[sid] = execute_release(release, out / "student-run" / sid, profile, student_id=sid)
    print_trajectories(runs)
    students = write_class(out / "class", runs)
    print(f"demo: {len(students)} sample submissions in {out / 'class'}: {', '.join(students)}")
    summary = grade([out / "class"], out / "grading", course, config, profile=profile)
    print_table(summary.out.grades_csv, config)
    print_duplicates(summary.out.root, config)
    print(f"\nclass report: {summary.out.report}")
    print(f"feedback per student: {summary.out.root}/<student>/feedback.html")
    return summary.out.report
