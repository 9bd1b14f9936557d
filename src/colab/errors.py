"""Errors a user can fix. Each prints as one line (cause and fix), never as a traceback.

Standard library only: `scripts/venv` (`colab.checkout_venv`) imports it before anything is installed.
"""

from __future__ import annotations


class ColabError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""

    exit_code = 1


class InventoryError(ColabError):
    """The inventory is invalid; holds every problem found, one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class NetworkGuardError(ColabError):
    """A connection to an address tests and CI must never contact."""


class RenderError(ColabError):
    """A template or an inventory fact the templates cannot use; names the file and line."""


def last_line(stderr: str, stdout: str, returncode: int) -> str:
    """The line a one-line error quotes from a failed command: the last non-empty line of stderr, else of stdout,
    else `exit N`. (`runner.Result.last_line`; here, in the standard library only, for `checkout_venv` too.)"""
    for text in (stderr, stdout):
        lines = text.strip().splitlines()
        if lines:
            return lines[-1].strip()
    return f"exit {returncode}"
