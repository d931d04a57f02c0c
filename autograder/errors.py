"""The project's exceptions. Messages are for the person at the keyboard: what, where, what to do."""


class LabError(Exception):
    """Base for every error the CLI turns into a one-line reason and a non-zero exit."""


class ConfigError(LabError, ValueError):
    """A setting or a command-line value is wrong."""


class RenderError(LabError):
    """The master notebook does not render (undefined variable, bad template) ."""


class ReleaseError(LabError):
    """nbgrader could not build the release or register the assignment."""


class SubmissionError(LabError):
    """A submission cannot be graded as it is. Recorded as `failed` with this message; the batch goes on."""
