"""Showing things in a notebook without ever writing to stderr.

nbgrader scores a grade cell that wrote to stderr as 0, and a plot reaches the saved notebook only
when its PNG is in the outputs whatever the matplotlib backend is. So everything here goes
through IPython's rich display as raw MIME bundles, and outside IPython (CLI, tests) it is a no-op:
callers there use the returned values or save files instead.
"""
from __future__ import annotations

from typing import Any

from IPython import get_ipython
from IPython.display import display

from .contract import PLOT_MIME, TRAJECTORY_MIME

__all__ = ["PLOT_MIME", "TRAJECTORY_MIME", "ProgressLine", "in_ipython", "note_standin", "show_bundle",
           "standins_used"]

# Set when the process used a stand-in (untrained AlexNet, substitute photo): predictions say so.
_standins_used: set = set()


def note_standin(what: str) -> None:
    _standins_used.add(what)


def standins_used() -> set:
    return set(_standins_used)


def in_ipython() -> bool:
    """True inside a Jupyter kernel or an IPython shell."""
    return get_ipython() is not None


def show_bundle(bundle: dict[str, Any]) -> None:
    """Emit one display output holding every MIME type of `bundle` (only inside IPython)."""
    if not in_ipython():
        return
    display(bundle, raw=True)


class ProgressLine:
    """One line of text updated in place in the cell output (a display handle, not stderr).

    Outside IPython it stays silent: the per-epoch lines printed to stdout are the progress there.
    """

    def __init__(self, text: str):
        self._handle = None
        if in_ipython():
            self._handle = display({"text/plain": text}, raw=True, display_id=True)

    def update(self, text: str) -> None:
        if self._handle is not None:
            self._handle.update({"text/plain": text}, raw=True)
