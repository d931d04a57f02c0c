"""What a submission's source says about it, below the batch that reads it and the export that
writes it out: the names an LMS gives the files it exports (Canvas's, a Brightspace folder, a
Moodle folder, nbgrader's submitted/ tree), the LMS id such a name carries, and the submission's
time and lateness (its timestamp.txt, or Canvas's _LATE_).

`SubmissionResult.source` is the TA's name for a file ('class.zip!smithjane_1234_5678_alexnet.ipynb',
'submitted/ana/alexnet/alexnet.ipynb'); only the parts an LMS wrote are read, never a name the
student chose.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from autograder.course import TIMESTAMP_FILE

CANVAS = re.compile(
    r"^(?P<name>[a-z0-9\-]+?)_(?:(?P<late>late)_)?(?P<userid>\d+)_(?P<subid>\d+)_(?P<file>.+)$",
    re.IGNORECASE,
)


def canvas_match(source: str) -> re.Match | None:
    """Canvas's file-name pattern matched on a submission's source where Canvas named the file
    ('class.zip!smithjane_LATE_1234_5678_alexnet.ipynb' -> its groups), else None.

    Canvas names the members at the root of its zip (collect takes no others as Canvas's): a name
    further down (a Brightspace or Moodle submission folder, an nbgrader submitted/<id>/<assignment>/ tree, a
    folder inside a zip) is the student's own file name, which could carry a classmate's user id or
    a _LATE_, and is never read as Canvas's."""
    path = source.replace("\\", "/")
    zipped, bang, inside = path.rpartition("!")
    parts = (inside if bang else path).split("/")
    if bang and len(parts) > 1:
        return None
    parent = parts[-2] if len(parts) > 1 else ""
    if (BRIGHTSPACE.match(parent) or MOODLE_FOLDER.match(parent)
            or (len(parts) > 3 and parts[-4] == NBGRADER_SUBMITTED)):
        return None
    return CANVAS.match(parts[-1])


BRIGHTSPACE = re.compile(
    r"^(?P<num>\d+-\d+) - (?P<name>.+?) - (?P<date>[^/]*?\d{4}[^/]*?)(?: - (?P<file>[^/]+))?$"
)
# Moodle's "Download all submissions": `<full name>_<participant id>_assignsubmission_file/<file>`
# (a folder per student, the default since Moodle 3.1; 3.x wrote the folder with a trailing `_`), or
# flat `<full name>_<participant id>_assignsubmission_file_<file>` with "Download submissions in
# folders" off. Moodle replaces the name's own `_` with spaces, so the name holds none. The number is
# the assignment's participant id (blind marking names every student "Participant": the number tells
# them apart), not the user's ID number, so it is no LMS id for moodle.csv.
MOODLE_FOLDER = re.compile(r"^(?P<name>[^_/]+)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
MOODLE_FLAT = re.compile(r"^(?P<name>[^_/]+)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>[^/]+)$")
NBGRADER_SUBMITTED = "submitted"


def lms_id_from_source(source: str) -> str:
    """The Canvas user id in a Canvas download's file name, else ''."""
    match = canvas_match(source)
    return match["userid"] if match else ""


NO_TIME = "the file name gives no time"


@dataclass(frozen=True)
class Lateness:
    late: bool = False
    days: float | None = None
    """Days past the due date; None when late without a known time (Canvas's _LATE_)."""
    submitted_at: datetime | None = None
    how: str = ""
    """Where we know it from: 'Canvas _LATE_ in the file name', 'timestamp.txt' ..."""
    problem: str = ""
    """One line naming the file when its time could not be used (the submission's flag)."""

    def days_counted(self, unknown_days: float) -> float | None:
        """The days a penalty counts: the known days, else (late without a time) `unknown_days`."""
        if not self.late:
            return None
        return self.days if self.days is not None else float(unknown_days)

    def describe(self, unknown_days: float | None = None) -> str:
        """'late (2.50 days late; timestamp.txt ...)'; for a late file without a time, what is
        counted instead when `unknown_days` (the course's late.unknown_days) is given."""
        if not self.late:
            return "on time" if self.how else ""
        if self.days is not None:
            when = f"{self.days:.2f} days late"
        elif unknown_days is None:
            when = "days late unknown"
        else:
            when = f"{NO_TIME}: counted as {float(unknown_days):g} day(s) late, late.unknown_days"
        return f"late ({when}; {self.how})"


EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
"""The times used: far from datetime's own limits (years 1 and 9999), so that the due date plus
late.unknown_days, or a UTC offset, can never overflow where a time is turned into nbgrader's."""


def parse_time(text: str) -> datetime | None:
    """An ISO time or nbgrader's timestamp ('2026-03-01 23:59:00.123456 UTC'), in UTC (naive = UTC);
    None when it is not one, or lies outside 1970-9000 (year 9999 at -23:59 is no moment in UTC)."""
    text = (text or "").strip()
    if not text:
        return None
    for cut in (" UTC", "Z"):
        if text.endswith(cut):
            text = text[: -len(cut)] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return moment if EARLIEST <= moment <= LATEST else None


def lateness_of(source: str, due: str = "") -> Lateness:
    """The lateness of a submission from where it came from (`SubmissionResult.source`)."""
    match = canvas_match(source)
    if match and match["late"]:
        return Lateness(True, None, None, "Canvas marked the file _LATE_")
    if "!" not in source:
        stamp = Path(source).parent / TIMESTAMP_FILE
        text = None
        try:
            if stamp.is_file():
                with stamp.open(encoding="utf-8", errors="replace") as fh:
                    text = fh.read(100)  # a time is short: a huge file is not read whole
        except OSError:
            pass
        submitted = parse_time(text) if text is not None else None
        if text is not None and submitted is None:
            # Counted as on time would reward a garbled file, as late would punish one: a TA decides.
            return Lateness(False, None, None, TIMESTAMP_FILE, problem=(
                f"{stamp}: {text.strip()[:40]!r} is not a time between 1970 and 9000; lateness not counted, "
                "check the submission time by hand"))
        if submitted is not None:
            deadline = parse_time(due)
            if deadline is None:
                return Lateness(False, None, submitted, "timestamp.txt (no late.due set)")
            seconds = (submitted - deadline).total_seconds()
            if seconds > 0:
                return Lateness(True, seconds / 86400, submitted, f"timestamp.txt {submitted:%Y-%m-%d %H:%M} UTC "
                                                                  f"after due {deadline:%Y-%m-%d %H:%M}")
            return Lateness(False, 0.0, submitted, "timestamp.txt")
    if match:
        return Lateness(False, None, None, "Canvas file name")
    return Lateness()
