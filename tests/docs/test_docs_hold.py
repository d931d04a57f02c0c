"""Facts the docs state that code can check: the grader's packages, the metadata a release stamps.

A newcomer reads ARCHITECTURE.md and `autograder/__init__.py` before the code; where they name a
module or a key, that name must exist, and what exists must be named.
"""
from __future__ import annotations

import re
from pathlib import Path

import autograder
from autograder.authoring.render import render_master
from autograder.config import for_master, select_profile

REPO = Path(__file__).resolve().parents[2]


def _packages() -> set[str]:
    root = Path(autograder.__file__).parent
    return {p.parent.name for p in root.glob("*/__init__.py")}


def test_every_package_of_the_grader_is_named_where_a_newcomer_looks():
    packages = _packages()
    assert {"authoring", "submission", "batch", "reports", "export"} <= packages
    overview = autograder.__doc__
    architecture = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for name in packages:
        assert f"`{name}/`" in overview, f"autograder/__init__.py does not name {name}/"
        assert f"{name}/" in architecture, f"ARCHITECTURE.md does not name {name}/"


def test_the_metadata_keys_architecture_lists_are_the_ones_a_release_stamps(config, course):
    config = for_master(config, course.master)
    rendered = render_master("local", select_profile(config, "smoke"), master=course.master, config=config)
    stamped = set(rendered.metadata["alexnet_lab"])
    architecture = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    listed = re.search(r"`metadata\.alexnet_lab = \{([^}]*)\}`", architecture, re.S)
    assert listed, "ARCHITECTURE.md no longer lists the notebook's metadata keys"
    assert set(re.findall(r'"(\w+)"', listed.group(1))) == stamped
