"""Grade import files for the LMSs whose downloads `alexnet-lab grade` reads.

- Canvas (Grades > Import): `Student,ID,SIS User ID,SIS Login ID,Section,<assignment>`; Canvas
  matches rows on `ID`, the Canvas user id (the number in its download's file names, or the
  roster's `lms_id`). A new column name creates an assignment; to fill an existing one, set
  `export.lms_column` to Canvas's own header for it ('alexnet (12345)').
- Brightspace (Grades > Enter Grades > Import): `OrgDefinedId,Username,<item> Points Grade,
  End-of-Line Indicator` (the roster's `lms_id` as OrgDefinedId; the last column is '#').
- Moodle (Grades > Import > CSV file): `ID number,Full name,<assignment>,Feedback`; map
  'ID number' to the user field of that name when importing.

Only students with a final score get a grade: a pending or missing one gets an empty cell, which
every LMS reads as "no grade", never as 0. Students without an LMS id are left out and reported.
"""
from __future__ import annotations

import csv
import io

from autograder.files import csv_safe

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
BRIGHTSPACE_COLUMNS = ["OrgDefinedId", "Username"]


def lms_id_from_source(source: str) -> str:
    """The Canvas user id in a Canvas download's file name, else ''."""
    from autograder.batch.collect import canvas_match

    match = canvas_match(source)
    return match["userid"] if match else ""


def _grade(s) -> str:
    return "" if s.final is None else f"{s.final:g}"


def _write(columns: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_safe(v) for k, v in row.items()})
    return buf.getvalue()


def canvas_csv(students, column: str) -> tuple[str, list[str]]:
    rows, skipped = [], []
    for s in students:
        if not s.lms_id:
            skipped.append(s.student_id)
            continue
        rows.append({"Student": s.name or s.student_id, "ID": s.lms_id, "SIS User ID": "", "SIS Login ID": "",
                     "Section": "", column: _grade(s)})
    return _write(CANVAS_COLUMNS + [column], rows), skipped


def brightspace_csv(students, column: str) -> tuple[str, list[str]]:
    grade_column = f"{column} Points Grade"
    rows, skipped = [], []
    for s in students:
        if not s.lms_id:
            skipped.append(s.student_id)
            continue
        rows.append({"OrgDefinedId": s.lms_id, "Username": "", grade_column: _grade(s), "End-of-Line Indicator": "#"})
    return _write(BRIGHTSPACE_COLUMNS + [grade_column, "End-of-Line Indicator"], rows), skipped


def moodle_csv(students, column: str) -> tuple[str, list[str]]:
    rows = []
    for s in students:
        comments = "; ".join(f"{q.name}: {q.comment}" for q in s.questions if q.ta_comment)
        rows.append({"ID number": s.lms_id or s.student_id, "Full name": s.name, column: _grade(s), "Feedback": comments})
    return _write(["ID number", "Full name", column, "Feedback"], rows), []


def lms_files(students, column: str) -> list[tuple[str, str, list[str]]]:
    """(file name, text, students left out for want of an LMS id) for each LMS."""
    files = []
    for name, build in (("canvas.csv", canvas_csv), ("brightspace.csv", brightspace_csv), ("moodle.csv", moodle_csv)):
        text, skipped = build(students, column)
        files.append((name, text, skipped))
    return files
