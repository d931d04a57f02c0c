"""Each setting declares the values it takes, and loading a config enforces every declaration: a
setting added without a rule fails here, and so does a rule the validation forgets to apply."""
import dataclasses

import pytest

import grading_config
from alexnet_core.settings import rule_of
from autograder.cli import main
from autograder.config import CONFIG_ENV, load_config
from autograder.errors import ConfigError

DEFAULTS = grading_config.CONFIG


def _settings(obj, prefix=""):
    """(dotted name, field, value) of every setting, sections and profiles walked into."""
    for f in dataclasses.fields(obj):
        value, where = getattr(obj, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            yield from _settings(value, where + ".")
            continue
        yield where, f, value
        if f.name == "profiles":
            for name, profile in value.items():
                yield from _settings(profile, f"{where}.{name}.")


def _with(obj, path: list[str], value):
    """`obj` with the setting at `path` replaced (a profile by its name in the profiles table)."""
    head, rest = path[0], path[1:]
    current = getattr(obj, head) if not isinstance(obj, dict) else obj[head]
    new = _with(current, rest, value) if rest else value
    if isinstance(obj, dict):
        return {**obj, head: new}
    return dataclasses.replace(obj, **{head: new})


def test_every_setting_declares_its_rule_or_why_it_has_none():
    forgot, vague = [], []
    for where, f, value in _settings(DEFAULTS):
        if isinstance(value, bool):  # a switch: its type is its rule
            continue
        rule = rule_of(f)
        if not rule.declared():
            forgot.append(where)
        elif rule.unchecked is not None and (not isinstance(rule.unchecked, str) or len(rule.unchecked) < 8):
            vague.append(where)
    assert not forgot, "settings with no rule (declare minimum=, above=, between=, choices=, check= or " \
                       f"unchecked=\"why\"): {', '.join(forgot)}"
    assert not vague, f"unchecked= must say why: {', '.join(vague)}"


def _breaking(f, rule):
    """A value of the field's type that its declared bounds or choices refuse, or None."""
    kind = int if str(f.type) == "int" else float
    if rule.choices is not None:
        return "no-such-choice"
    if rule.above is not None:
        return kind(rule.above)
    if rule.minimum is not None:
        return kind(rule.minimum - 1)
    if rule.maximum is not None:
        return kind(rule.maximum + 1)
    return None


DECLARED = [(where, f) for where, f, value in _settings(DEFAULTS)
            if not isinstance(value, bool) and _breaking(f, rule_of(f)) is not None]


def test_the_walk_finds_the_declared_bounds():
    # Recipe fields (the student floor's) and the grader's own are both here.
    names = {where for where, _ in DECLARED}
    assert {"profiles.full.epochs", "profiles.smoke.final_floor", "limits.memory_mb", "runners.backend",
            "late.policy", "manual.similar_threshold"} <= names


@pytest.mark.parametrize("where, f", DECLARED, ids=[where for where, _ in DECLARED])
def test_every_declared_bound_and_choice_refuses_a_value_outside_it(where, f):
    bad = _breaking(f, rule_of(f))
    broken = _with(DEFAULTS, where.split("."), bad)
    with pytest.raises(ConfigError) as refused:
        load_config(defaults=broken)
    message = str(refused.value)
    assert message.startswith("grading_config.py: ") and f" {where} = " in message and "\n" not in message


def test_config_says_the_values_each_setting_takes(capsys, monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert main(["config"]) == 0
    lines = {line.split(" = ")[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["runners.backend"].endswith("[one of local, ray]")
    assert lines["late.percent"].endswith("[between 0 and 100]")
    assert lines["runners.ray_gpu_fraction"].endswith("[more than 0 and at most 1]")
    assert lines["profiles.smoke.epochs"].endswith("[more than 0]")
    assert lines["points.evidence"].endswith("[0 or more]")
