"""Making answers inert for formgrader (reports/inert.py): a huge answer against an ordinary notebook.

Three notebooks, timed in the same run with `inert_notebook` (what the coordinator runs on every
result before it writes formgrader's copy):
- baseline: seven ordinary answers of about 1 KB each;
- bounded: one answer of `--mb` MB of markdown with a tag in it (the render budget applies);
- unbounded: the same answer with the render budget lifted, as it was before (rendered by nbconvert's
  markdown renderer and checked, then cleaned with nh3, rendered and checked again).
Each is reported in seconds and as a ratio to the baseline. The bounded answer must come out whole.

    .venv/bin/python benchmarks/bench_sanitise.py [--mb 5] [--no-unbounded]
"""
from __future__ import annotations

import argparse
import copy
import html
import random
import time

import nbformat

from autograder.reports import inert


def notebook(answers: list[str]):
    nb = nbformat.v4.new_notebook()
    for i, text in enumerate(answers):
        nb.cells.append(nbformat.v4.new_markdown_cell(f"**Question {i + 1}.** Explain."))
        nb.cells.append(nbformat.v4.new_markdown_cell(text))
    return nb


def prose(rng: random.Random, chars: int) -> str:
    words = ["kernel", "edge", "*colour*", "blob", "**data**", "epoch", "accuracy", "[link](http://x.org)", "-"]
    out, size = [], 0
    while size < chars:
        out.append(rng.choice(words))
        size += len(out[-1]) + 1
    return " ".join(out)


def timed(nb) -> float:
    nb = copy.deepcopy(nb)
    started = time.perf_counter()
    inert.inert_notebook(nb)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--no-unbounded", action="store_true", help="skip the unbounded run (tens of seconds)")
    args = parser.parse_args()
    rng = random.Random(19)
    inert._exporter()  # nbconvert's import and set-up: paid once per process, not per notebook
    baseline = min(timed(notebook([prose(rng, 1024) for _ in range(7)])) for _ in range(3))
    big = f"start <img src=x onerror=alert(1)> {prose(rng, int(args.mb * 1024 * 1024))} end"
    huge = notebook([big])
    bounded = timed(huge)
    shown = copy.deepcopy(huge)
    inert.inert_notebook(shown)
    if big not in html.unescape(shown.cells[1].source):
        raise SystemExit("FAIL: the bounded answer did not come out whole")
    print(f"baseline (7 answers of 1 KB): {baseline:.3f} s")
    print(f"bounded ({args.mb:g} MB answer): {bounded:.2f} s = {bounded / baseline:.0f} x baseline")
    if not args.no_unbounded:
        limit, budget = inert.MAX_RENDERED_CHARS, inert.NOTEBOOK_RENDER_CHARS
        inert.MAX_RENDERED_CHARS = inert.NOTEBOOK_RENDER_CHARS = 10 ** 12
        try:
            unbounded = timed(huge)
        finally:
            inert.MAX_RENDERED_CHARS, inert.NOTEBOOK_RENDER_CHARS = limit, budget
        print(f"unbounded ({args.mb:g} MB answer, as before): {unbounded:.2f} s = {unbounded / baseline:.0f} x baseline"
              f" = {unbounded / bounded:.0f} x bounded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
