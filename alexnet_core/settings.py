"""A setting: a dataclass field with its default, its one-line help and the rule its value obeys.

Pure standard library: the student's recipe (`profiles.Recipe`) declares its fields with it, and so
do the grader's settings (`grading_config.py`). The rule lives in the declaration so that a new
setting cannot be added without saying what values it takes; `autograder.config.validate` walks
every field and applies its rule, and a test refuses a field that declares none (a field whose
values need no check says why, with `unchecked="reason"`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Check = Callable[[Any, Any], "str | None"]
"""check(value, config) -> None when good, else the rest of the one-line message after the setting's
dotted name (" = 'x' must be ..."; a table names its key: ".Q1 = -1 must be ...")."""


@dataclass(frozen=True)
class Rule:
    """What values a setting takes. Bounds are inclusive unless named `above` (strictly more)."""

    minimum: float | None = None
    above: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    check: Check | None = None
    unchecked: str | None = None
    """Why this setting needs no rule (any text, a switch): said, so no rule is forgotten silently."""

    def declared(self) -> bool:
        return any(v is not None for v in (self.minimum, self.above, self.maximum, self.choices, self.check,
                                           self.unchecked))

    def problem(self, value, config) -> str | None:
        """None when `value` obeys the rule, else the message's rest after the setting's name."""
        shown = list(value) if isinstance(value, tuple) else value
        if self.choices is not None and value not in self.choices:
            return f" = {shown!r} must be one of {', '.join(map(str, self.choices))}"
        if self._out_of_bounds(value):
            return f" = {shown!r} must be {self.bounds()}"
        if self.check is not None:
            return self.check(value, config)
        return None

    def _out_of_bounds(self, value) -> bool:
        return ((self.minimum is not None and value < self.minimum)
                or (self.above is not None and value <= self.above)
                or (self.maximum is not None and value > self.maximum))

    def words(self) -> str | None:
        """The values it takes, for `alexnet-lab config` ('more than 0', 'one of local, ray'); None
        when a check function or nothing says it."""
        if self.choices is not None:
            return f"one of {', '.join(map(str, self.choices))}"
        if any(v is not None for v in (self.minimum, self.above, self.maximum)):
            return self.bounds()
        return None

    def bounds(self) -> str:
        """The bounds in words ('more than 0', '0 or more', 'between 0 and 100', ...)."""
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"between {low} and {high}"
        if self.above is not None:
            return f"more than {self.above}" + (f" and at most {high}" if high is not None else "")
        if low is not None:
            return f"{low} or more"
        return f"at most {high}"


def setting(default, help: str, *, minimum=None, above=None, maximum=None, between: tuple | None = None,
            choices: tuple | None = None, check: Check | None = None, unchecked: str | None = None):
    """A dataclass field with a default, its one-line help (shown by `alexnet-lab config`) and its
    rule: `minimum`/`maximum` (inclusive), `above` (strictly more), `between=(low, high)` (both
    inclusive), `choices`, `check(value, config)` for anything else, or `unchecked="why not"`."""
    if between is not None:
        minimum, maximum = between
    rule = Rule(minimum, above, maximum, tuple(choices) if choices is not None else None, check, unchecked)
    metadata = {"help": help, "rule": rule}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def rule_of(f) -> Rule:
    """The rule a dataclass field declared (an empty one for a field not made by `setting`)."""
    return f.metadata.get("rule", Rule())
