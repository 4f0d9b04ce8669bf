"""The one error of upload processing that is the user's to fix."""

from __future__ import annotations


class BadInputError(Exception):
    """The upload cannot be processed as it is; the message says what the user should change.

    Anything else raised by this package is a bug or an environment problem (the worker records
    it as an internal error and may retry); a BadInputError is final and never retried.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


MAX_PROBLEMS_SHOWN = 5


def combine(problems: list[str]) -> BadInputError:
    """One error listing several problems (users fix a batch in one go), the first few only."""
    shown = " ".join(problems[:MAX_PROBLEMS_SHOWN])
    hidden = len(problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        shown += f" ({hidden} more problem{'s' if hidden > 1 else ''} not shown.)"
    return BadInputError(shown)
