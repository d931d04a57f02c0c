"""Evidence: what the student's own saved outputs show, read before anything clears them."""
from __future__ import annotations

from nbformat import NotebookNode

from alexnet_core.contract import PLOT_MIME, kernel_plot_evidence, output_records, trajectory_evidence


def extract_evidence(nb: NotebookNode, epochs: int | None = None) -> dict:
    """The student's training record and kernel plots, as the contract's readers see them, and
    what is malformed about them (one line each): malformed evidence earns nothing and is flagged.
    `epochs`: the recipe's, where known, which the record's length must match."""
    # Outputs are the student's to edit: only well-formed kinds count.
    kinds = sorted({rec.get("kind") for _, rec in output_records(nb, PLOT_MIME)
                    if isinstance(rec.get("kind"), str)})
    trajectory, trajectory_problem = trajectory_evidence(nb, epochs)
    kernels, plot_problems = kernel_plot_evidence(nb)
    return {
        "trajectory": trajectory,
        "trajectory_problem": trajectory_problem,
        "plots": {"kernels": kernels, "kinds": kinds, "problems": plot_problems},
    }
