"""One confirmation rule for every irreversible change: --yes goes on, a terminal user must type yes, and without
a terminal the answer is no (cron and pipes never overwrite anything by accident)."""

from __future__ import annotations

import io

import pytest

from colab import confirm


def test_yes_needs_no_question() -> None:
    assert confirm.confirmed("Overwrite?", True, ask=lambda q: pytest.fail("asked anyway"))


@pytest.mark.parametrize(("typed", "expected"), [("yes\n", True), ("YES\n", True), ("y\n", False), ("\n", False)])
def test_only_yes_goes_on(monkeypatch: pytest.MonkeyPatch, typed: str, expected: bool) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    assert confirm.confirmed("Overwrite?", False, ask=confirm.ask_on_terminal) is expected


def test_without_a_terminal_the_answer_is_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))  # not a tty: never read
    assert confirm.confirmed("Overwrite?", False) is False
    assert confirm.confirmed("Overwrite?", True) is True
