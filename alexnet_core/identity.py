"""Whose experiment this is: the student id, and the seed it gives. Pure standard library.

Every student trains their own AlexNet-mini: the seed of model init, data order, augmentation and
the kernels shown is derived from (course salt, student id) with a stable hash, so the same id
gives the same run on every machine, two ids give two runs, and the grader can re-run anyone's
experiment from the id alone. The salt is the course's (`grading_config.Identity.salt`), rendered
into the notebook by the release; a course can switch the scheme off and then runs the fixed seed.

The grader never trusts the typed id for the seed: it passes the seed of the submitter's id in the
recipe (`$ALEXNET_LAB_RECIPE`), and a recipe from the grader keeps its seed whatever the id cell
says (`profiles.active_profile`).
"""
from __future__ import annotations

import hashlib
import os

ID_CELL = "student_id"
"""nbgrader grade_id of the one editable code cell near the top of the notebook."""
ID_VARIABLE = "STUDENT_ID"
HUB_USER_ENV = "JUPYTERHUB_USER"
PLACEHOLDERS = frozenset({"", "your student id", "your_student_id", "student id", "student_id", "id",
                          "your id", "xxx", "xxxxxxx", "todo", "none", "0", "s0000000", "..."})
SEED_BITS = 31


def normalise_id(student_id) -> str:
    """The id as the seed reads it: surrounding spaces and quotes gone, case folded."""
    return str(student_id or "").strip().strip("\"'").strip().casefold()


def id_problem(student_id) -> str | None:
    """Why `student_id` is not a usable id (empty, a placeholder, too long), or None."""
    norm = normalise_id(student_id)
    if not norm:
        return "the student id is empty"
    if norm in PLACEHOLDERS or set(norm) <= {"x", "."}:
        return f"the student id {str(student_id).strip()!r} is a placeholder, not your id"
    if len(norm) > 64 or any(ch.isspace() for ch in norm):
        return f"the student id {str(student_id).strip()[:70]!r} is not one id (spaces, or longer than 64 characters)"
    return None


def derive_seed(salt: str, student_id) -> int:
    """The seed of (course salt, student id): sha256, first 31 bits. Stable across machines,
    Python versions and runs (no `hash()`, which is salted per process)."""
    digest = hashlib.sha256(f"alexnet-lab\x00{salt}\x00{normalise_id(student_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2 ** SEED_BITS)


def id_from_hub(typed) -> str:
    """The typed id, or on JupyterHub the hub's user name when nothing usable was typed."""
    if id_problem(typed) and os.environ.get(HUB_USER_ENV, "").strip():
        return os.environ[HUB_USER_ENV].strip()
    return str(typed or "").strip()


def id_cell_source(student_id: str) -> str:
    """The id cell as the grader runs it: the submitter's id, whatever was typed."""
    return f"{ID_VARIABLE} = {student_id!r}  # set by the grader from the submission"


def typed_id(source: str) -> str | None:
    """The id typed in an id cell's source (`STUDENT_ID = "..."`), read without running it."""
    import ast

    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == ID_VARIABLE for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, (str, int)):
                return str(node.value.value).strip()
            return None
    return None


def course_salt(source: str) -> str | None:
    """The course salt written in the notebook's imports cell (`use_student_id(..., course_salt="...")`),
    read without running it; None when the cell has none (an older release)."""
    import ast

    # IPython's magics (`%matplotlib inline`) are not Python: blank them out, keeping line numbers.
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in (source or "").splitlines())
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "use_student_id":
            for kw in node.keywords:
                if kw.arg == "course_salt" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    return kw.value.value
    return None
