"""Causes and plain text: the line that says why, without terminal escapes."""

from __future__ import annotations

from colab.deploy.output import cause, plain
from colab.runner import Result


def test_plain_removes_escape_sequences_and_controls_and_keeps_the_text() -> None:
    raw = "\x1b[2K\x1b[1A Container web-app-1  \x1b[32mStarted\x1b[0m\r\n\x1b]0;title\x07next\ttab\x07\x00 line\rover"
    assert plain(raw) == " Container web-app-1  Started\nnext\ttab line\nover"
    assert plain("plain [cooperator] text") == "plain [cooperator] text"


def test_cause_skips_tars_summary_for_the_real_error() -> None:
    full = Result(
        2,
        "",
        "tar: ./big.bin: Cannot write: No space left on device\n"
        "tar: Exiting with failure status due to previous errors\n",
    )
    assert cause(full) == "tar: ./big.bin: Cannot write: No space left on device"
    assert cause(Result(1, "only stdout\n", "")) == "only stdout"
    assert cause(Result(3, "", "")) == "exit 3"
    assert cause(Result(1, "", "\x1b[31merror: red\x1b[0m\n")) == "error: red"
