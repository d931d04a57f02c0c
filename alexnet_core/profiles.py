"""The lab's training recipes: which data, how long, how fast. Pure standard library.

A recipe is what the notebook trains with. The grader's profiles (`grading_config.Profile`) extend
a recipe with the bars a good run must clear; the recipe's own fields are defined here only.

Which recipe a kernel uses, one rule: the grader's (`$ALEXNET_LAB_RECIPE`, the whole resolved
recipe as JSON), else a profile named in `$ALEXNET_LAB_PROFILE` (a person or test telling the
kernel otherwise), else **the release's own**: the course's recipe, overrides included, which the
release writes into the notebook's locked imports cell and hands to `use_student_id(recipe=...)`,
else the lab's default, `full`. So a notebook trains what its text says (a course that set
`epochs = 4` gets 4) on any machine, with no environment variable and no course file.

`active_profile` is the kernel's side of the grader's profile rule (ARCHITECTURE, "Profiles, one
vocabulary"): the grader turns a profile name into its Profile once (`autograder.config.
select_profile`) and hands the kernel the result, the recipe in `$ALEXNET_LAB_RECIPE`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields, replace

from .identity import derive_seed, id_from_hub, id_problem
from .settings import setting  # noqa: F401  (grading_config imports it from here, beside the recipe)

PROFILE_ENV = "ALEXNET_LAB_PROFILE"
RECIPE_ENV = "ALEXNET_LAB_RECIPE"
DEFAULT_RECIPE = "full"


@dataclass(frozen=True)
class Recipe:
    """How the lab trains AlexNet-mini."""

    name: str = setting("full", "Profile name, chosen with --profile or ALEXNET_LAB_PROFILE.",
                        unchecked="the key of its profiles table; autograder.config.validate matches the two")
    synthetic: bool = setting(False, "True: a synthetic dataset in CIFAR-10's format instead of CIFAR-10.")
    epochs: int = setting(10, "Training epochs the notebook runs (the lab says 10).", above=0)
    lr: float = setting(0.01, "SGD learning rate (momentum 0.9).", above=0)
    # numpy takes seeds from 0 to 2**32 - 1.
    seed: int = setting(42, "Seed for the model, the data order, the augmentation and the kernel picks.",
                        between=(0, 2**32 - 1))
    batch_size: int = setting(128, "Training and evaluation batch size (drop_last for training).", above=0)
    train_images: int = setting(50_000, "Training images (synthetic profiles generate this many).", above=0)
    test_images: int = setting(10_000, "Test images (synthetic profiles generate this many).", above=0)
    allow_standins: bool = setting(False, "Missing ImageNet weights or dog photo become labelled stand-ins.")


RECIPES: dict[str, Recipe] = {
    "full": Recipe(),
    # Sized so that 5 epochs train in about 4 s on ONE CPU thread (notebooks run many times in the
    # tests) and still rise like a real run: ~10 % -> ~25 % -> ... -> 60-70 %.
    "smoke": Recipe(name="smoke", synthetic=True, epochs=5, lr=0.015, train_images=1_024,
                    test_images=1_000, allow_standins=True),
    # The lab as written (50,000 / 10,000 images, 10 epochs, lr 0.01) on synthetic data in CIFAR-10's
    # format: every step of the full-size path (training, grading, the GPU kit) without CIFAR-10.
    "full-synthetic": Recipe(name="full-synthetic", synthetic=True, allow_standins=True),
}


def recipe_from_json(text: str) -> Recipe:
    """A recipe from the JSON the grader puts in $ALEXNET_LAB_RECIPE (unknown keys are ignored)."""
    data = json.loads(text)
    known = {f.name for f in fields(Recipe)}
    return Recipe(**{k: v for k, v in data.items() if k in known})


def recipe_to_json(recipe: Recipe) -> str:
    return json.dumps(recipe_fields(recipe))


def recipe_fields(recipe: Recipe) -> dict:
    """The recipe's own settings, by name (a grading Profile's bars are not part of it)."""
    return {f.name: getattr(recipe, f.name) for f in fields(Recipe)}


def recipe_from_fields(data: dict) -> Recipe:
    """A recipe from the settings a release stamped (unknown keys ignored; ValueError for a bad value)."""
    if not isinstance(data, dict):
        raise ValueError(f"a recipe must be a dict of settings, not {type(data).__name__}")
    values = {}
    for f in fields(Recipe):
        if f.name not in data:
            continue
        value, kind = data[f.name], type(f.default)
        # A float setting takes a whole number (lr = 1); no setting takes a bool it does not declare.
        accepted = (int, float) if kind is float else (kind,)
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, accepted):
            raise ValueError(f"recipe setting {f.name} = {value!r} is not a {kind.__name__}")
        values[f.name] = kind(value)
    return Recipe(**values)


_release: dict = {}
"""The recipe the release stamped into this notebook, once `use_student_id(recipe=...)` ran."""


_student: dict = {}
"""This process's student: {"id", "seed", "problem", "per_student"} once `use_student_id` ran."""


def active_profile(name: str | Recipe | None = None) -> Recipe:
    """The recipe named (or given), else $ALEXNET_LAB_RECIPE, else $ALEXNET_LAB_PROFILE, else the
    release's stamped recipe, else `full`.

    With no recipe from the grader, the student's seed (`use_student_id`) replaces the recipe's;
    the grader's recipe already carries the seed of the submitter's id and keeps it.
    """
    if isinstance(name, Recipe):
        return name
    if name is None and os.environ.get(RECIPE_ENV):
        return recipe_from_json(os.environ[RECIPE_ENV])
    release = _release.get("recipe")
    chosen = name or os.environ.get(PROFILE_ENV) or (release.name if release else DEFAULT_RECIPE)
    if release is not None and chosen == release.name:
        recipe = release  # the course's own settings of that profile, as released
    else:
        try:
            recipe = RECIPES[chosen]
        except KeyError:
            valid = ", ".join(sorted(RECIPES))
            raise ValueError(f"Unknown profile {chosen!r}. Valid profiles: {valid}.") from None
    if _student.get("seed") is not None:
        recipe = replace(recipe, seed=_student["seed"])
    return recipe


def student_problem() -> str | None:
    """Why this process has no usable student id (None when it has one or the scheme is off)."""
    return _student.get("problem")


def use_release_recipe(recipe: dict | None) -> None:
    """Remember the recipe the release stamped (None forgets it). A malformed one is ignored: the
    notebook then runs as an unstamped one would, and the grader's re-run decides."""
    _release.clear()
    if recipe is not None:
        try:
            _release["recipe"] = recipe_from_fields(recipe)
        except (TypeError, ValueError):
            pass


def use_student_id(student_id, course_salt: str, per_student: bool = True, recipe: dict | None = None) -> Recipe:
    """The notebook's identity step: derive this student's seed from (course salt, id), say what
    it is in plain words, and return the recipe to train with: `recipe`, the course's settings the
    release wrote into the cell (see `active_profile` for what may override them). Never raises
    and never writes to stderr (nbgrader scores a cell with stderr as 0): an empty or placeholder
    id is said plainly, and the notebook runs on the course's fixed seed until the id is filled in."""
    use_release_recipe(recipe)
    _student.clear()
    if not per_student:
        _student.update(per_student=False)
        recipe = active_profile()
        print(f"This course uses one fixed seed for everyone: {recipe.seed}.")
        return recipe
    student_id = id_from_hub(student_id)
    problem = id_problem(student_id)
    _student.update(per_student=True, id=student_id, problem=problem)
    if not problem:
        _student["seed"] = derive_seed(course_salt, student_id)
    recipe = active_profile()
    if os.environ.get(RECIPE_ENV):
        print(f"Seed {recipe.seed}: set by the grader from the id of the submission.")
    elif problem:
        print(f"STOP: {problem}. Type your student id between the quotes in the cell near the top "
              f"(STUDENT_ID = \"...\"), run that cell, then run this one and the rest again. Until you do, "
              f"this notebook runs the course's fixed seed {recipe.seed}: that is not your experiment, "
              "and the grader will flag it.")
    else:
        print(f"Student id {student_id}: your seed is {recipe.seed}. The network's starting kernels, the order "
              "of the training photos and their random crops and flips all follow it: this run is yours.")
    return recipe
