"""Grade import files, each in the layout its LMS itself exports, so its import reads it unedited.

- Canvas (Grades > Import): Canvas's own gradebook export: `Student,ID,SIS User ID,SIS Login
  ID,Section,<assignment>`, then a row whose first cell is `    Points Possible` with the
  assignment's points under it, then one row per student. Canvas finds the student by `ID` (the
  Canvas user id: the number in its download's file names, or the roster's `lms_id`) and the
  assignment by the `(id)` at the end of the header, as its export writes it: "alexnet (12345)".
  Without an id (`export.canvas_assignment_id`) it looks for an assignment of exactly that title,
  and else creates a new one.
- Brightspace (Grades > Enter Grades > Import): D2L's import layout: `OrgDefinedId,<item> Points
  Grade <Numeric MaxPoints:N>,End-of-Line Indicator`; every OrgDefinedId written `#<id>` and every
  row ended by `#`, as D2L's own export does (the `#` keeps a spreadsheet from reading 00123 as
  123 and is not part of the id). The `<Numeric MaxPoints:N>` creates the item with its maximum
  when the course has none of that name.
- Moodle (Grades > Import > CSV file): the columns Moodle's "Export to text file" writes: First
  name, Surname, ID number, Institution, Department, Email address, `Assignment: <name> (Real)`
  and `Assignment: <name> (Feedback)`; the import maps "ID number" to the user's ID number and
  each column to the item its name says. Feedback carries the reasons for lost automatic points,
  the TA's comments and the late penalty.

Only students with a final score get a grade: a pending or missing one gets an empty cell, which
every LMS reads as "no grade", never as 0. Students without an LMS id are left out of Canvas and
Brightspace and reported. Every cell passes `csv_safe`: a name or comment is text, never a formula.
"""
from __future__ import annotations

import csv
import io

from autograder.files import csv_safe
from grading_config import Export

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_ROW = "    Points Possible"
"""The first cell of the second row of Canvas's own export (four spaces included); its importer
takes a row whose first cell holds "Points Possible" as the assignments' points, not a student."""
BRIGHTSPACE_ID = "OrgDefinedId"
BRIGHTSPACE_END = "End-of-Line Indicator"
BRIGHTSPACE_MARK = "#"
MOODLE_COLUMNS = ["First name", "Surname", "ID number", "Institution", "Department", "Email address"]


def canvas_column(title: str, assignment_id: str) -> str:
    """Canvas's header for an assignment: 'title (id)', as its export writes it; the title alone
    (a new assignment on import, unless one has exactly that title) without an id."""
    return f"{title} ({assignment_id})" if assignment_id else title


def _grade(s) -> str:
    return "" if s.final is None else f"{s.final:g}"


def _write(columns: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return buf.getvalue()


def canvas_csv(students, title: str, assignment_id: str, points_possible: float) -> tuple[str, list[str]]:
    column = canvas_column(title, assignment_id)
    rows: list[list] = [[CANVAS_POINTS_ROW, "", "", "", "", f"{points_possible:g}"]]
    skipped = []
    for s in students:
        if not s.lms_id:
            skipped.append(s.student_id)
            continue
        rows.append([s.name or s.student_id, s.lms_id, "", "", "", _grade(s)])
    return _write(CANVAS_COLUMNS + [column], rows), skipped


def brightspace_column(title: str, points_possible: float) -> str:
    return f"{title} Points Grade <Numeric MaxPoints:{points_possible:g}>"


def brightspace_csv(students, title: str, points_possible: float) -> tuple[str, list[str]]:
    rows, skipped = [], []
    for s in students:
        if not s.lms_id:
            skipped.append(s.student_id)
            continue
        rows.append([BRIGHTSPACE_MARK + s.lms_id, _grade(s), BRIGHTSPACE_MARK])
    return _write([BRIGHTSPACE_ID, brightspace_column(title, points_possible), BRIGHTSPACE_END], rows), skipped


def moodle_columns(title: str) -> list[str]:
    return MOODLE_COLUMNS + [f"Assignment: {title} (Real)", f"Assignment: {title} (Feedback)"]


def moodle_csv(students, title: str) -> tuple[str, list[str]]:
    rows = []
    for s in students:
        rows.append([s.first_name, s.last_name, s.lms_id or s.student_id, "", "", "", _grade(s),
                     " | ".join(s.feedback_lines())])
    return _write(moodle_columns(title), rows), []


def lms_files(students, export: Export, assignment: str, points_possible: float) -> list[tuple[str, str, list[str]]]:
    """(file name, text, students left out for want of an LMS id) for each LMS."""
    title = export.lms_column or assignment
    files = []
    for name, (text, skipped) in (("canvas.csv", canvas_csv(students, title, export.canvas_assignment_id, points_possible)),
                                  ("brightspace.csv", brightspace_csv(students, title, points_possible)),
                                  ("moodle.csv", moodle_csv(students, title))):
        files.append((name, text, skipped))
    return files
