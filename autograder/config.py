"""The grading config, loaded once: `grading_config.py`'s defaults, an instructor's overrides, validated.

Overrides come from a TOML file, so a course changes a number without editing the package:

    [points.questions]
    Q1 = 3
    [limits]
    memory_mb = 8000
    [profiles.full]
    epochs = 8
    [profiles.medium]          # a new profile starts from `base` (default: full)
    base = "smoke"
    train_images = 4096

The file is `--config FILE`, else `$ALEXNET_LAB_CONFIG`, else `alexnet-lab.toml` in the course
folder when there is one. Every value is checked on load (type, range, names); a bad one is a
ConfigError naming the setting and the file. The result is passed down as an argument: nothing
below the CLI reads a module global.
"""
from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path

import grading_config
from alexnet_core.contract import QUESTIONS, question_labels
from alexnet_core.settings import rule_of
from autograder.database import mask, normalise
from autograder.errors import ConfigError
from grading_config import BACKENDS, GradingConfig, Profile  # noqa: F401  (BACKENDS: the CLI's and the pool's)

CONFIG_ENV = "ALEXNET_LAB_CONFIG"
COURSE_CONFIG_FILE = "alexnet-lab.toml"


@dataclass(frozen=True)
class LoadedConfig:
    """The validated config and where it came from (for `alexnet-lab config`)."""

    config: GradingConfig
    source: Path | None
    """The override file read, or None for grading_config.py's defaults alone."""

    def describe_source(self) -> str:
        defaults = Path(grading_config.__file__).resolve()
        if self.source is None:
            return f"settings: the defaults of {defaults} (no override file)"
        return f"settings: {self.source} over the defaults of {defaults}"


def config_file(explicit: Path | None, course_root: Path | None) -> Path | None:
    """Which override file applies: --config, else $ALEXNET_LAB_CONFIG, else the course folder's."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    if course_root is not None and (Path(course_root) / COURSE_CONFIG_FILE).is_file():
        return Path(course_root) / COURSE_CONFIG_FILE
    return None


def load_config(path: Path | None = None, course_root: Path | None = None,
                defaults: GradingConfig = grading_config.CONFIG) -> LoadedConfig:
    """Defaults, overridden by the file that applies, validated."""
    source = config_file(path, course_root)
    config = defaults
    if source is not None:
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{source}: config file not found; check --config or ${CONFIG_ENV}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read the config file ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML ({exc}); fix the file") from None
        config = apply_overrides(defaults, data, str(source))
    origin = str(source or Path(grading_config.__file__).name)
    validate(config, origin)
    return LoadedConfig(with_gradebook_url(config, config.gradebook.url, origin), source)


def with_gradebook_url(config: GradingConfig, url: str, origin: str, setting: str = "gradebook.url") -> GradingConfig:
    """The config with the gradebook at `url` (checked and normalised: autograder/database.py); the
    settings file's `gradebook.url`, or a command's `--db URL` (origin "--db") over it."""
    return replace(config, gradebook=replace(config.gradebook, url=normalise(url, origin, setting)))


# ---------------------------------------------------------------- overrides

def _coerce(kind: str, value, where: str, origin: str):
    """A TOML value as the field's type, or ConfigError naming the setting."""
    def bad(expected: str):
        return ConfigError(f"{origin}: {where} = {value!r} is not {expected}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("a whole number")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise bad("text")
        return value
    if kind == "tuple":
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        return tuple(value)
    if kind == "dict":
        if not isinstance(value, dict):
            raise bad("a table")
        return dict(value)
    raise ConfigError(f"{origin}: {where} cannot be set from a file")


def _override(obj, data: dict, prefix: str, origin: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: [{prefix.rstrip('.')}] must be a table of settings")
    known = {f.name: f for f in fields(obj)}
    changes = {}
    for key, value in data.items():
        where = prefix + key
        if key not in known:
            raise ConfigError(f"{origin}: unknown setting {where} (known: {', '.join(sorted(known))})")
        current = getattr(obj, key)
        if is_dataclass(current):
            changes[key] = _override(current, value, where + ".", origin)
        elif key == "questions" and isinstance(value, dict):
            changes[key] = {**current, **_coerce("dict", value, where, origin)}
        else:
            changes[key] = _coerce(str(known[key].type), value, where, origin)
    return replace(obj, **changes)


def apply_overrides(config: GradingConfig, data: dict, origin: str) -> GradingConfig:
    """The settings of a parsed TOML file applied over `config` (profiles by name, new ones from `base`)."""
    data = dict(data)
    profiles = dict(config.profiles)
    tables = data.pop("profiles", None) or {}
    if not isinstance(tables, dict):
        raise ConfigError(f"{origin}: profiles must be tables, one per profile ([profiles.NAME])")
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: [profiles.{name}] must be a table of settings")
        table = dict(table)
        base_name = table.pop("base", name if name in profiles else "full")
        if base_name not in profiles:
            raise ConfigError(f"{origin}: profiles.{name}.base = {base_name!r} is not a profile "
                              f"(profiles: {', '.join(sorted(profiles))})")
        base = replace(profiles[base_name], name=name)
        table.pop("name", None)  # the table's key is the name
        profiles[name] = _override(base, table, f"profiles.{name}.", origin)
    config = _override(config, data, "", origin)
    return replace(config, profiles=profiles)


# ---------------------------------------------------------------- validation

def _leaves(obj, prefix: str = ""):
    """(dotted name, field, value) of every setting under `obj`, sections and profiles walked into."""
    for f in fields(obj):
        value, where = getattr(obj, f.name), prefix + f.name
        if is_dataclass(value):
            yield from _leaves(value, where + ".")
            continue
        yield where, f, value
        if isinstance(value, dict) and value and all(is_dataclass(v) for v in value.values()):
            for key, item in value.items():  # profiles: each a section of its own
                yield from _leaves(item, f"{where}.{key}.")


def validate(config: GradingConfig, origin: str) -> None:
    """ConfigError (one line, naming the setting) for the first bad value: every field's declared
    type first, then the rule its declaration states (alexnet_core/settings.py), so a check between
    settings (course.default_profile) reads only well-typed ones."""
    for where, f, value in _leaves(config):
        if f.name != "profiles":
            _coerce(str(f.type), value, where, origin)
    for where, f, value in _leaves(config):
        problem = rule_of(f).problem(value, config)
        if problem:
            raise ConfigError(f"{origin}: {where}{problem}")


# ---------------------------------------------------------------- the master's questions

def with_questions(config: GradingConfig, labels: tuple, origin: str) -> GradingConfig:
    """The config with points for exactly `labels`, the questions the master asks, in its order.

    The master says which questions exist (a course adds a Q5 or removes Q4b there); the config
    says what each is worth. A question of the master without points is a ConfigError naming the
    fix; points the course's file gives to a question the master does not ask are one too. The
    lab's own questions keep their default points in the config, so a course that removed one
    from its master has nothing to delete: those defaults are dropped here.
    """
    points = config.points
    if not labels:
        raise ConfigError(f"{origin}: the master has no answer cell (metadata.alexnet_lab.question); "
                          "restore its answer cells")
    missing = [label for label in labels if label not in points.questions]
    if missing:
        raise ConfigError(f"{origin}: the master asks {', '.join(missing)} but points.questions gives it no points; "
                          f"add `{missing[0]} = POINTS` under [points.questions] in the course's settings file")
    for table in ("questions", "min_answer_chars_per_question"):
        strays = [label for label in getattr(points, table) if label not in labels and label not in QUESTIONS]
        if strays:
            raise ConfigError(f"{origin}: points.{table}.{strays[0]} is not a question of the master (it asks "
                              f"{', '.join(labels)}); remove it from the settings or add its answer cell to the master")
    lowered = {}
    for label in labels:
        if label.lower() in lowered:
            raise ConfigError(f"{origin}: questions {lowered[label.lower()]} and {label} differ only in case, so "
                              "their answer cells would share a grade id; rename one")
        lowered[label.lower()] = label
    chosen = {label: points.questions[label] for label in labels}
    if chosen == points.questions and list(chosen) == list(points.questions):
        return config
    per_question = {k: v for k, v in points.min_answer_chars_per_question.items() if k in labels}
    return replace(config, points=replace(points, questions=chosen, min_answer_chars_per_question=per_question))


def master_questions(master: Path) -> tuple[str, ...]:
    """The questions a Jinja master asks (its answer cells' labels), read as JSON: nothing rendered."""
    try:
        return question_labels(json.loads(Path(master).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{master}: cannot read the master's questions ({exc}); restore it from git") from None


def for_master(config: GradingConfig, master: Path) -> GradingConfig:
    """The config bound to a master's questions (see `with_questions`)."""
    return with_questions(config, master_questions(master), str(master))


# ---------------------------------------------------------------- reading it

def select_profile(config: GradingConfig, name: str | None = None) -> Profile:
    """The grader's one way from a profile name to a Profile: the config's profile `name`, else the
    course default; ConfigError naming the valid ones. Called once, by the command that got the name
    (the CLI); what it calls takes the Profile. The student's kernel has its own side of the rule
    (`alexnet_core.profiles.active_profile`: the grader's recipe, then $ALEXNET_LAB_PROFILE, then the
    release's stamped recipe, then `full`)."""
    chosen = name or config.course.default_profile
    try:
        return config.profiles[chosen]
    except KeyError:
        valid = ", ".join(sorted(config.profiles))
        raise ConfigError(f"Unknown profile {chosen!r}. Valid profiles: {valid}.") from None


SECRET_SETTINGS = frozenset({"gradebook.url"})
"""Settings whose password part `alexnet-lab config` shows as ***."""


def describe(obj, prefix: str = "") -> list[str]:
    """One line per setting, 'dotted.name = value  # help', for `alexnet-lab config`."""
    lines = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            lines += describe(value, prefix + f.name + ".")
        elif f.name == "profiles":
            for name, profile in value.items():
                lines += describe(profile, f"{prefix}profiles.{name}.")
        else:
            if prefix + f.name in SECRET_SETTINGS:
                value = mask(value)
            allowed = rule_of(f).words()
            lines.append(f"{prefix}{f.name} = {value!r}  # {f.metadata.get('help', '')}"
                         + (f" [{allowed}]" if allowed else ""))
    return lines

