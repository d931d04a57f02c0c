"""The grader's floors import one way, so each step can be read (and changed) knowing only those below.

Top-level modules (config, course, files, gradebook, sources, errors, database) are the ground
floor; then one submission (authoring, submission), the reports, the batch, the TAs' manual grading,
the export, and on top the commands (cli) and the demo package (its sample classes included). A
module may import its own floor and the floors below it, never one above, also not inside a
function (where a cycle would hide). The student floor, `alexnet_core`, imports nothing of the grader.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLOORS = {"authoring": 1, "submission": 1, "reports": 2, "batch": 3, "manual": 4, "export": 5,
          "cli": 6, "demo": 6}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def _floor(module: str) -> int:
    return FLOORS.get(module.split(".")[1], 0) if module.count(".") else 0


def test_the_grader_s_floors_import_only_downwards():
    upward = []
    for path in sorted((REPO / "autograder").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for name in _imports(path):
            if name.startswith("autograder.") and _floor(name) > _floor(module):
                upward.append(f"{module} imports {name}")
    assert not upward, "\n".join(upward)


def test_the_student_floor_imports_nothing_of_the_grader():
    for path in sorted((REPO / "alexnet_core").rglob("*.py")):
        grader = [n for n in _imports(path) if n.split(".")[0] in ("autograder", "grading_config", "nbgrader")]
        assert not grader, f"{path.relative_to(REPO)} imports {grader}"
