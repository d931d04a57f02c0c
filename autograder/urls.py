"""The addresses of the server `alexnet-lab formgrader OUT` starts: formgrader's pages and the
grading page beside them (one Jupyter server, one token).

On the ground floor: the reports link to these pages, the grading page serves one of them and
links to another, and the launcher (export/formgrader.py) prints them.
"""
from __future__ import annotations

DEFAULT_PORT = 8765
"""formgrader's port unless --port: the reports link to it."""
GRADING_PATH = "alexnet-lab/grading"
"""The grading page (autograder/manual/server.py), under the server's base URL."""


def formgrader_url(port: int = DEFAULT_PORT, ip: str = "127.0.0.1", token: str = "") -> str:
    return f"http://{ip}:{port}/formgrader" + (f"?token={token}" if token else "")


def grading_page_url(port: int = DEFAULT_PORT, ip: str = "127.0.0.1", token: str = "", question: str = "") -> str:
    """The grading page's address (at `question`, when given)."""
    return (f"http://{ip}:{port}/{GRADING_PATH}" + (f"?token={token}" if token else "")
            + (f"#{question}" if question else ""))


def submission_path(submission_id: str) -> str:
    """formgrader's page for one submitted notebook (nbgrader's SubmittedNotebook id), under the base URL."""
    return f"formgrader/submissions/{submission_id}/"


def submission_url(submission_id: str, port: int = DEFAULT_PORT, ip: str = "127.0.0.1") -> str:
    return f"http://{ip}:{port}/{submission_path(submission_id)}"
