"""One way to ask before a change that cannot be undone (a restore over live data, a rollback, taking `down`).

`--yes` answers for the user; without a terminal to ask on, the answer is no (a cron job or a pipe never
overwrites anything by accident). The prompt goes to stderr so that stdout stays data.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Ask = Callable[[str], bool]


def ask_on_terminal(question: str) -> bool:
    """Ask on the terminal: only `yes` (any case) goes on."""
    print(f"{question} Type yes to go on: ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() == "yes"


def asker() -> Ask | None:
    """The terminal question, or None when there is no terminal to ask on (the caller then needs --yes)."""
    return ask_on_terminal if sys.stdin.isatty() else None


def confirmed(question: str, yes: bool, ask: Ask | None = None) -> bool:
    """True when --yes was given, or a terminal user typed yes; False without a terminal."""
    if yes:
        return True
    ask = ask or asker()
    return ask(question) if ask is not None else False
