"""The exceptions of every digitrec failure a user can act on.

The library raises; only `digitrec.cli` decides how a failure is shown and what the process exits
with, so these errors carry no exit codes and name no command-line flags: an `OptionError` names
the setting as the library knows it (a `TrainConfig` field, a keyword argument), and the command
line words it as its flag.
"""

__all__ = ["DigitrecError", "OptionError"]


class DigitrecError(Exception):
    """A failure the user can act on; its message is one sentence, shown without a traceback."""


class OptionError(DigitrecError):
    """A setting with a value that cannot work: `option` names it, `problem` says why, and the
    message is the two together ("epochs must be at least 1")."""

    def __init__(self, option: str, problem: str):
        self.option = option
        self.problem = problem
        super().__init__(f"{option} {problem}")
