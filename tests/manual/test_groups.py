"""Answer groups as a TA meets them: a group never holds answers that deserve different points, most
answers sit with the answers they were written as, hostile answers (any script, markup, 1 MB,
empty) group sanely and stay as written, and `alexnet-lab groups` prints them (text and JSON,
through a real subprocess on an OUT the real Recorder wrote) without letting a student's escape
sequences reach the terminal.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import replace

import pytest
from notebooks import CONFIG, REPO

from autograder.manual import groups as groups_module
from autograder.manual.groups import suggest_groups
from benchmarks.written_class import graded_out, planted_class

NEAR = CONFIG.runners.near_duplicate_ratio
SIMILAR = CONFIG.manual.similar_threshold


def grouped(answers: dict[str, str]):
    return suggest_groups(answers, near_ratio=NEAR, similar_threshold=SIMILAR)


def group_of(groups, student: str):
    return next(g for g in groups if student in g.students)


def planted_figures(planted, question: str, groups) -> tuple[list, float]:
    """(groups mixing answers worth different points, share of answers in their planted group)."""
    truth = planted.answers[question]
    mixed = [g for g in groups if len({truth[s].points for s in g.students}) > 1]
    home: dict[str, tuple[int, int]] = {}
    for i, g in enumerate(groups):
        for label, count in Counter(truth[s].group for s in g.students).items():
            if count > home.get(label, (0, -1))[0]:
                home[label] = (count, i)
    in_place = sum(1 for i, g in enumerate(groups) for s in g.students if home[truth[s].group][1] == i)
    return mixed, in_place / len(truth)


@pytest.fixture(scope="module")
def planted():
    return planted_class(300, seed=11)  # not the seed the threshold was chosen on (bench_grouping: 1, 2)


def test_planted_class_groups_never_mix_points_and_keep_answers_together(planted):
    answers = groups_count = in_place = 0
    for question in planted.questions:
        groups = grouped(planted.texts(question))
        mixed, share = planted_figures(planted, question, groups)
        assert not mixed, f"{question}: a group mixes answers worth different points: {mixed[0].students[:5]}"
        # Q3a's own answers each carry the student's own number: the least grouped question.
        assert share >= 0.7, f"{question}: only {share:.0%} of the answers are in their planted group"
        in_place += share * len(planted.texts(question))
        assert sorted(s for g in groups for s in g.students) == sorted(planted.texts(question))  # each once
        answers += len(planted.texts(question))
        groups_count += len(groups)
        common = set(planted.groups(question)[f"{question}/common/{next(iter(_commons(planted, question)))}"])
        assert max(len(common & set(g.students)) for g in groups) >= len(common) / 2  # most of it in one group
    assert in_place >= 0.8 * answers
    assert groups_count * 5 <= answers  # a TA grading groups acts at least 5x less than answer by answer


def _commons(planted, question):
    counts = Counter(a.group.rsplit("/", 1)[1] for a in planted.answers[question].values() if a.kind == "common")
    return dict(counts.most_common())


def test_groups_past_the_clustering_cap_still_join_their_answers(planted, monkeypatch):
    """A class with more distinct answers than are clustered pairwise: the rest attach to the
    nearest clustered group when alike enough, still without mixing points."""
    monkeypatch.setattr(groups_module, "MAX_CLUSTERED", 15)
    question = "Q1"
    groups = grouped(planted.texts(question))
    mixed, share = planted_figures(planted, question, groups)
    assert not mixed
    assert share >= 0.7
    assert any(g.kind == "similar" for g in groups)


def test_empty_answers_are_one_group_never_merged_with_text():
    answers = {"a": "", "b": "YOUR ANSWER HERE", "c": "  \n ", "d": "?", "e": "Kernels detect edges.",
               "f": "kernels detect edges", "g": "YOUR ANSWER HERE\nKernels detect edges!"}
    groups = grouped(answers)
    blank = [g for g in groups if g.kind == "blank"]
    assert len(blank) == 1 and blank[0].students == ("a", "b", "c")
    assert group_of(groups, "d").kind == "single"  # a question mark is something the TA reads
    assert group_of(groups, "e").students == ("e", "f", "g")
    assert group_of(groups, "e").kind == "identical"


def test_any_script_groups_by_what_is_written():
    chinese = "卷积核学习到了颜色和边缘，所以可以区分飞机和青蛙。"
    arabic = "النواة تتعلم الحواف والألوان، لذلك تميز الصور."
    answers = {
        "zh1": chinese, "zh2": chinese.replace("，", ",").replace("。", ""), "zh3": chinese.replace("青蛙", "汽车"),
        "zh4": "训练之前准确率大约是百分之十。",
        "ar1": arabic, "ar2": arabic.replace("،", ""), "ar3": "\u202e" + arabic,
        "em1": "🐶🦘🐶", "em2": "🐶🦘🐶", "em3": "🔥",
        "en": "The kernels learn colour and edges, so planes and frogs differ.",
    }
    groups = grouped(answers)
    assert {"zh1", "zh2"} <= set(group_of(groups, "zh1").students)  # CJK punctuation set aside
    assert "zh3" in group_of(groups, "zh1").students  # one word changed: the same answer
    assert "zh4" not in group_of(groups, "zh1").students
    assert {"ar1", "ar2"} <= set(group_of(groups, "ar1").students)
    assert group_of(groups, "em1").students == ("em1", "em2")
    assert "em3" not in group_of(groups, "em1").students
    assert group_of(groups, "en").students == ("en",)
    rep = {g.answer for g in groups}
    assert chinese in rep or chinese.replace("，", ",").replace("。", "") in rep  # as written, not folded
    assert all(answers[s] for g in groups for s in g.students)  # nothing here is blank


def test_markup_and_megabyte_answers_stay_text_and_group_by_content():
    script = "<script>alert(document.cookie)</script> **bold** [x](javascript:alert(1))"
    big = ("The kernels respond to colour blobs and edges in small images. " * 17_000)[:1_000_000]
    answers = {
        "h1": script, "h2": script.upper(), "h3": "<img src=x onerror=alert(1)>",
        "big1": big, "big2": big + " And one more sentence at the very end.", "big3": "x" * 1_000_000,
        "short": "The kernels respond to colour blobs and edges in small images.",
    }
    groups = grouped(answers)
    assert group_of(groups, "h1").students == ("h1", "h2")
    assert group_of(groups, "h1").answer in (script, script.upper())  # the text as written, never rendered
    assert "h3" not in group_of(groups, "h1").students
    assert {"big1", "big2"} <= set(group_of(groups, "big1").students)  # the compared prefix is the same
    assert "big3" not in group_of(groups, "big1").students
    assert "short" not in group_of(groups, "big1").students  # a sentence is not its 16,000-fold repetition


# -- the command ----------------------------------------------------------------------------------
ESCAPE = "\x1b[2J\x1b[31mcleared your screen\x1b[0m \x9b31m <b>bold</b>"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    klass = planted_class(30, seed=5)
    first = klass.students[0]
    hostile = replace(klass.answers["Q2"][first], text=ESCAPE, group="Q2/own/escape")
    klass.answers["Q2"] = {**klass.answers["Q2"], first: hostile}
    return klass, graded_out(tmp_path_factory.mktemp("groups") / "out", CONFIG, klass).root


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "autograder.cli", "--course", str(REPO), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_groups_json_lists_every_student_once_with_an_answer_of_theirs(graded):
    klass, out = graded
    done = run_cli("groups", out, "Q1", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["question"] == "Q1" and data["groups"]
    students = [s for g in data["groups"] for s in g["students"]]
    assert sorted(students) == sorted(klass.students)
    texts = klass.texts("Q1")
    for g in data["groups"]:
        assert g["answer"] in {texts[s] for s in g["students"]}
        assert g["kind"] in groups_module.KINDS
    sizes = [len(g["students"]) for g in data["groups"] if g["kind"] == data["groups"][0]["kind"]]
    assert sizes == sorted(sizes, reverse=True)  # largest first within a kind


def test_groups_text_shows_each_group_and_no_control_character(graded):
    klass, out = graded
    done = run_cli("groups", out, "Q2")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x9b" not in done.stdout
    assert "\\x1b[2J" in done.stdout and "<b>bold</b>" in done.stdout  # shown, escaped, as text
    assert done.stdout.splitlines()[0].startswith(f"Q2: {len(klass.students)} answers in ")
    assert klass.students[0] in done.stdout
    data = json.loads(run_cli("groups", out, "Q2", "--json").stdout)
    assert ESCAPE in [g["answer"] for g in data["groups"]]  # JSON keeps it exactly, escaped by JSON itself


def test_groups_refuses_an_unknown_question_and_an_empty_folder(graded, tmp_path):
    _, out = graded
    done = run_cli("groups", out, "Q9")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Q9" in done.stderr and "Q1, Q2, Q3a" in done.stderr
    empty = run_cli("groups", tmp_path, "Q1")
    assert empty.returncode == 2
    assert str(tmp_path) in empty.stderr and "no graded results" in empty.stderr
