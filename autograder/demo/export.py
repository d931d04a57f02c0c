"""The demo's last step, a TA's as a script: manual grades entered through nbgrader's Gradebook API
(what formgrader does for a TA), then `alexnet-lab export`. The demo and the tests use it; grading
never does."""
from __future__ import annotations

from pathlib import Path

from alexnet_core.contract import answer_cell
from autograder.batch.record import load_done
from autograder.course import OutputFolder
from autograder.errors import LabError
from autograder.export.final import ExportSummary, export
from autograder.gradebook import Gradebook
from autograder.submission.results import FAILED
from grading_config import GradingConfig


def enter_manual_grade(out: Path, config: GradingConfig, student_id: str, label: str, points: float,
                       comment: str = "") -> None:
    """Store a TA's points (and comment) for one question, as formgrader does."""
    folder = OutputFolder.of(Path(out), config)
    if label not in config.points.questions:
        raise LabError(f"no question {label!r}; the questions are {', '.join(config.points.questions)}")
    grade_id = answer_cell(label)
    assignment, notebook = config.course.assignment, config.course.notebook
    with Gradebook(folder.nbgrader.gradebook_url) as gb:
        grade = gb.find_grade(grade_id, notebook, assignment, student_id)
        grade.manual_score = float(points)
        grade.needs_manual_grade = False
        if comment:
            gb.find_comment(grade_id, notebook, assignment, student_id).manual_comment = comment
        gb.db.commit()


def demo_export(grading: Path, config: GradingConfig) -> ExportSummary | None:
    """`make demo`'s last step: one manual grade entered through nbgrader's API, then the export
    (with --allow-pending: the other answers still wait for a TA); prints where the files are."""
    results = load_done(Path(grading))
    label = next(iter(config.points.questions))
    student = next((r for r in sorted(results.values(), key=lambda r: r.student_id)
                    if r.status != FAILED and any(a.label == label and a.answered for a in r.answers)), None)
    if student is None:
        print("no graded answer to grade by hand")
        return None
    worth = float(config.points.questions[label])
    folder = OutputFolder.of(Path(grading), config)
    with Gradebook(folder.nbgrader.gradebook_url) as gb:  # sample LMS ids, so the Canvas file has rows
        unlinked = [s for s in sorted(gb.students, key=lambda s: s.id) if not s.lms_user_id]
        for number, row in enumerate(unlinked, 10001):
            row.lms_user_id = str(number)
        gb.db.commit()
    if unlinked:
        print(f"the demo's students get sample Canvas user ids 10001-{10000 + len(unlinked)} (a real class has them "
              "from the Canvas zip's file names or the roster's lms_id column)")
    enter_manual_grade(grading, config, student.student_id, label, worth,
                       "Clear: data and compute. (entered by the demo through nbgrader's Gradebook API)")
    rest = [a.label for a in student.answers if a.answered and a.label != label]
    for other in rest:  # so that one final feedback page is complete
        enter_manual_grade(grading, config, student.student_id, other, float(config.points.questions[other]))
    print(f"manual grades entered through nbgrader's API: {student.student_id} {label} = {worth:g}/{worth:g} with a "
          f"comment{', and full points for ' + ', '.join(rest) if rest else ''}; the other students' answers "
          "still wait for a TA")
    summary = export(Path(grading), config, allow_pending=True, results=results)
    for line in summary.lines():
        print(line)
    print(f"Canvas import file:   {summary.files['canvas.csv']}")
    print(f"a final feedback page: {Path(grading) / student.student_id / OutputFolder.FEEDBACK}")
    return summary
