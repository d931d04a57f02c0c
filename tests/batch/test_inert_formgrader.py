"""Answers full of active HTML and markdown stay data where a TA reads them: nbgrader's formgrader
(the notebook we write to `autograded/`, rendered as formgrader renders it), nbgrader's feedback,
and our own pages; plain answers come through unchanged and the original text stays evidence.

One class graded once (two submissions: ~20 s) serves every test here.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from classes import all_answers
from nbconvert import HTMLExporter
from nbgrader.server_extensions.formgrader import handlers as formgrader_handlers

from alexnet_core.contract import QUESTIONS
from autograder.batch.coordinator import grade
from autograder.config import select_profile
from autograder.demo.sample_class import answer, answer_cells
from autograder.reports import inert

HOSTILE = [
    "<script>alert('script')</script>",
    "<svg onload=alert('svg')><circle r=5 /></svg>",
    "<img src=x onerror=alert('img')>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">html link</a>',
    '<a href="jav&#x61;script:alert(1)">entity link</a>',
    '<a href="jav&#x09;ascript:alert(1)">tab link</a>',
    "[md link](javascript:alert(1))",
    "[obfuscated](jav&#x61;script:alert(1))",
    "[colon](javascript&colon;alert(1))",
    "[spaced](  JaVaScRiPt:alert(1)  )",
    "[angle](<javascript:alert(1)>)",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "![pic](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<iframe src=\"https://example.org\"></iframe>",
    "<object data=\"x.swf\"></object><embed src=\"javascript:alert(1)\">",
    "<style>body { display: none }</style>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<form action="https://evil.example"><input name="pw"><button>Login</button></form>',
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</script>",
    "<!-- --!><img src=x onerror=alert('comment')> -->",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>",
    "<details open ontoggle=alert(1)>x</details>",
    "<a href=\"https://example.org\" onclick=\"alert(1)\">handler on a good link</a>",
    "<base href=\"javascript:/\"><link rel=import href=x>",
    "$\\href{javascript:alert(1)}{mathjax link}$",
]
PLAIN = "The kernels look like edges and colour blobs; accuracy rose from 10% to 40% -> see the plot."
HOSTILE_ANSWERS = {q: PLAIN + "\n\n" + "\n\n".join(HOSTILE[i::len(QUESTIONS)]) for i, q in enumerate(QUESTIONS)}
ADDED_MARKDOWN = "A note of my own: <img src=x onerror=alert('added cell')> [x](javascript:alert(2))"

FORBIDDEN_TAGS = {"script", "svg", "math", "iframe", "object", "embed", "style", "meta", "form", "input", "button",
                  "base", "link", "details", "frame", "frameset", "applet", "template"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, executed, course, config):
    folder = tmp_path_factory.mktemp("hostile_class")
    mallory = answer(executed, HOSTILE_ANSWERS)
    cells = answer_cells(mallory)
    at = mallory.cells.index(cells["Q1"]) + 1  # an extra markdown cell of the student's own
    mallory.cells.insert(at, nbformat.v4.new_markdown_cell(ADDED_MARKDOWN))
    nbformat.write(mallory, str(folder / "mallory.ipynb"))
    nbformat.write(answer(executed, all_answers("paula")), str(folder / "paula.ipynb"))
    out = tmp_path_factory.mktemp("hostile_graded") / "out"
    summary = grade([folder], out, course, config, profile=select_profile(config, "smoke"), runners=1)
    assert summary.graded == 2, summary
    return out


def _autograded(out, sid):
    return out / "nbgrader" / "autograded" / sid / "alexnet" / "alexnet.ipynb"


def _render(out, sid, template: str) -> str:
    """The page formgrader's submission view makes (its exporter, configured as its extension does)."""
    # As nbgrader configures it: formgrader's extension, and GenerateFeedback (its bootstrap css path).
    bootstrap = Path(formgrader_handlers.__file__).parent / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    exporter = HTMLExporter(template_name=template, extra_template_basedirs=[formgrader_handlers.template_path],
                            extra_template_paths=[str(bootstrap)])
    resources = {"assignment_id": "alexnet", "notebook_id": "alexnet", "submission_id": "x", "index": 0, "total": 1,
                 "base_url": "", "student": sid, "last_name": "", "first_name": "", "notebook_path": "x"}
    page, _ = exporter.from_filename(str(_autograded(out, sid)), resources=resources)
    return page


def _unsafe_url(value: str, picture: bool = False) -> bool:
    """Not http(s), mailto or relative. A picture may be a base64 raster image: how nbconvert shows
    plots and the master's figures, and an <img> of a PNG cannot act."""
    url = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(value)).lower()
    if picture and re.fullmatch(r"data:image/(png|jpeg|gif);base64,[a-z0-9+/=]*", url):
        return False
    m = re.match(r"([a-z][a-z0-9+.\-]*):", url)
    return m is not None and m.group(1) not in ("http", "https", "mailto")


def _active_in(elements) -> list[str]:
    """What could act in these parts of a page, read as a browser reads them (BeautifulSoup)."""
    found = []
    for root in elements:
        for el in [root, *root.find_all(True)]:
            if el.name in FORBIDDEN_TAGS:
                found.append(f"<{el.name}>")
            for attr, value in el.attrs.items():
                value = " ".join(value) if isinstance(value, list) else value
                if attr.lower().startswith("on") or attr.lower() in ("style", "formaction", "action", "srcdoc"):
                    found.append(f"{attr}= on <{el.name}>")
                if attr.lower() in ("href", "src", "xlink:href", "data") and _unsafe_url(value, el.name == "img"):
                    found.append(f"{attr}={value[:40]}")
        text = html.unescape(" ".join(root.find_all(string=True)))
        if re.search(r"\\(href|url|class|cssId|style|unicode|require)(?![A-Za-z])", text):
            found.append("MathJax command")
    return found


def _student_parts(page: str):
    """The parts of an nbgrader page that come from the notebook: rendered markdown and rich outputs."""
    soup = BeautifulSoup(page, "html.parser")
    parts = soup.select(".text_cell_render, .output_html, .output_markdown, .output_subarea")
    assert parts, "no notebook content found on the page"
    return parts


def test_formgrader_renders_no_active_content_from_hostile_answers(graded):
    page = _render(graded, "mallory", "formgrade")
    assert _active_in(_student_parts(page)) == []
    soup = BeautifulSoup(page, "html.parser")
    shown = soup.get_text(" ")
    assert PLAIN in shown and "handler on a good link" in shown  # the answers are still there to read
    # No script element anywhere in a notebook cell: formgrader's own scripts live outside them.
    assert not soup.select(".cell script") and not soup.select(".nbgrader_cell script")


def test_nbgraders_own_feedback_page_has_no_active_content_either(graded):
    """`nbgrader generate_feedback`, run for real in the output's nbgrader course root."""
    root = graded / "nbgrader"
    done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "generate_feedback", "--assignment", "alexnet",
                           "--student", "mallory", "--force"], cwd=root, capture_output=True, text=True, timeout=300)
    page = root / "feedback" / "mallory" / "alexnet" / "alexnet.html"
    assert page.is_file(), done.stdout + done.stderr
    assert _active_in(_student_parts(page.read_text())) == []


def test_the_autograded_notebook_source_itself_is_inert_and_says_it_was_changed(graded):
    nb = nbformat.read(str(_autograded(graded, "mallory")), as_version=4)
    cells = answer_cells(nb)
    for label in QUESTIONS:
        cell = cells[label]
        assert inert.active_parts(inert.render_markdown(cell.source, cell.get("attachments"))) == [], label
        assert "active content" in cell.metadata["alexnet_lab"][inert.SANITISED_KEY], label
        assert "alexnet-lab: active content" in cell.source  # the TA sees the note in formgrader
        assert cell.metadata["nbgrader"]["grade_id"] == f"answer_{label.lower()}"  # still a graded cell


def test_the_original_answers_stay_evidence_in_graded_json_and_are_escaped_on_our_pages(graded):
    result = json.loads((graded / "mallory" / "graded.json").read_text())
    texts = {a["label"]: a["text"] for a in result["answers"]}
    assert texts == HOSTILE_ANSWERS  # exactly as submitted
    assert any("formgrader's copy made safe" in f for f in result["flags"])
    pages = [graded / "report.html", graded / "mallory" / "feedback.html",
             *sorted((graded / "questions").glob("*.html"))]
    for path in pages:  # our charts are inline SVG with styles of our own, the report folds long tables
        soup = BeautifulSoup(path.read_text(), "html.parser")  # in <details>: judged by the student's parts
        assert not soup.find_all(FORBIDDEN_TAGS - {"style", "svg", "meta", "details"}), path
        assert not soup.find_all("meta", attrs={"http-equiv": True}), path
        assert not [a for el in soup.find_all(True) for a in el.attrs if a.lower().startswith("on")], path
        assert not [el for el in soup.find_all(href=True) if _unsafe_url(el["href"])], path
    q1 = BeautifulSoup((graded / "questions" / "Q1.html").read_text(), "html.parser").get_text()
    assert HOSTILE[0] in q1 and "[md link](javascript:alert(1))" in q1  # shown as typed, not run


def test_plain_answers_and_the_masters_cells_come_through_unchanged(graded):
    nb = nbformat.read(str(_autograded(graded, "paula")), as_version=4)
    cells = answer_cells(nb)
    assert {label: cells[label].source for label in QUESTIONS} == all_answers("paula")
    assert not [c for c in nb.cells if inert.SANITISED_KEY in c.metadata.get("alexnet_lab", {})]
    result = json.loads((graded / "paula" / "graded.json").read_text())
    assert not any("formgrader" in f for f in result["flags"])


def test_the_students_extra_markdown_cell_is_inert_too(graded):
    nb = nbformat.read(str(_autograded(graded, "mallory")), as_version=4)
    mine = [c for c in nb.cells if c.cell_type == "markdown" and "A note of my own" in c.source]
    # nbgrader's sanitising may drop an added cell; when it is kept it is inert.
    for cell in mine:
        assert inert.active_parts(inert.render_markdown(cell.source)) == []
    assert os.path.getsize(_autograded(graded, "mallory")) > 0


# -- the module on its own (no grading) ---------------------------------------------------------
ORDINARY = [
    PLAIN,
    "# My answer\n\n**Edges** and _colour blobs_; `w < 0` in code.\n\n- one\n- two\n\n1. first\n2. second",
    "| epoch | accuracy |\n|:--|--:|\n| 0 | 10 % |\n| 5 | 40 % |",
    "```python\nprint('<script>')\n```",
    "See [the paper](https://papers.nips.cc/paper/4824) and <https://pytorch.org>; mail <a@b.org>.",
    "Loss falls like $e^{-t}$ and $$\\sum_i x_i^2$$ stays small.",
    "> a quote\n\n---\n\nA <b>bold</b> word and a <br> break and <sub>2</sub>.",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_markdown_is_kept_exactly_as_written(text):
    assert inert.inert_markdown(text) == (text, False)


@pytest.mark.parametrize("text", HOSTILE + [ADDED_MARKDOWN])
def test_each_hostile_text_is_changed_into_an_inert_one_that_keeps_its_words(text):
    original = PLAIN + "\n\n" + text
    cleaned, changed = inert.inert_markdown(original)
    assert inert.active_parts(inert.render_markdown(cleaned)) == []
    assert _active_in([BeautifulSoup(inert.render_markdown(cleaned), "html.parser")]) == []
    if not changed:  # only where nbconvert already shows it as text (e.g. a tag CommonMark does not accept)
        assert cleaned == original and "<" not in inert.render_markdown(original).replace("<p>", "").replace("</p>", "")
        return
    shown = BeautifulSoup(inert.render_markdown(cleaned), "html.parser").get_text()
    assert shown.startswith(PLAIN) and "alexnet-lab: active content" in shown  # the words stay, with the note


def test_outputs_metadata_and_cells_the_templates_print_raw_are_made_safe():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("x", execution_count=1)
    code.execution_count = "<script>alert(1)</script>"
    code.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<b>ok</b><script>alert(1)</script>", "application/javascript": "alert(1)",
        "image/svg+xml": "<svg onload=alert(1)>", "text/plain": "ok", "image/png": "iVBORw0KGgo="})]
    bad_id = nbformat.v4.new_markdown_cell("fine", metadata={"nbgrader": {"grade_id": '"><script>x</script>', "grade": True}})
    raw = nbformat.v4.new_raw_cell("<img src=x onerror=alert(1)>")
    attached = nbformat.v4.new_markdown_cell("![a](attachment:a.svg)", attachments={"a.svg": {"image/svg+xml": "PHN2Zz4="}})
    nb.cells = [code, bad_id, raw, attached]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    notes = inert.inert_notebook(nb)
    assert len(notes) == 5 and "widgets" not in nb.metadata
    assert code.execution_count is None and set(code.outputs[0].data) == {"text/html", "text/plain", "image/png"}
    assert code.outputs[0].data["text/html"] == "<b>ok</b>"
    assert "nbgrader" not in bad_id.metadata and bad_id.source == "fine"
    assert "onerror" not in raw.source and "attachments" not in attached
    for cell in nb.cells:
        assert inert.SANITISED_KEY in cell.metadata["alexnet_lab"]
