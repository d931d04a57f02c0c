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

import os
import tomllib
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path

import grading_config
from alexnet_core.contract import QUESTIONS
from alexnet_core.profiles import PROFILE_ENV
from autograder.errors import ConfigError
from grading_config import GradingConfig, Profile

CONFIG_ENV = "ALEXNET_LAB_CONFIG"
COURSE_CONFIG_FILE = "alexnet-lab.toml"
BACKENDS = ("local", "ray")


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
    validate(config, str(source or Path(grading_config.__file__).name))
    return LoadedConfig(config, source)


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

def _positive(value, where: str, origin: str, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        need = "0 or more" if allow_zero else "more than 0"
        raise ConfigError(f"{origin}: {where} = {value!r} must be {need}")


def _types(obj, prefix: str, origin: str) -> None:
    """Every field holds its declared type (defaults edited in grading_config.py included)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            _types(value, prefix + f.name + ".", origin)
        elif f.name != "profiles":
            _coerce(str(f.type), value, prefix + f.name, origin)


def validate_profile(p: Profile, origin: str) -> None:
    where = f"profiles.{p.name}."
    _types(p, where, origin)
    for key in ("epochs", "batch_size", "train_images", "test_images", "reference_seeds",
                "cell_timeout_s", "notebook_timeout_s"):
        _positive(getattr(p, key), where + key, origin)
    for key in ("lr", "envelope_margin", "evidence_tolerance"):
        _positive(getattr(p, key), where + key, origin, allow_zero=key != "lr")
    band = p.chance_band
    if len(band) != 2 or not all(isinstance(b, (int, float)) for b in band) or not 0 <= band[0] <= band[1] <= 100:
        raise ConfigError(f"{origin}: {where}chance_band = {list(band)!r} must be [low, high] percentages, low <= high")
    if not 0 <= p.final_floor <= 100:
        raise ConfigError(f"{origin}: {where}final_floor = {p.final_floor!r} must be a percentage (0-100)")


def validate(config: GradingConfig, origin: str) -> None:
    """ConfigError (one line, naming the setting) for the first bad value."""
    _types(config, "", origin)
    if not config.profiles:
        raise ConfigError(f"{origin}: profiles is empty; keep at least the full profile")
    for name, profile in config.profiles.items():
        if not isinstance(profile, Profile) or profile.name != name:
            raise ConfigError(f"{origin}: profiles.{name} must be a Profile named {name!r}")
        validate_profile(profile, origin)
    course = config.course
    if course.default_profile not in config.profiles:
        raise ConfigError(f"{origin}: course.default_profile = {course.default_profile!r} is not a profile "
                          f"({', '.join(sorted(config.profiles))})")
    if course.default_variant not in course.variants:
        raise ConfigError(f"{origin}: course.default_variant = {course.default_variant!r} is not one of "
                          f"course.variants {list(course.variants)}")
    points = config.points
    if set(points.questions) != set(QUESTIONS):
        raise ConfigError(f"{origin}: points.questions must give points to exactly the lab's questions "
                          f"{', '.join(QUESTIONS)} (got {', '.join(points.questions) or 'none'})")
    for label, value in points.questions.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{origin}: points.questions.{label} = {value!r} must be a number, 0 or more")
    for name, value in points.checks().items():
        _positive(value, f"points.{name}", origin, allow_zero=True)
    _positive(points.min_answer_chars, "points.min_answer_chars", origin, allow_zero=True)
    for label, value in points.min_answer_chars_per_question.items():
        if label not in QUESTIONS or isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{origin}: points.min_answer_chars_per_question.{label} = {value!r} must be a whole "
                              f"number, 0 or more, for one of {', '.join(QUESTIONS)}")
    _validate_late(config.late, origin)
    limits = config.limits
    for key in ("memory_mb", "output_mb", "submission_mb", "zip_total_mb", "zip_members", "zip_ratio",
                "processes", "scratch_mb"):
        _positive(getattr(limits, key), f"limits.{key}", origin)
    if not 1000 <= limits.sandbox_uid_base <= 2**31 - 2**23:
        raise ConfigError(f"{origin}: limits.sandbox_uid_base = {limits.sandbox_uid_base!r} must leave room for a "
                          f"process id below 2**31 and not be a system uid (1000 to {2**31 - 2**23})")
    runners = config.runners
    if runners.backend not in BACKENDS:
        raise ConfigError(f"{origin}: runners.backend = {runners.backend!r} must be one of {', '.join(BACKENDS)}")
    for key in ("slots_per_gpu", "threads_per_runner"):
        _positive(getattr(runners, key), f"runners.{key}", origin)
    for key in ("cpu_runners", "retries", "runner_grace_s"):
        _positive(getattr(runners, key), f"runners.{key}", origin, allow_zero=True)
    for key in ("ray_gpu_fraction", "near_duplicate_ratio"):
        value = getattr(runners, key)
        if not 0 < value <= 1:
            raise ConfigError(f"{origin}: runners.{key} = {value!r} must be more than 0 and at most 1")


def _validate_late(late, origin: str) -> None:
    from autograder.export.late import parse_time
    from grading_config import LATE_POLICIES

    if late.policy not in LATE_POLICIES:
        raise ConfigError(f"{origin}: late.policy = {late.policy!r} must be one of {', '.join(LATE_POLICIES)}")
    for key in ("percent", "cap_percent", "unknown_days"):
        value = getattr(late, key)
        if not 0 <= value <= (100 if key != "unknown_days" else 365):
            raise ConfigError(f"{origin}: late.{key} = {value!r} must be between 0 and "
                              f"{100 if key != 'unknown_days' else 365}")
    if late.due and parse_time(late.due) is None:
        raise ConfigError(f"{origin}: late.due = {late.due!r} is not an ISO date and time "
                          "('2026-03-01T23:59:00+00:00')")


# ---------------------------------------------------------------- reading it

def profile_name(given: str | None) -> str | None:
    """The profile the person at the keyboard chose: --profile, else $ALEXNET_LAB_PROFILE (read by
    the CLI only; below it, profiles are passed)."""
    return given or os.environ.get(PROFILE_ENV) or None


def select_profile(config: GradingConfig, name: str | None = None) -> Profile:
    """The profile named, else the course default."""
    chosen = name or config.course.default_profile
    try:
        return config.profiles[chosen]
    except KeyError:
        valid = ", ".join(sorted(config.profiles))
        raise ConfigError(f"Unknown profile {chosen!r}. Valid profiles: {valid}.") from None


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
            lines.append(f"{prefix}{f.name} = {value!r}  # {f.metadata.get('help', '')}")
    return lines

