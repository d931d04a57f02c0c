"""The grading page (issue 18) in the real Chromium, on a real `alexnet-lab formgrader` server.

One planted class (benchmarks/written_class.py, recorded by the real Recorder: no kernel runs),
served once for the module by conftest's `formgrader` fixture, which takes this module's `graded`.
Each test grades its own question, so the tests do not depend on each other's order. What the page
did is followed into nbgrader's gradebook (and, for an edited item, through `alexnet-lab export`
into final_grades.csv and feedback.html).
"""
from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser_ta import REPO, run_cli
from nbgrader.api import Gradebook

from alexnet_core.contract import answer_cell
from autograder.batch.record import Recorder
from autograder.config import for_master
from autograder.course import CourseFolder, OutputFolder
from grading_config import CONFIG

sys.path.insert(0, str(REPO / "benchmarks"))
from written_class import PlantedAnswer, graded_out, planted_class, result_of  # noqa: E402

try:
    from playwright.sync_api import expect
except ImportError:  # conftest skips every test here, with the reason
    expect = None

STUDENTS = 24
WAIT_MS = 30_000
COURSE = CONFIG.course
HOSTILE = ("<script>alert('x')</script><img src=x onerror=alert(2)> [click](javascript:alert(3)) "
           "**bold** مرحبا بالعالم 🙂 ‮reversed‬ 漢字")
HOSTILE_STUDENT = "s0001"
LONG_STUDENT = "s0002"
LONG_TEXT = ("kernels " * 131_072)[:1_048_576]  # 1 MiB of one answer
NAMES = {"s0003": "Ana Lima", "s0004": "Bo Chen"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A planted class of 24; Q4b holds a hostile answer and a 1 MiB one; two roster names."""
    planted = planted_class(STUDENTS, seed=3)
    for sid, text in ((HOSTILE_STUDENT, HOSTILE), (LONG_STUDENT, LONG_TEXT)):
        planted.answers["Q4b"][sid] = PlantedAnswer(sid, "Q4b", text, f"Q4b/own/{sid}", 0.0, "own")
    out = tmp_path_factory.mktemp("grading_page") / "out"
    (out / "nbgrader").mkdir(parents=True)  # database.claim (in graded_out) wants the gradebook's folder
    folder = graded_out(out, CONFIG, planted)
    with Gradebook(folder.nbgrader.gradebook_url, COURSE.course_id) as gb:
        for sid, name in NAMES.items():
            first, last = name.split()
            gb.update_or_create_student(sid, first_name=first, last_name=last)
    return out


def grading_url(formgrader) -> str:
    """The page's URL as `alexnet-lab formgrader` printed it, under formgrader's."""
    found = re.search(r"^grading page: (http://\S+)$", formgrader.output(), re.MULTILINE)
    assert found, formgrader.output()
    assert found.group(1) == f"{formgrader.base}/alexnet-lab/grading?token={token_of(formgrader)}"
    return found.group(1)


def token_of(formgrader) -> str:
    return formgrader.url.split("token=", 1)[1]


def api(formgrader, method: str, path: str, body=None, token: str | None = None):
    """The JSON API as a script calls it (the token in the Authorization header): (status, data)."""
    token = token_of(formgrader) if token is None else token
    request = urllib.request.Request(f"{formgrader.base}/alexnet-lab/api/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def add_item(formgrader, question: str, **item) -> dict:
    status, data = api(formgrader, "POST", f"questions/{question}/items", item)
    assert status == 201, data
    return data["item"]


def item_key(formgrader, question: str, item: dict) -> str:
    """The number key of an item: its place in the rubric (the master's items come first)."""
    items = [i["id"] for i in api(formgrader, "GET", f"questions/{question}")[1]["items"]]
    assert items.index(item["id"]) < 9, items
    return str(items.index(item["id"]) + 1)


def manual(out: Path, question: str) -> dict[str, tuple[float | None, str]]:
    """student -> (manual score, comment) of their answer to `question`, from nbgrader's gradebook."""
    from nbgrader.api import Comment, Grade, SubmittedAssignment, SubmittedNotebook
    from nbgrader.api import Student as S

    found = {}
    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}", COURSE.course_id) as gb:
        cell = answer_cell(question)
        grades = (gb.db.query(S.id, Grade.manual_score)
                  .join(SubmittedAssignment, SubmittedAssignment.student_id == S.id)
                  .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                  .join(Grade, Grade.notebook_id == SubmittedNotebook.id).filter(Grade.name == cell))
        comments = dict(gb.db.query(S.id, Comment.manual_comment)
                        .join(SubmittedAssignment, SubmittedAssignment.student_id == S.id)
                        .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                        .join(Comment, Comment.notebook_id == SubmittedNotebook.id).filter(Comment.name == cell))
        for sid, score in grades:
            found[sid] = (score, comments.get(sid) or "")
    return found


def open_page(page, formgrader, question: str, ta: str = ""):
    page.goto(f"{grading_url(formgrader)}#{question}")  # the URL the command printed: its token logs the browser in
    if ta:
        page.fill("#ta", ta)
        page.locator("#ta").dispatch_event("change")
    expect(page.locator("body[data-ready='1']")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(".group-row").first).to_be_visible(timeout=WAIT_MS)
    page.locator("#group-list").focus()  # the keys go to the page, not the name box


def open_group_with(page, formgrader, question: str, size: int) -> dict:
    """Open (by clicking its row) the first group of at least `size` answers; its JSON."""
    _, data = api(formgrader, "GET", f"questions/{question}")
    index, group = next((i, g) for i, g in enumerate(data["groups"]) if len(g["students"]) >= size)
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    expect(page.locator(".group-row.open")).to_have_attribute("data-group", group["key"], timeout=WAIT_MS)
    return group


def test_the_master_s_rubric_items_are_there(formgrader):
    from autograder.manual.rubric import read_rubrics

    master = CourseFolder.locate(REPO, COURSE).master
    expected = read_rubrics(master, for_master(CONFIG, master).points.questions)["Q1"].items
    status, data = api(formgrader, "GET", "questions/Q1")
    assert status == 200 and [i["id"] for i in data["items"]][:len(expected)] == [i.id for i in expected]


def test_no_token_gets_nothing(formgrader):
    for path in ("questions", "questions/Q1", f"questions/Q1/answers/{HOSTILE_STUDENT}"):
        status, data = api(formgrader, "GET", path, token="")
        assert status == 403 and set(data) == {"error"}, (path, status, data)
    status, data = api(formgrader, "POST", "questions/Q1/apply", {"item": "x", "students": ["s0003"], "on": True,
                                                                   "seen": {}}, token="")
    assert status == 403 and set(data) == {"error"}
    status, _ = api(formgrader, "GET", "questions", token="0" * 48)
    assert status == 403
    request = urllib.request.Request(f"{formgrader.base}/alexnet-lab/grading")
    with urllib.request.urlopen(request, timeout=30) as response:  # redirected to Jupyter's login page
        body = response.read().decode()
        assert "/login" in response.url and "s0003" not in body and "kernels" not in body


def test_two_tas_at_once_lose_nothing_and_see_who(formgrader, chromium_browser, graded):
    question = "Q1"
    good = add_item(formgrader, question, title="Names the data", score=2, comment="Right: the data.")
    bad = add_item(formgrader, question, title="Vague", points=-1, comment="Say which layer.")
    contexts = [chromium_browser.new_context() for _ in range(2)]
    try:
        ana, bo = (c.new_page() for c in contexts)
        open_page(ana, formgrader, question, ta="ana")
        open_page(bo, formgrader, question, ta="bo 李")  # a name in any script
        group = open_group_with(ana, formgrader, question, 3)
        open_group_with(bo, formgrader, question, 3)
        victim = group["students"][1]
        # Bo grades one answer of the group (selects it, presses the item's key) ...
        bo.locator(f"article[data-student='{victim}'] button.select").click()
        bo.keyboard.press(item_key(formgrader, question, bad))
        expect(bo.locator("#status")).to_contain_text("to 1 answer", timeout=WAIT_MS)
        # ... while Ana, whose page loaded before, applies another item to the whole group.
        ana.locator(f".item[data-item='{good['id']}'] button.apply").click()
        expect(ana.locator("#status")).to_contain_text("refused", timeout=WAIT_MS)
        conflict = ana.locator(f"article[data-student='{victim}'] .conflict")
        expect(conflict).to_contain_text("bo 李 (", timeout=WAIT_MS)
        # Ana's page now shows Bo's grade of that answer, refreshed from the store.
        expect(ana.locator(f"article[data-student='{victim}'] .applied")).to_contain_text("Vague")
    finally:
        for context in contexts:
            context.close()
    grades = manual(graded, question)
    assert grades[victim][0] == 1.0 and "Say which layer." in grades[victim][1]  # Bo's, not lost
    for sid in group["students"]:
        if sid != victim:
            assert grades[sid] == (2.0, "Right: the data."), sid
    status, data = api(formgrader, "GET", f"questions/{question}")
    answer = data["answers"][victim]
    assert answer["by"].startswith("bo 李 (") and answer["applied"] == [bad["id"]]


def test_editing_an_item_rescores_gradebook_export_and_feedback(formgrader, page, graded):
    question = "Q2"
    item = add_item(formgrader, question, title="Two reasons", points=2, comment="Both reasons given.")
    open_page(page, formgrader, question, ta="cy")
    group = open_group_with(page, formgrader, question, 2)
    page.locator(f".item[data-item='{item['id']}'] button.apply").click()
    expect(page.locator("#status")).to_contain_text(f"to {len(group['students'])} answers", timeout=WAIT_MS)
    assert {manual(graded, question)[sid][0] for sid in group["students"]} == {2.0}
    # The TA changes the item's points and comment on the page.
    row = page.locator(f".item[data-item='{item['id']}']")
    row.locator("button.edit").click()
    form = row.locator("form.item-form")
    form.locator("input[name=value]").fill("1.5")
    form.locator("textarea[name=comment]").fill("Both reasons, one unexplained.")
    form.locator("button[type=submit]").click()
    expect(page.locator("#status")).to_contain_text(f"{len(group['students'])} answers re-scored", timeout=WAIT_MS)
    grades = manual(graded, question)
    for sid in group["students"]:
        assert grades[sid] == (1.5, "Both reasons, one unexplained."), sid
    done = run_cli("export", str(graded), "--allow-pending")
    assert done.returncode == 0, done.stdout + done.stderr
    sid = group["students"][0]
    with (graded / "final" / "final_grades.csv").open(newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["student_id"] == sid)
    assert float(row[f"{question}_manual"]) == 1.5 and row[f"{question}_comment"] == "Both reasons, one unexplained."
    feedback = (graded / sid / "feedback.html").read_text(encoding="utf-8")
    assert "Both reasons, one unexplained." in feedback


def test_grading_a_group_by_keyboard_alone(formgrader, page, graded):
    question = "Q3b"
    item = add_item(formgrader, question, title="Full", score=1, comment="Correct.")
    key = item_key(formgrader, question, item)
    open_page(page, formgrader, question, ta="dee")
    page.locator("#group-list").focus()
    first = page.locator(".group-row.open").get_attribute("data-group")
    page.keyboard.press("n")  # the next ungraded group
    opened = page.locator(".group-row.open").get_attribute("data-group")
    assert opened != first
    page.keyboard.press(key)
    _, data = api(formgrader, "GET", f"questions/{question}")
    group = next(g for g in data["groups"] if g["key"] == opened)
    expect(page.locator("#status")).to_contain_text(f"to {len(group['students'])} answer", timeout=WAIT_MS)
    grades = manual(graded, question)
    assert all(grades[sid][0] == 1.0 for sid in group["students"])
    # Arrows pick one answer of the next group; the item's key grades that answer alone.
    page.keyboard.press("n")
    page.keyboard.press("ArrowRight")
    chosen = page.locator("article.answer.selected").get_attribute("data-student")
    page.keyboard.press(key)
    expect(page.locator("#status")).to_contain_text("to 1 answer", timeout=WAIT_MS)
    assert manual(graded, question)[chosen][0] == 1.0
    assert not page.log.errors, page.log.errors


def test_a_hostile_answer_is_inert_text(formgrader, page):
    fired: list[str] = []
    page.on("dialog", lambda dialog: (fired.append(dialog.message), dialog.dismiss()))
    groups = {}
    for sid in (HOSTILE_STUDENT, LONG_STUDENT, "s0003"):  # each in a group of its own, opened by its address
        status, data = api(formgrader, "POST", "questions/Q4b/groups/move", {"students": [sid], "to": None})
        assert status == 200, data
        groups[sid] = data["group"]
    open_page(page, formgrader, f"Q4b/{groups[HOSTILE_STUDENT]}")
    card = page.locator(f"article[data-student='{HOSTILE_STUDENT}']")
    expect(card.locator(".text")).to_have_text(HOSTILE)
    assert card.locator("img, script, a[href^='javascript']").count() == 0
    # The 1 MiB answer arrives cut, and whole on request.
    page.evaluate("key => { location.hash = 'Q4b/' + key; }", groups[LONG_STUDENT])
    long_card = page.locator(f"article[data-student='{LONG_STUDENT}']")
    expect(long_card.locator("button.whole")).to_have_count(1, timeout=WAIT_MS)
    assert len(long_card.locator(".text").text_content()) < 10_000
    long_card.locator("button.whole").click()
    expect(long_card.locator("button.whole")).to_have_count(0, timeout=WAIT_MS)
    assert len(long_card.locator(".text").text_content()) == len(LONG_TEXT)
    # The roster's name and formgrader's link.
    page.evaluate("key => { location.hash = 'Q4b/' + key; }", groups["s0003"])
    named = page.locator("article[data-student='s0003']")
    expect(named.locator(".name")).to_have_text(NAMES["s0003"], timeout=WAIT_MS)
    assert "/formgrader/submissions/" in named.locator("a.formgrader").get_attribute("href")
    assert not fired, fired
    assert not page.log.errors, page.log.errors


def test_formgrader_and_the_reports_link_to_the_page(formgrader, page, graded):
    page.goto(formgrader.url)  # formgrader's home, logged in by the printed URL
    page.get_by_role("link", name="Grade written answers").click()
    expect(page.locator("body[data-ready='1']")).to_have_count(1, timeout=WAIT_MS)
    assert page.url.startswith(f"{formgrader.base}/alexnet-lab/grading")
    expect(page.locator("button.question")).to_have_count(len(CONFIG.points.questions))
    # The class report and a question's page link to the page where `alexnet-lab formgrader` serves it.
    report = (graded / "report.html").read_text(encoding="utf-8")
    assert 'href="http://127.0.0.1:8765/alexnet-lab/grading"' in report
    question = (graded / "questions" / "Q2.html").read_text(encoding="utf-8")
    assert 'href="http://127.0.0.1:8765/alexnet-lab/grading#Q2"' in question


def test_split_a_group_then_merge_it_back(formgrader, page):
    question = "Q3c"
    open_page(page, formgrader, question, ta="eve")
    group = open_group_with(page, formgrader, question, 3)
    moved = group["students"][:2]
    for sid in moved:
        page.locator(f"article[data-student='{sid}'] input[type=checkbox]").check()
    page.get_by_role("button", name="split ticked answers into a new group").click()
    expect(page.locator("#status")).to_contain_text("2 answers moved", timeout=WAIT_MS)
    groups = api(formgrader, "GET", f"questions/{question}")[1]["groups"]
    new = next(g for g in groups if set(g["students"]) == set(moved))
    old = next(g for g in groups if set(g["students"]) == set(group["students"]) - set(moved))
    assert new["edited"] and old["edited"]
    # Tick the new group in the list, open the old one, merge: one group again.
    page.locator(f".group-row[data-group='{new['key']}'] input[type=checkbox]").check()
    page.locator(f".group-row[data-group='{old['key']}']").click()
    page.get_by_role("button", name="Merge ticked into open").click()
    expect(page.locator("#status")).to_contain_text("2 groups merged", timeout=WAIT_MS)
    groups = api(formgrader, "GET", f"questions/{question}")[1]["groups"]
    assert any(set(g["students"]) == set(group["students"]) for g in groups)
    assert not page.log.errors, page.log.errors


def test_the_api_refuses_in_one_line(formgrader):
    question = "Q4a"
    item = add_item(formgrader, question, title="Concrete example", score=1, comment="Good example.")
    status, data = api(formgrader, "GET", f"questions/{question}")
    sid = data["groups"][0]["students"][0]
    seen = {sid: data["answers"][sid]["version"]}
    status, done = api(formgrader, "POST", f"questions/{question}/apply",
                       {"item": item["id"], "students": [sid], "on": True, "seen": seen})
    assert status == 200 and done["changed"] == [sid], done
    status, data = api(formgrader, "DELETE", f"questions/{question}/items/{item['id']}")
    assert status == 409 and data["count"] == 1 and "applied to 1 answer" in data["error"], data
    status, data = api(formgrader, "POST", f"questions/{question}/apply",
                       {"item": "no-such-item", "students": [sid], "on": True, "seen": seen})
    assert status == 404 and "no-such-item" in data["error"], data
    status, data = api(formgrader, "GET", "questions/Q9")
    assert status == 404 and "Q9" in data["error"]
    status, data = api(formgrader, "POST", f"questions/{question}/items", {"title": "Too much", "score": 5})
    assert status == 400 and "\n" not in data["error"], data
    status, data = api(formgrader, "POST", f"questions/{question}/apply", {"item": item["id"], "students": "all"})
    assert status == 400 and "students" in data["error"], data
    for value in ([sid], "x" * 10):  # a body that is no JSON object
        request = urllib.request.Request(f"{formgrader.base}/alexnet-lab/api/questions/{question}/apply",
                                         method="POST", data=json.dumps(value).encode()[:-1],
                                         headers={"Authorization": f"token {token_of(formgrader)}"})
        try:
            urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code == 400 and set(json.loads(exc.read())) == {"error"}
        else:
            pytest.fail("a body that is not JSON was accepted")


def test_q3a_shows_the_own_accuracy_and_a_ta_note_reaches_the_comment(formgrader, page, graded):
    question = "Q3a"
    open_page(page, formgrader, question, ta="fay")
    _, data = api(formgrader, "GET", f"questions/{question}")
    sid = data["groups"][0]["students"][0]
    card = page.locator(f"article[data-student='{sid}']")
    expect(card.locator(".grader-note")).to_contain_text("own before-training accuracy")
    expect(page.locator("#progress")).to_contain_text("(max 1 point)")  # Q3a is worth one point, not "1 points"
    card.locator("textarea.note-text").fill("Your number matches your own run.")
    card.locator(".note-form button[type=submit]").click()
    expect(page.locator("#status")).to_contain_text(f"note saved for {sid}", timeout=WAIT_MS)
    assert "Your number matches your own run." in manual(graded, question)[sid][1]
    assert not page.log.errors, page.log.errors


def test_a_submission_graded_while_tas_grade_appears(formgrader, graded):
    """`grade` may record while the page is served: the next load of a question shows the new answer."""
    question = "Q4a"
    before = api(formgrader, "GET", f"questions/{question}")[1]
    newcomer = planted_class(STUDENTS + 1, seed=3)
    sid = newcomer.students[-1]
    assert sid not in before["answers"]
    master = CourseFolder.locate(REPO, COURSE).master
    config = for_master(CONFIG, master)
    recorder = Recorder(OutputFolder.of(graded, config), config, master, tables_every_s=math.inf)
    recorder.record(result_of(newcomer, sid, config))
    after = api(formgrader, "GET", f"questions/{question}")[1]
    assert after["answers"][sid]["text"] == newcomer.answers[question][sid].text
    assert any(sid in g["students"] for g in after["groups"])
    progress = {q["question"]: q for q in api(formgrader, "GET", "questions")[1]["questions"]}
    assert progress[question]["answers"] == len(before["answers"]) + 1


def test_a_gradebook_held_by_another_writer_is_a_one_line_503(formgrader, graded):
    """SQLite's write lock held elsewhere (a grade recording) past the wait: refused whole, then retried."""
    question = "Q3c"
    item = add_item(formgrader, question, title="Shape named", score=1, comment="Yes.")
    _, data = api(formgrader, "GET", f"questions/{question}")
    sid = data["groups"][-1]["students"][0]
    body = {"item": item["id"], "students": [sid], "on": True, "seen": {sid: data["answers"][sid]["version"]}}
    holder = sqlite3.connect(graded / "nbgrader" / "gradebook.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        status, refused = api(formgrader, "POST", f"questions/{question}/apply", body)
    finally:
        holder.rollback()
        holder.close()
    assert status == 503 and "try again" in refused["error"] and "\n" not in refused["error"], refused
    status, done = api(formgrader, "POST", f"questions/{question}/apply", body)
    assert status == 200 and done["changed"] == [sid], done


def test_an_item_edited_by_another_ta_since_the_page_loaded_is_refused(formgrader, page):
    question = "Q4b"
    item = add_item(formgrader, question, title="Patterns named", points=1, comment="Names the patterns.")
    open_page(page, formgrader, question, ta="gus")
    status, _ = api(formgrader, "PATCH", f"questions/{question}/items/{item['id']}",
                    {"comment": "Changed by a script.", "version": item["version"]})
    assert status == 200
    row = page.locator(f".item[data-item='{item['id']}']")
    row.locator("button.edit").click()
    row.locator("form.item-form textarea[name=comment]").fill("Gus's comment.")
    row.locator("form.item-form button[type=submit]").click()
    expect(page.locator("#status")).to_contain_text("was changed by", timeout=WAIT_MS)
    # The page shows the item as it is now; the other edit is kept.
    expect(page.locator(f".item[data-item='{item['id']}'] .comment")).to_have_text("Changed by a script.")
    items = {i["id"]: i for i in api(formgrader, "GET", f"questions/{question}")[1]["items"]}
    assert items[item["id"]]["comment"] == "Changed by a script."
