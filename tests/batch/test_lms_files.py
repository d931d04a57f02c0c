"""The LMS import files, read back as each LMS reads them (csv module, their exact header strings),
for cases a graded class rarely has: ids with leading zeros, names that look like formulas, a
student still waiting for a TA, a Canvas assignment id or none, and a bad id in the settings."""
from __future__ import annotations

import csv
import io

import pytest

from autograder.config import load_config
from autograder.errors import ConfigError
from autograder.export import final, lms
from autograder.export.final import CellGrade, StudentFinal
from autograder.sources import Lateness
from autograder.submission.results import FAILED, SubmissionResult
from grading_config import Export


def student(sid: str, lms_id: str, first: str, last: str, q1: float | None, comment: str = "") -> StudentFinal:
    pending = q1 is None
    return StudentFinal(
        sid, name=f"{first} {last}", first_name=first, last_name=last, lms_id=lms_id, status="graded",
        checks=[CellGrade("trajectory", "check_trajectory", 3.0, auto=1.0, reason="final accuracy 30% is below 45%")],
        questions=[CellGrade("Q1", "answer_q1", 2.0, manual=q1, comment=comment, ta_comment=bool(comment),
                             pending=pending)],
        max_total=5.0)


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def files(students, export: Export | None = None) -> dict[str, list[list[str]]]:
    return {name: read(text) for name, text, _ in lms.lms_files(students, export or Export(), "alexnet", 5.0)}


def test_brightspace_keeps_leading_zeros_behind_d2ls_hash_and_ends_each_row():
    out = files([student("s1", "000123", "Ann", "Lee", 2.0)])["brightspace.csv"]
    assert out[0] == ["OrgDefinedId", "alexnet Points Grade <Numeric MaxPoints:5>", "End-of-Line Indicator"]
    assert out[1] == ["#000123", "3", "#"]


def test_names_and_comments_that_look_like_formulas_stay_text():
    evil = student("s2", "42", "=HYPERLINK(\"http://x\")", "@SUM(A1)", 2.0, comment="-1 for the units")
    out = files([evil])
    assert out["canvas.csv"][2][0].startswith("'=HYPERLINK")
    moodle = out["moodle.csv"][1]
    assert moodle[0].startswith("'=") and moodle[1].startswith("'@")
    assert "Q1 2/2: -1 for the units" in moodle[7] and not moodle[7].startswith(("=", "+", "-", "@"))


def test_a_student_waiting_for_a_ta_gets_no_grade_anywhere_and_the_reason_in_moodle():
    waiting = student("s3", "77", "Bo", "Ng", None)
    out = files([waiting])
    assert out["canvas.csv"][2][5] == "" and out["brightspace.csv"][1][1] == "" and out["moodle.csv"][1][6] == ""
    feedback = out["moodle.csv"][1][7]
    assert "not final: waiting for a TA (Q1)" in feedback
    assert "trajectory 1/3: final accuracy 30% is below 45%" in feedback


def test_a_failed_run_says_its_reason_once_in_the_moodle_feedback():
    """A file that is no notebook fails every check for one reason: the student reads it once."""
    reason = "ngfay_1006_881006_alexnet.ipynb: not a notebook: not valid JSON; ask the student for the .ipynb file"
    failed = StudentFinal("fay", first_name="Fay", last_name="Ng", lms_id="1006", status=FAILED,
                          checks=[CellGrade(name, f"check_{name}", worth, auto=0.0, reason=reason)
                                  for name, worth in (("trajectory", 3.0), ("evidence", 1.0), ("kernel_plots", 2.0))],
                          max_total=6.0, result=SubmissionResult("fay", "class.zip!ngfay.ipynb", FAILED, reason))
    feedback = files([failed])["moodle.csv"][1][7]
    assert feedback.count(reason) == 1, feedback
    assert feedback == f"not graded automatically: {reason} | trajectory 0/3 | evidence 0/1 | kernel plots 0/2"


def test_the_moodle_feedback_says_the_late_penalty():
    late = student("s4", "88", "Cy", "Oh", 2.0)
    late.lateness = Lateness(True, None, None, "Canvas marked the file _LATE_")
    late.penalty_percent, late.unknown_days = 10.0, 1.0
    feedback = files([late])["moodle.csv"][1][7]
    assert "late penalty -10%" in feedback and "counted as 1 day(s) late" in feedback
    assert files([late])["moodle.csv"][1][6] == "2.7"


def test_canvas_header_is_name_and_id_as_canvas_exports_it_with_the_points_possible_row():
    ann = student("s1", "1001", "Ann", "Lee", 2.0)
    with_id = files([ann], Export(canvas_assignment_id="4242"))["canvas.csv"]
    assert with_id[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "alexnet (4242)"]
    assert with_id[1] == ["    Points Possible", "", "", "", "", "5"]
    assert with_id[2] == ["Ann Lee", "1001", "", "", "", "3"]
    named = files([ann], Export(lms_column="AlexNet lab"))["canvas.csv"]
    assert named[0][5] == "AlexNet lab"


@pytest.mark.parametrize("value", ["abc", "12 34", "١٢٣"])
def test_a_canvas_assignment_id_that_is_not_a_number_is_refused_naming_the_setting(tmp_path, value):
    path = tmp_path / "course.toml"
    path.write_text(f'[export]\ncanvas_assignment_id = "{value}"\n')
    with pytest.raises(ConfigError, match="export.canvas_assignment_id") as err:
        load_config(path)
    assert str(path) in str(err.value) and "assignments/12345" in str(err.value)


def test_a_canvas_assignment_id_is_read_from_the_course_settings(tmp_path):
    path = tmp_path / "course.toml"
    path.write_text('[export]\ncanvas_assignment_id = "4242"\n')
    assert load_config(path).config.export.canvas_assignment_id == "4242"


def test_export_names_the_submissions_that_could_not_be_graded_and_what_to_do(config):
    """A cut-off notebook is a 0 in every LMS file: the export says who, why and how to grade it later."""
    why = "ngfay_1006_881006_alexnet.ipynb: not a notebook: not valid JSON"
    fay = StudentFinal("fay", status=FAILED, result=SubmissionResult("fay", "class.zip!ngfay.ipynb", FAILED, why))
    [note] = [n for n in final.lms_notes([fay, StudentFinal("gus")], config) if "could not be graded" in n]
    assert f"fay: {why}" in note and "checks score 0 in every LMS file" in note and "alexnet-lab grade FILE --out OUT" in note
