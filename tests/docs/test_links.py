"""The docs a newcomer follows link to files and sections that exist.

README is the front door; each guide under docs/ is for one reader; ARCHITECTURE.md is for
developers. Every relative link among them (a file, a folder, a `#section` of a markdown file)
must resolve, so a guide split or a renamed heading cannot leave a dead link behind.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "ARCHITECTURE.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(markdown: Path) -> set[str]:
    """GitHub's anchors for a file's headings: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", title)))
    return found


def _without_code(text: str) -> str:
    return re.sub(r"```.*?```", "", text, flags=re.S)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc):
    dead = []
    for target in LINK.findall(_without_code(doc.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked here (no network)
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            dead.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            dead.append(f"{target}: no heading with that anchor in {file.name}")
    assert not dead, f"{doc.name}: " + "; ".join(dead)


def test_the_front_door_links_each_guide():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for guide in (REPO / "docs").glob("*.md"):
        assert f"docs/{guide.name}" in readme, f"README does not link docs/{guide.name}"
