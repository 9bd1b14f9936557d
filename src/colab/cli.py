"""Glue between Invoke tasks and the plain functions: consoles, inventory option, error handling."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from invoke.exceptions import Exit, ParseError
from invoke.parser.argument import Argument

from colab.errors import ColabError

if TYPE_CHECKING:  # the heavy modules load when a task runs, not when `inv --list` reads tasks/
    from rich.console import Console

    from colab.inventory import Inventory
    from colab.steps import Report

F = TypeVar("F", bound=Callable[..., Any])

# Shared help texts so every task documents the common options the same way.
HELP = {
    "inventory": "inventory file (default: $COLAB_INVENTORY, else the repo's cluster.toml)",
    "dry_run": "print every command in order and change nothing",
    "json": "print the result as JSON",
}


def out() -> Console:
    from rich.console import Console

    return Console(soft_wrap=False, width=_width(sys.stdout))


def err() -> Console:
    from rich.console import Console

    return Console(stderr=True, width=_width(sys.stderr))


def _width(stream: Any) -> int | None:
    """A terminal's own width; a pipe or file gets whole lines (Rich would cut them to 80), unless COLUMNS says."""
    from colab.tables import UNLIMITED

    if os.environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return UNLIMITED


def user_errors(fn: F) -> F:
    """Turn ColabError into one clear message and its exit code instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ColabError as e:
            raise Exit(f"error: {e}", code=e.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper  # type: ignore[return-value]


_KINDS = {int: "a whole number", float: "a number"}


def option_errors() -> None:
    """A value of the wrong kind (`--wait-timeout abc`) is one line naming the option, not a traceback.

    Invoke converts an option's value with the option's type while it parses the command line, before any task
    runs, and lets the ValueError through; raised as ParseError it prints as one line and exits 1.
    """
    if getattr(Argument.set_value, "_colab", False):
        return
    plain = Argument.set_value

    def set_value(self: Argument, value: Any, cast: bool = True) -> None:
        try:
            plain(self, value, cast)
        except (TypeError, ValueError):
            flag = "--" + str(self.name).replace("_", "-")
            wants = _KINDS.get(self.kind, f"a {getattr(self.kind, '__name__', 'value')}")
            given = self.default if type(self.default) in (int, float) else None
            example = f"; e.g. {flag} {given} (the default)" if given is not None else ""
            raise ParseError(f"error: {flag} {value!r} is not {wants}{example}") from None

    set_value._colab = True  # type: ignore[attr-defined]
    Argument.set_value = set_value  # type: ignore[method-assign]


def quiet_broken_pipe() -> None:
    """`inv --list | head`: a reader that stops early ends the run quietly (status 141 like a shell tool).

    Not SIGPIPE's default action: that would also kill a run writing to a closed socket or pipe of its own.
    """
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if issubclass(kind, BrokenPipeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush must not fail again
            os._exit(141)
        previous(kind, value, tb)

    sys.excepthook = hook


def load_inventory(path: str | None) -> Inventory:
    from colab import inventory

    return inventory.load(path or None)


def progress(as_json: bool) -> Console:
    """Where a task prints its progress: stderr when stdout carries JSON, else stdout."""
    return err() if as_json else out()


def conclude(report: Report, as_json: bool = False) -> None:
    """Print a task's summary table (or JSON) on stdout and exit with the report's code."""
    from colab.steps import print_report

    print_report(report, out(), as_json=as_json)
    finish(report.exit_code)


def finish(code: int) -> None:
    """End a task with its exit code (0 returns normally so Invoke exits 0)."""
    if code:
        sys.stdout.flush()
        raise Exit(code=code)
