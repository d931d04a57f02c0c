"""Errors of the lab's library. Each message names the file and the command that fixes it."""


class AssetError(RuntimeError):
    """A data file the lab needs is missing, partial or corrupt."""
