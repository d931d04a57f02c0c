"""What lateness costs: the late policy `alexnet-lab export` applies (where lateness comes from, an
LMS's file name or nbgrader's timestamp.txt, is `autograder/sources.py`).

Canvas marks a late file `lastfirst_LATE_userid_subid_file` but gives no time, so such a
submission is late by `late.unknown_days`; an nbgrader `submitted/` tree has each submission's
`timestamp.txt`, counted against `late.due`. The penalty is a percentage of the points earned,
per day (a part of a day counts as a day) or once, never more than `late.cap_percent`.
"""
from __future__ import annotations

import math
from datetime import UTC, datetime

from autograder.sources import Lateness
from grading_config import Late


def penalty_percent(lateness: Lateness, policy: Late) -> float:
    """Percent of the earned points a late submission loses under `policy` (0 when on time)."""
    if not lateness.late or policy.policy == "none":
        return 0.0
    if policy.policy == "per_submission":
        percent = policy.percent
    else:
        days = lateness.days_counted(policy.unknown_days)
        percent = policy.percent * max(math.ceil(days - 1e-9), 1)
    return float(min(percent, policy.cap_percent))


def describe_policy(policy: Late) -> str:
    if policy.policy == "none":
        return "no late penalty"
    if policy.policy == "per_submission":
        return f"{policy.percent:g}% off a late submission (at most {policy.cap_percent:g}%)"
    return f"{policy.percent:g}% off per day late, a part of a day counting as a day (at most {policy.cap_percent:g}%)"


def now() -> datetime:
    return datetime.now(UTC)
