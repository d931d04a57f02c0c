"""Per-student seeds on the student's floor: the seed of an id, what the notebook says, and that
every random choice of a run follows it (real training on the smoke data, no mocks)."""
import pytest

import alexnet_core as ac
from alexnet_core import profiles
from alexnet_core.identity import derive_seed, id_from_hub, id_problem, typed_id
from alexnet_core.plots import kernel_indices, render_kernels

SALT = "alexnet-lab-2026"


@pytest.fixture
def student(monkeypatch):
    """`use_student_id` for a test, as in a student's kernel (no recipe from the grader, which
    another test of this process may have set); the process forgets the student afterwards."""
    monkeypatch.delenv(profiles.RECIPE_ENV, raising=False)
    monkeypatch.setenv(profiles.PROFILE_ENV, "smoke")
    yield lambda sid, **kw: ac.use_student_id(sid, course_salt=SALT, **kw)
    profiles._student.clear()


def test_the_seed_of_an_id_is_stable_and_two_ids_have_two_seeds():
    # A fixed value: the hash must never change, or students' submitted runs would stop matching.
    assert derive_seed(SALT, "s1234567") == derive_seed(SALT, " S1234567 ") == 1_290_691_234
    assert derive_seed(SALT, "s1234567") != derive_seed(SALT, "s1234568")
    assert derive_seed("another-course", "s1234567") != derive_seed(SALT, "s1234567")


@pytest.mark.parametrize("typed", ["", "   ", "your student id", "XXXXXXX", "..."])
def test_an_empty_or_placeholder_id_is_named_as_such(typed):
    assert id_problem(typed)


def test_a_real_id_is_accepted_and_read_from_the_cell_without_running_it():
    assert id_problem("s1234567") is None
    assert typed_id('# comment\nSTUDENT_ID = "s1234567"  # mine') == "s1234567"
    assert typed_id('STUDENT_ID = ""') == ""
    assert typed_id("print('no id here')") is None


def test_on_jupyterhub_an_empty_cell_takes_the_login_name(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "s7654321")
    assert id_from_hub("") == "s7654321"
    assert id_from_hub("s1111111") == "s1111111"  # what the student typed wins


def test_the_notebook_says_in_plain_words_when_the_id_is_empty(student, capsys):
    recipe = student("")
    out = capsys.readouterr().out
    assert "STOP: the student id is empty" in out and "STUDENT_ID" in out
    assert recipe.seed == profiles.RECIPES["smoke"].seed  # the fixed seed until the id is filled in
    recipe = student("s1234567")
    out = capsys.readouterr().out
    assert "your seed is 1290691234" in out and recipe.seed == 1_290_691_234
    assert ac.active_profile().seed == 1_290_691_234


def test_the_scheme_switched_off_runs_the_fixed_seed(student, capsys):
    recipe = student("s1234567", per_student=False)
    assert recipe.seed == profiles.RECIPES["smoke"].seed
    assert "one fixed seed for everyone" in capsys.readouterr().out


def _run(student, sid):
    """A student's run as the notebook does it: id, seed, data, model, kernels shown, training."""
    recipe = student(sid)
    ac.set_seed(recipe.seed)
    train, test = ac.get_cifar10_dataloaders(device="cpu")
    model = ac.load_untrained_alexnetmini("cpu")
    untrained = render_kernels(model, 0).metadata
    _, trajectory = ac.train(model, train, test, "cpu")
    return trajectory, untrained


def test_two_ids_give_two_runs_and_the_same_id_the_same_run_twice(student):
    ada, ada_kernels = _run(student, "ada")
    ben, ben_kernels = _run(student, "ben")
    ada_again, ada_kernels_again = _run(student, "ada")
    assert ada["seed"] == derive_seed(SALT, "ada") != ben["seed"]
    assert ada["accuracy"] == ada_again["accuracy"]
    assert ada["accuracy"] != ben["accuracy"]
    # Every random choice follows the seed: the starting kernels, and which of them are shown.
    assert ada_kernels["fingerprint"] == ada_kernels_again["fingerprint"] != ben_kernels["fingerprint"]
    assert ada_kernels["indices"] == kernel_indices(32, ada["seed"], 0) != ben_kernels["indices"]


def test_the_grader_recipe_keeps_its_seed_whatever_id_is_typed(student, monkeypatch):
    recipe = profiles.replace(profiles.RECIPES["smoke"], seed=derive_seed(SALT, "ada"))
    monkeypatch.setenv(profiles.RECIPE_ENV, profiles.recipe_to_json(recipe))
    assert student("ben").seed == derive_seed(SALT, "ada")
