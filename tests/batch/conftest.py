"""Shared, expensive fixtures of the batch tests: one executed submission, one graded class.

The release is executed once per session (tests/notebooks.py); every student here is a copy of
that run with other answers or edited outputs (autograder.demo.sample_class), so the suite pays for the
grading runs only.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import notebooks
import pytest
import scheduling
from classes import all_answers, fixed_seed, prose

from autograder.batch.coordinator import grade
from autograder.config import select_profile
from autograder.demo.sample_class import answer, inflate_trajectory


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    """The release executed once (smoke profile); a fresh copy per use."""
    return notebooks.executed_release(tmp_path_factory)


@pytest.fixture(scope="session")
def class_folder(tmp_path_factory, executed) -> Path:
    """A mixed class with two notebooks to run (the expensive part) and the cheap cases around them.

    alice: ran it, answered everything in her own words. carol: answered three questions, two of
    them copied from alice (one verbatim, one with a character changed), and raised the accuracies
    her notebook shows. dave: a file cut off (not JSON). notes.txt: not a notebook.
    """
    folder = tmp_path_factory.mktemp("class")
    alice = all_answers("alice")
    carol = {"Q1": alice["Q1"], "Q2": alice["Q2"].replace(".", "!"), "Q3a": prose("carol", "Q3a")}
    nbformat.write(answer(executed, alice), str(folder / "alice.ipynb"))
    nbformat.write(inflate_trajectory(answer(executed, carol)), str(folder / "carol.ipynb"))
    text = json.dumps(answer(executed, all_answers("dave")))
    (folder / "dave.ipynb").write_text(text[: len(text) // 3], encoding="utf-8")
    (folder / "notes.txt").write_text("not a submission")
    return folder


@pytest.fixture(scope="session")
@scheduling.one_worker  # two real runs: built once, for the files on one worker
def graded_class(tmp_path_factory, class_folder, course, config):
    """The class graded once by the local pool with two runners: (output folder, summary)."""
    out = tmp_path_factory.mktemp("graded") / "out"
    summary = grade([class_folder], out, course, fixed_seed(config), profile=select_profile(config, "smoke"), runners=2)
    return out, summary
