"""Evidence: what the student's own saved outputs show, read before anything clears them."""
from __future__ import annotations

from nbformat import NotebookNode

from alexnet_core.contract import PLOT_MIME, output_records, read_kernel_plots, read_trajectory


def extract_evidence(nb: NotebookNode) -> dict:
    """The student's training record and kernel plots, as the contract's readers see them."""
    # Outputs are the student's to edit: only well-formed kinds count.
    kinds = sorted({rec.get("kind") for _, rec in output_records(nb, PLOT_MIME)
                    if isinstance(rec.get("kind"), str)})
    return {
        "trajectory": read_trajectory(nb),
        "plots": {"kernels": read_kernel_plots(nb), "kinds": kinds},
    }
