"""The grading page against formgrader's route, in Debian's Chromium driven by Playwright (issue 18).

On the planted class (`written_class.py`, recorded by the real Recorder, served by the real
`alexnet-lab formgrader`), for one question:

1. **By groups, on the page**: the TA adds one fixed-score item per mark the question takes (the
   rubric form: click, title, kind, value, comment, save), then walks the groups with `n` (next
   ungraded) and grades each with the item's number key; an answer that deserves another mark than
   its group's is selected (one click) and given its own key. Every click and key is counted, and
   the result is checked: each answer must end with the points its planted answer deserves.
2. **formgrader's route**: open the notebook's submissions (three clicks from formgrader's home),
   the first submission; then per student: click the score box, type the points, click the
   comment box, paste the comment (one action, in formgrader's favour), click *next*. Driven for a
   sample of students (the gradebook must then hold those scores), extrapolated to every answer
   that waits for a TA. formgrader's keyboard route (ctrl+. keeps the box, so about 4 actions a
   student) does not run offline: its page script stops at "MathJax is not defined" (MathJax comes
   from a CDN) before it binds its keys; the result also gives the ratio at 4 a student.
3. **Timings** with `--students` and with `--large` answers: first contentful paint and the
   page ready (data loaded and drawn) after navigation, and applying an item to a group of 100
   (click to the page's confirmation), median of `--repeat` runs.

    python benchmarks/bench_grading_page.py [--students 300] [--large 3000] [--question Q1]

Writes benchmarks/results/grading-page-<date>.json; the classes it builds are removed after. Building
the class of 3,000 takes about 20 minutes here (`--large-out DIR` reuses one built before:
written_class.graded_out's OUT of `planted_class(3000, seed=1)`).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))

from written_class import graded_out, planted_class  # noqa: E402

from autograder.course import OutputFolder  # noqa: E402
from grading_config import CONFIG  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 120_000
COMMENT = "See the rubric: {p:g} of {m:g}."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(out: Path):
    """`alexnet-lab formgrader OUT` in the background: (base URL, token, grading page URL)."""
    port = free_port()
    logs = tempfile.TemporaryDirectory(prefix="bench-page-")
    log = Path(logs.name) / "formgrader.log"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(log.parent / "runtime"))
    command = [sys.executable, "-m", "autograder.cli", "--course", str(REPO), "formgrader", str(out), "--port",
               str(port), "--no-browser"]
    with log.open("w") as fh:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        found = None
        while found is None and time.monotonic() < deadline and process.poll() is None:
            found = re.search(r"^grading page: (http://\S+)$", log.read_text(), re.MULTILINE)
            time.sleep(0.2)
        if found is None:
            raise SystemExit(f"alexnet-lab formgrader did not start:\n{log.read_text()}")
        url = found.group(1)
        yield url.split("/alexnet-lab/", 1)[0], url.split("token=", 1)[1], url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        logs.cleanup()


def api(base: str, token: str, method: str, path: str, body=None):
    request = urllib.request.Request(f"{base}/alexnet-lab/api/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


class Counted:
    """A page whose clicks and keys are counted: the TA's actions."""

    def __init__(self, page):
        self.page, self.clicks, self.keys = page, 0, 0

    def click(self, selector: str) -> None:
        self.page.locator(selector).first.click()
        self.clicks += 1

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.keys += 1

    def fill(self, selector: str, text: str) -> None:
        """Typing a field's text counts as one action (as if pasted): in the compared route's favour too."""
        self.page.locator(selector).first.fill(text)
        self.keys += 1

    @property
    def actions(self) -> int:
        return self.clicks + self.keys


def ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)


def by_groups(browser, url: str, base: str, token: str, planted, question: str) -> dict:
    """Grade `question` for the whole class on the page, counting every action; checked after."""
    max_points = float(api(base, token, "GET", f"questions/{question}")["max_points"])
    marks = sorted({a.points for a in planted.answers[question].values() if a.answered})
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{url}#{question}")
    ready(page)
    ta = Counted(page)
    ta.fill("#ta", "bench")
    page.locator("#ta").dispatch_event("change")
    first_item = len(api(base, token, "GET", f"questions/{question}")["items"])
    for p in marks:  # one fixed-score item per mark, through the page's form
        ta.click("#rubric button.add")
        ta.fill("form.item-form input[name=title]", f"{p:g} points")
        page.locator("form.item-form select[name=kind]").select_option("score")
        ta.clicks += 1
        ta.fill("form.item-form input[name=value]", f"{p:g}")
        ta.fill("form.item-form textarea[name=comment]", COMMENT.format(p=p, m=max_points))
        ta.click("form.item-form button[type=submit]")
        page.wait_for_selector(f"#rubric .item:nth-of-type({first_item + marks.index(p) + 1})", timeout=WAIT_MS)
    key_of = {p: str(first_item + i + 1) for i, p in enumerate(marks)}
    assert all(len(k) == 1 for k in key_of.values()), f"more than 9 items: {key_of}"
    page.locator("#group-list").focus()
    data = api(base, token, "GET", f"questions/{question}")
    waiting = {sid for sid, a in data["answers"].items() if not a["graded"]}
    groups = [g for g in data["groups"] if waiting & set(g["students"])]
    graded_groups = 0
    while True:
        open_key = page.locator(".group-row.open").get_attribute("data-group")
        group = next((g for g in data["groups"] if g["key"] == open_key), None)
        if group is None or not (waiting & set(group["students"])):
            before = open_key
            ta.press("n")
            open_key = page.locator(".group-row.open").get_attribute("data-group")
            if open_key == before:
                ta.keys -= 1  # that key found nothing left: not part of the grading
                break
            group = next(g for g in data["groups"] if g["key"] == open_key)
        todo = [s for s in group["students"] if s in waiting]
        deserved = {s: planted.answers[question][s].points for s in todo}
        common = Counter(deserved.values()).most_common(1)[0][0]
        ta.press(key_of[common])
        page.wait_for_function("n => document.querySelectorAll('article.answer.graded').length >= n",
                               arg=min(len(todo), 50), timeout=WAIT_MS)
        for i, sid in enumerate(group["students"]):
            if sid in deserved and deserved[sid] != common:
                if i >= 50:  # drawn 50 at a time
                    raise SystemExit("an odd answer past the first 50 of its group: extend the benchmark")
                ta.click(f"article[data-student='{sid}'] button.select")
                ta.press(key_of[deserved[sid]])
                page.wait_for_selector(f"article[data-student='{sid}'] .applied:has-text('{deserved[sid]:g} points')",
                                       timeout=WAIT_MS)
        waiting -= set(todo)
        graded_groups += 1
    context.close()
    final = api(base, token, "GET", f"questions/{question}")["answers"]
    wrong = [s for s, a in planted.answers[question].items() if a.answered and final[s]["score"] != a.points]
    return {"actions": ta.actions, "clicks": ta.clicks, "keys": ta.keys, "items_added": len(marks),
            "answers_graded": sum(1 for a in final.values() if a["graded"]),
            "groups_shown": len(data["groups"]), "groups_to_grade": len(groups), "groups_graded": graded_groups,
            "planted_groups": len(planted.groups(question)),
            "distinct_texts": len({a.text for a in planted.answers[question].values()}),
            "wrong_scores": len(wrong)}


def formgrader_route(browser, base: str, token: str, out: Path, planted, question: str, sample: int) -> dict:
    """formgrader's keyboard route for `sample` students; actions per student and to start."""
    from nbgrader.api import Grade, Gradebook

    from alexnet_core.contract import answer_cell

    cell = answer_cell(question)
    course = CONFIG.course
    # The planted class has results but no executed notebooks, and formgrader lists a submission
    # only where its autograded notebook exists: the sampled students get the assignment's source
    # notebook as theirs (formgrader reads the grades from the gradebook, by cell).
    root = OutputFolder(out, course).nbgrader
    for sid in sorted(planted.students)[:sample + 1]:
        root.autograded(sid).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root.source_notebook(), root.autograded(sid))
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/formgrader?token={token}")
    fg = Counted(page)
    page.goto(f"{base}/formgrader/gradebook/{course.assignment}/{course.notebook}")
    fg.clicks += 3  # formgrader's home -> Manual Grading -> the assignment -> the notebook (as a TA clicks)
    page.wait_for_selector("tbody tr td.name a", timeout=WAIT_MS)
    fg.click("tbody tr td.name a")
    start = fg.actions
    for _ in range(sample):
        page.wait_for_selector(f"#{cell}-comment", timeout=WAIT_MS)
        page.wait_for_timeout(500)  # formgrader attaches its views once the grades are fetched
        fg.click(f"#{cell}")
        fg.press("1")  # the points
        with page.expect_response(lambda r: "/api/grade/" in r.url, timeout=WAIT_MS):
            fg.click(f"#{cell}-comment")  # leaving the box saves the score
        fg.fill(f"#{cell}-comment", COMMENT.format(p=1, m=2))  # the comment, as if pasted
        with page.expect_response(lambda r: "/api/comment/" in r.url, timeout=WAIT_MS):
            page.locator(f"#{cell}-comment").blur()  # what the click on "next" does first (not counted twice)
        with page.expect_navigation(timeout=WAIT_MS):
            fg.click("li.next a")  # the next submission
    per_student = (fg.actions - start) / sample
    context.close()
    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}", course.course_id) as gb:
        scored = gb.db.query(Grade).filter(Grade.name == cell, Grade.manual_score.isnot(None)).count()
    return {"start_actions": start, "actions_per_student": per_student, "sample": sample,
            "scores_saved_in_sample": scored}


def timings(browser, url: str, base: str, token: str, question: str, repeat: int) -> dict:
    """First paint, page ready, and applying an item to a group of 100 (medians)."""
    data = api(base, token, "GET", f"questions/{question}")
    answered = [s for s, a in data["answers"].items() if not a["graded"]][:100]  # fewer in a class under 100
    hundred = api(base, token, "POST", f"questions/{question}/groups/move", {"students": answered, "to": None})
    key = hundred["group"]
    item = api(base, token, "POST", f"questions/{question}/items",
               {"title": "bench full", "score": float(data["max_points"]), "comment": "bench"})["item"]
    paint, ready_ms, apply_ms, load_ms = [], [], [], []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(f"{url}#{question}/{key}")
        ready(page)
        paint.append(page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime"))
        ready_ms.append(float(page.get_attribute("body", "data-ready-ms")))
        load_ms.append(page.evaluate("performance.getEntriesByType('resource').filter(e => "
                                     f"e.name.endsWith('/questions/{question}')).map(e => e.duration)[0] || 0"))
        page.locator("#group-list").focus()
        assert page.locator(".group-row.open").get_attribute("data-group") == key
        button = page.locator(f".item[data-item='{item['id']}'] button.apply")
        t0 = time.perf_counter()
        button.click()
        page.wait_for_selector(f"#status:has-text('to {len(answered)} answer')", timeout=WAIT_MS)
        apply_ms.append((time.perf_counter() - t0) * 1000)
        # back to ungraded for the next round (through the API: not timed)
        group = api(base, token, "GET", f"questions/{question}")
        seen = {s: group["answers"][s]["version"] for s in answered}
        api(base, token, "POST", f"questions/{question}/apply",
            {"item": item["id"], "students": answered, "on": False, "seen": seen})
        context.close()
    return {"answers": len(data["answers"]), "groups": len(data["groups"]), "repeat": repeat,
            "first_contentful_paint_ms": statistics.median(paint), "ready_ms": statistics.median(ready_ms),
            "question_json_ms": statistics.median(load_ms), "group_size": len(answered),
            "apply_to_group_ms": statistics.median(apply_ms),
            "apply_to_group_ms_all": [round(x) for x in apply_ms]}


def build(n: int, where: Path):
    out = where / f"out-{n}"
    (out / "nbgrader").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    planted = planted_class(n, seed=1)
    graded_out(out, CONFIG, planted)
    print(f"class of {n} built in {time.monotonic() - t0:.0f} s: {out}", flush=True)
    return out, planted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--large", type=int, default=3000, help="the larger class for the timings (0: none)")
    parser.add_argument("--large-out", type=Path, help="an OUT of the larger class built before (seed 1)")
    parser.add_argument("--question", default="Q1")
    parser.add_argument("--sample", type=int, default=5, help="students graded on formgrader's route")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="result file (default benchmarks/results/grading-page-DATE.json)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    scratch = tempfile.TemporaryDirectory(prefix="bench-grading-page-")  # the built classes, removed after
    work = Path(scratch.name)
    result = {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "question": args.question, "students": args.students}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"] if os.geteuid() == 0 else [])
        out, planted = build(args.students, work)
        with serve(out) as (base, token, url):
            result["timings_small"] = timings(browser, url, base, token, args.question, args.repeat)
            print(json.dumps(result["timings_small"]), flush=True)
            # A fresh question for the action count: the timings' item and group live on args.question.
            question = "Q2" if args.question == "Q1" else "Q1"
            result["action_question"] = question
            result["by_groups"] = by_groups(browser, url, base, token, planted, question)
            print(json.dumps(result["by_groups"]), flush=True)
            # formgrader on a question nobody graded yet, so the gradebook shows what it saved.
            result["formgrader_question"] = untouched = "Q4b"
            route = formgrader_route(browser, base, token, out, planted, untouched, args.sample)
        waiting = sum(1 for a in planted.answers[question].values() if a.answered)
        route["answers_waiting"] = waiting
        route["actions_whole_class"] = round(route["start_actions"] + route["actions_per_student"] * waiting)
        route["keyboard_route_whole_class"] = route["start_actions"] + 4 * waiting
        result["formgrader_route"] = route
        result["ratio"] = round(route["actions_whole_class"] / result["by_groups"]["actions"], 1)
        result["ratio_keyboard_route"] = round(route["keyboard_route_whole_class"] / result["by_groups"]["actions"], 1)
        print(json.dumps(route), flush=True)
        if args.large:
            if args.large_out:
                large = args.large_out
            else:
                large, _ = build(args.large, work)
            with serve(large) as (base, token, url):
                result["timings_large"] = timings(browser, url, base, token, args.question, args.repeat)
                print(json.dumps(result["timings_large"]), flush=True)
        browser.close()
    scratch.cleanup()
    target = args.out or REPO / "benchmarks" / "results" / f"grading-page-{result['date']}.json"
    target.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
