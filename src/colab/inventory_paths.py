"""Which characters an inventory value may hold where it reaches a rendered file or a command.

Paths (`nodes.*.repo`, `fortress.path`, `fortress.mounts.*`, `raid.mount`, `backup.source` / `target`) are
written into shell scripts, a cron line, TOML read by mise, systemd units, fstab and smb.conf. Each of those
files quotes or escapes the value for its own language (`colab.quoting`); this module refuses what no quoting
can carry, so a path is any text a real folder name holds:

- absolute and in normal form: starts with `/`, no empty, `.` or `..` component, no trailing `/`;
- any printable character, the plain space included (macOS folders have spaces);
- never a control character (newline, tab, DEL, C1), an invisible formatting character (zero-width space,
  bidi overrides) or white space other than the plain space (no-break space, line separator);
- not ending in a space or a backslash: smb.conf and systemd units drop trailing white space, and a
  backslash at the end of a line continues it there.

Some keys have a rule of their own, each with the reason in its message: `nodes.*.repo` holds no `{` (mise
renders a task's `dir` twice, so no escape of `{{ }}` survives) and no `:` (its `.venv/bin` goes on PATH);
`fortress.path` holds no `%` (Samba expands `%U`, `%$(NAME)` … in smb.conf and has no escape). Device paths
(`fortress.device`, `raid.device`, `raid.disks`) are names under /dev/ in udev's characters; Infisical folder
paths (`*password_path`, `secrets_path`, `headscale_key_path`) are Infisical's folder names; tool versions
and the Infisical project id have small character sets of their own. Other free text (URLs, health URLs)
may hold no control character either.

Each check returns the problem as one line (what is wrong, why, what to write), or None.
"""

from __future__ import annotations

import re
import unicodedata

_NAMES = {
    "\n": "a newline",
    "\r": "a carriage return",
    "\t": "a tab",
    "\x00": "a NUL",
    "\x7f": "a DEL",
    "\x1b": "an escape",
}


def describe(ch: str) -> str:
    """A character as a message shows it: `'%'`, `a newline (U+000A)`, `U+200B ZERO WIDTH SPACE`."""
    code = f"U+{ord(ch):04X}"
    if ch in _NAMES:
        return f"{_NAMES[ch]} ({code})"
    category = unicodedata.category(ch)
    if category[0] in "CZ" and ch != " ":
        name = unicodedata.name(ch, "")
        return f"{code} {name}".strip() if name else f"a control character ({code})"
    return "a space" if ch == " " else repr(ch)


def _invisible(ch: str) -> str | None:
    """Why `ch` can never be in a value, or None: control, formatting and unusual white space characters."""
    category = unicodedata.category(ch)
    if category == "Cc":
        return "control characters never are"
    if category == "Cf":
        return "invisible formatting characters never are"
    if ch != " " and (ch.isspace() or category in ("Zs", "Zl", "Zp")):
        return "the plain space is the only white space allowed"
    return None


def text_problem(value: str) -> str | None:
    """Free text (URLs and the like): no control, formatting or unusual white space character."""
    for ch in value:
        why = _invisible(ch)
        if why:
            return f"{describe(ch)} is not allowed here: {why}"
    return None


def _normal(path: str) -> str:
    """`path` in normal form, resolved lexically (what to suggest instead of `/a//b/./c/..`)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def path_problem(value: str) -> str | None:
    """A folder or file path, checked as the module docstring says."""
    if not value.startswith("/"):
        return "must be an absolute path, starting with '/'"
    for ch in value:
        why = _invisible(ch)
        if why:
            return f"{describe(ch)} is not allowed in a path: {why}"
    if value.endswith(" "):
        return "a path may not end with a space: smb.conf and systemd units drop trailing white space"
    if value.endswith("\\"):
        return "a path may not end with '\\': it continues the line in smb.conf and systemd units"
    normal = _normal(value)
    if value != normal:
        return f"must be a path in normal form (no '//', '/./', '/../' or trailing '/'): write {normal!r}"
    return None


def repo_problem(value: str) -> str | None:
    """`nodes.*.repo`: a path, without `{` (mise renders a task's dir twice) and `:` (PATH separator)."""
    problem = path_problem(value)
    if problem:
        return problem
    if "{" in value:
        return (
            "'{' is not allowed in a checkout path: mise expands {{ }}, {% %} and {# #} in a task's dir and "
            "renders it twice, so no escape holds; use another folder name"
        )
    if ":" in value:
        return "':' is not allowed in a checkout path: the tasks put <repo>/.venv/bin on PATH, which ':' splits"
    return None


def share_path_problem(value: str) -> str | None:
    """`fortress.path`: a path Samba serves as written, so without `%`."""
    problem = path_problem(value)
    if problem:
        return problem
    if "%" in value:
        return (
            "'%' is not allowed in the share's path: Samba expands %-variables (%U, %$(NAME) …) in smb.conf "
            "and has no escape for '%'; rename the folder"
        )
    return None


_DEVICE_CHAR = re.compile(r"[A-Za-z0-9#+.:=@_/-]")


def device_problem(value: str) -> str | None:
    """A block device: a path under /dev/ whose names use udev's characters only."""
    if not value.startswith("/dev/"):
        return "must be a device path under /dev/"
    for ch in value:
        if not _DEVICE_CHAR.fullmatch(ch):
            return f"{describe(ch)} is not allowed in a device path: device names use letters, digits and #+-.:=@_"
    normal = _normal(value)
    if value != normal:
        return f"must be a path in normal form (no '//', '/./', '/../' or trailing '/'): write {normal!r}"
    return None


_INFISICAL_PATH = re.compile(r"/|(/[A-Za-z0-9_-]+)+")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:@/-]*")
_PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def secret_path_problem(value: str) -> str | None:
    """An Infisical folder path: `/`, or `/`-separated folder names as Infisical allows them."""
    if _INFISICAL_PATH.fullmatch(value):
        return None
    return "must be an Infisical folder path: '/' or /-separated folder names of letters, digits, '-' and '_'"


def version_problem(value: str) -> str | None:
    """A tool version pinned in mise's TOML (which renders values as templates): `3.11`, `lts`, `ref:main`."""
    if _VERSION.fullmatch(value):
        return None
    return "must be a version of letters, digits and ._+:@/- (mise reads it as a template), e.g. 3.11 or lts"


def project_id_problem(value: str) -> str | None:
    """An Infisical project id, passed after --projectId: no leading '-' (an option) and no white space."""
    if _PROJECT_ID.fullmatch(value):
        return None
    return "must be an Infisical project id: letters, digits and ._-, not starting with '-'"
