"""Names the lab notebook, `alexnet_core` and the grader share (ARCHITECTURE.md).

Kept free of heavy imports: the student's check and the runner import it and must start fast.
`alexnet_core.display` emits the same MIME types (it cannot import the grader).
"""
TRAJECTORY_MIME = "application/vnd.alexnet-lab.trajectory+json"
PLOT_MIME = "application/vnd.alexnet-lab.plot+json"
PLACEHOLDER = "YOUR ANSWER HERE"
"""nbgrader's text in an answer cell nobody has touched."""


def grade_id(cell) -> str | None:
    """The nbgrader grade_id of a cell (dict or NotebookNode), or None."""
    return ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
