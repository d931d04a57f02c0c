"""What the TA reads in the class report and the question pages, from recorded results alone (no
grading): copied answers as groups of students, plain axis labels, short and hidden answers shown
as written, never "No answer"."""
from __future__ import annotations

import re

from bs4 import BeautifulSoup

from alexnet_core.contract import is_answered
from autograder.course import OutputFolder
from autograder.reports import charts
from autograder.reports.duplicates import DuplicatePair, copy_groups
from autograder.reports.report import write_report
from autograder.submission.results import Answer, SubmissionResult, complete


def _result(config, sid: str, answers: dict[str, str], seconds: float = 12.0) -> SubmissionResult:
    result = SubmissionResult(student_id=sid, source=f"{sid}.ipynb", seconds=seconds, answers=[
        Answer(label, f"answer_{label.lower()}", text, is_answered(text), float(config.points.questions[label]))
        for label, text in answers.items()])
    return complete(result, config.points)


def test_eight_identical_answers_are_one_group_not_28_pairs():
    students = [f"s{i}" for i in range(8)]
    pairs = [DuplicatePair("Q1", a, b, 1.0) for i, a in enumerate(students) for b in students[i + 1:]]
    pairs += [DuplicatePair("Q2", "x", "y", 0.93), DuplicatePair("Q2", "y", "z", 0.95)]  # a chain is one group
    groups = copy_groups(pairs, ("Q1", "Q2"))
    assert [g["students"] for g in groups] == [students, ["x", "y", "z"]]
    assert groups[0]["questions"] == [{"label": "Q1", "identical": True, "ratio": 1.0, "pairs": 28}]
    assert groups[1]["questions"][0]["ratio"] == 0.93 and not groups[1]["questions"][0]["identical"]


def test_the_same_group_on_several_questions_is_one_row():
    pairs = [DuplicatePair("Q2", "a", "b", 0.97), DuplicatePair("Q1", "a", "b", 1.0)]
    (group,) = copy_groups(pairs, ("Q1", "Q2"))
    assert group["students"] == ["a", "b"] and [q["label"] for q in group["questions"]] == ["Q1", "Q2"]


def test_axis_labels_never_use_scientific_notation():
    chart = charts.histogram([950.0, 1200.0, 2345.0, 10500.0], "seconds per submission")
    labels = [label for _, label in chart["x_ticks"] + chart["y_ticks"]] + [b["range"] for b in chart["bars"]]
    assert not any("e+" in label or "e-" in label for label in labels), labels
    assert "10,500" in labels[len(chart["x_ticks"]) - 1]
    assert charts.tick(0.25) == "0.25" and charts.tick(12.5) == "12.5" and charts.tick(1500) == "1,500"


def test_report_and_question_pages_show_groups_and_every_non_empty_answer(tmp_path, config, course):
    copied = "Too little labelled data and compute before 2012."
    results = [_result(config, f"s{i}", {"Q1": copied}) for i in range(8)]
    results.append(_result(config, "short", {"Q1": "Data.", "Q3a": "13.5%"}))
    results.append(_result(config, "hidden", {"Q1": "<!-- my real answer: GPUs and ImageNet -->"}))
    out = OutputFolder(tmp_path, config.course)
    write_report(out, results, [], config, course.master)
    soup = BeautifulSoup(out.report.read_text(), "html.parser")
    heading = next(h for h in soup.find_all("h2") if h.get_text().startswith("Identical or nearly identical"))
    assert "(1 group of students)" in heading.get_text()
    rows = heading.find_next("table").find_all("tr")[1:]
    assert [r.find("td").get_text() for r in rows] == [", ".join(f"s{i}" for i in range(8))]
    q1 = (out.questions / "Q1.html").read_text()
    page = BeautifulSoup(q1, "html.parser")
    short = page.find("h2", id="short").find_next("div").get_text()
    assert short == "Data." and "Short answer" in page.find("h2", id="short").find_next("p", class_="pending").get_text()
    hidden = page.find("h2", id="hidden").find_next("div").get_text()
    assert "my real answer: GPUs and ImageNet" in hidden  # shown as written, escaped: never "No answer"
    assert "<!--" not in re.sub(r"&lt;!--", "", q1.split('id="hidden"')[1])  # escaped, so it shows
    q3a = BeautifulSoup((out.questions / "Q3a.html").read_text(), "html.parser")
    assert q3a.find("h2", id="short").find_next("div").get_text() == "13.5%"
    assert "Short answer" not in (out.questions / "Q3a.html").read_text().split('id="short"')[1].split("<h2")[0]


def test_the_demos_table_counts_the_answers_waiting_for_a_ta_under_that_name(tmp_path, capsys, config):
    """ada answered all seven; Q3a's number was scored, six wait for a TA: the column must not call
    them 'answered' (the demo printed 'answered 6/7' for a student who answered every question)."""
    from autograder.demo.sample_class import print_table

    labels = list(config.points.questions)
    row = {"student_id": "ada", "status": "graded", "reason": "", "total": "7", "max_total": "16",
           "final_accuracy": "64.7", "flags": "", **{label: "" for label in labels}, "Q3a": "1"}
    grades = tmp_path / "grades.csv"
    grades.write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n", encoding="utf-8")
    print_table(grades, config)
    head, line = capsys.readouterr().out.strip().splitlines()
    assert "for a TA" in head and "answered" not in head
    assert f"{len(labels) - 1}/{len(labels)}" in line
