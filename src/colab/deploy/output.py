"""What tools print, made fit to show: the line that names the cause, and text without terminal escapes.

A tool's last line is often a summary that names no cause (`tar: Exiting with failure status due to previous
errors`); `cause` skips such lines for the one before. `plain` removes ANSI/VT escape sequences (colours,
`ESC[2K` line erases, OSC titles) and other control characters, so logs and errors print as text anywhere.
"""

from __future__ import annotations

import re

from colab.runner import Result

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, ESC[2K, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[ -/]*[0-~]"  # the short escapes (ESC 7, ESC M, charset selection)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # the one-byte CSI
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Summary lines that follow the real error and name no cause of their own.
_SUMMARIES = re.compile(r"^tar: (Exiting with failure status|Error is not recoverable|Child returned status)")


def plain(text: str) -> str:
    """`text` without terminal escape sequences or control characters (newlines and tabs kept; a carriage
    return that rewrote a line starts a new one)."""
    text = _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


def cause(res: Result) -> str:
    """One line naming why a command failed: the last line of stderr (else stdout) that is not a summary."""
    for stream in (res.stderr, res.stdout):
        lines = [line.strip() for line in plain(stream).splitlines() if line.strip()]
        if not lines:
            continue
        telling = [line for line in lines if not _SUMMARIES.search(line)]
        return (telling or lines)[-1]
    return f"exit {res.returncode}"
