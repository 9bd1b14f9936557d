"""Readers for the languages rendered files are written in, reading them as their real consumers do.

Cheap stand-ins for the real tools, so property tests can check many examples: the real ones
(systemd-analyze, testparm, findmnt, mise) check a handful in tests/integration/test_hostile_paths.py.
Each reader raises `FormatError` (one line: what and where) for text its consumer would not accept, or would
read differently than meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class FormatError(AssertionError):
    """The text is not valid in its language (or says more than it should)."""


# ------------------------------------------------------------------------------------------------ cron

_CRON_FIELD = re.compile(r"(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_USER = re.compile(r"[a-z_][a-z0-9_-]*")


@dataclass(frozen=True)
class CronEntry:
    times: tuple[str, ...]
    user: str
    command: str  # as written in the file; `cron_command` turns it into what cron hands to the shell


def _cron_field_ok(text: str, low: int, high: int) -> bool:
    if not _CRON_FIELD.fullmatch(text):
        return False
    return all(low <= int(n) <= high for n in re.findall(r"(?<![/0-9])[0-9]+", text))


def cron_d(text: str) -> tuple[dict[str, str], list[CronEntry]]:
    """An /etc/cron.d file: (environment lines, entries). Each line is blank, a comment, `NAME=value` or
    5 time fields + user + command; anything else is an error, as is a line without its newline."""
    if text and not text.endswith("\n"):
        raise FormatError("a cron file must end with a newline (cron ignores an unterminated last line)")
    env: dict[str, str] = {}
    entries: list[CronEntry] = []
    for number, line in enumerate(text.split("\n")[:-1], 1):
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        if _CRON_ENV.fullmatch(stripped):
            name, _, value = stripped.partition("=")
            env[name] = value
            continue
        fields = re.split(r"[ \t]+", stripped, maxsplit=6)
        if len(fields) < 7:
            raise FormatError(f"line {number}: not 5 time fields + user + command: {line!r}")
        times, user, command = tuple(fields[:5]), fields[5], fields[6]
        for field, (low, high) in zip(times, _CRON_RANGES, strict=True):
            if not _cron_field_ok(field, low, high):
                raise FormatError(f"line {number}: bad time field {field!r}")
        if not _USER.fullmatch(user):
            raise FormatError(f"line {number}: bad user {user!r}")
        entries.append(CronEntry(times, user, command))
    return env, entries


def cron_command(command: str) -> str:
    """What cron (Vixie/ISC, Debian's) runs with the shell: `\\%` is `%`, an unescaped `%` ends the command (the
    rest would be its stdin: refused here, our lines never do that). Crons differ on a backslash before
    anything else (some drop one of `\\\\`), so only one before `%` or a closing `'` is accepted."""
    out: list[str] = []
    escaped = False
    for ch in command:
        if escaped:
            if ch not in "%'":
                raise FormatError(f"a backslash before {ch!r} in a cron command: crons read it differently")
            out.append("%" if ch == "%" else "\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            raise FormatError(f"an unescaped % in a cron command sends the rest to stdin: {command!r}")
        else:
            out.append(ch)
    if escaped:
        raise FormatError(f"a cron command ending in a backslash: {command!r}")
    return "".join(out)


# --------------------------------------------------------------------------------------------- systemd

_UNIT_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def systemd_unit(text: str) -> dict[str, dict[str, str]]:
    """A unit file: section -> key -> value, with specifiers resolved as systemd would (`%%` is `%`; any
    other `%x` would be replaced by something else, so it is an error here)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.endswith("\\"):
            raise FormatError(f"line {number}: a trailing backslash continues the line: {line!r}")
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], {})
            continue
        key, eq, value = stripped.partition("=")
        if not eq or current is None or not _UNIT_KEY.fullmatch(key.strip()):
            raise FormatError(f"line {number}: not `Key=value` in a section: {line!r}")
        current[key.strip()] = _specifiers(value.strip(), number)
    return sections


def systemd_words(value: str) -> list[str]:
    """The words of a space-separated unit setting (RequiresMountsFor=) as systemd splits them
    (extract_first_word with EXTRACT_UNQUOTE): "…" and '…' group, a backslash takes the next character as it is.
    `value` is what systemd_unit returns (specifiers already resolved)."""
    words: list[str] = []
    word: list[str] | None = None
    quote = ""
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            if i + 1 >= len(value):
                raise FormatError(f"a backslash ends the value: {value!r}")
            word = (word or []) + [value[i + 1]]
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
            else:
                word = (word or []) + [c]
        elif c in "\"'":
            quote, word = c, word or []
        elif c in " \t":
            if word is not None:
                words.append("".join(word))
            word = None
        else:
            word = (word or []) + [c]
        i += 1
    if quote:
        raise FormatError(f"an unterminated quote: {value!r}")
    if word is not None:
        words.append("".join(word))
    return words


def _specifiers(value: str, number: int) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "%":
            if value[i + 1 : i + 2] != "%":
                raise FormatError(f"line {number}: a specifier {value[i : i + 2]!r} would be expanded: {value!r}")
            out.append("%")
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------- Samba


def smb_conf(text: str) -> dict[str, dict[str, str]]:
    """smb.conf as Samba's parser reads it: `[section]` and `name = value` lines (white space around both
    trimmed; `#`/`;` at the start of a line is a comment; a trailing backslash continues the line). Values
    with `%` would be expanded: an error here."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.endswith("\\"):
            raise FormatError(f"line {number}: a trailing backslash continues the line: {line!r}")
        if stripped.startswith("["):
            if not stripped.endswith("]"):
                raise FormatError(f"line {number}: bad section header {line!r}")
            current = sections.setdefault(stripped[1:-1].strip(), {})
            continue
        name, eq, value = stripped.partition("=")
        if not eq or current is None:
            raise FormatError(f"line {number}: not `name = value` in a section: {line!r}")
        if "%" in value:
            raise FormatError(f"line {number}: Samba would expand a %-variable in {value!r}")
        current[" ".join(name.split()).lower()] = value.strip()
    return sections


# ------------------------------------------------------------------------------------------------ Tera

# Template expressions the project writes into mise files on purpose (not inventory values).
TERA_EXPRESSIONS = {
    "{{env.COLAB_REPO}}": "<COLAB_REPO>",
    "{{env.COLAB_NODE}}": "<COLAB_NODE>",
    "{{usage.node}}": "<node>",
    "{{config_root}}": "<config_root>",
}
_TERA_LITERAL_BRACE = "{{ '{' }}"


def tera_text(value: str) -> str:
    """What mise's Tera makes of a string: the escaped `{` back, our own expressions as <placeholders>;
    any other `{{`, `{%` or `{#` (an inventory value Tera would evaluate) is an error."""
    out, i = [], 0
    while i < len(value):
        if value.startswith(_TERA_LITERAL_BRACE, i):
            out.append("{")
            i += len(_TERA_LITERAL_BRACE)
            continue
        known = next((k for k in TERA_EXPRESSIONS if value.startswith(k, i)), None)
        if known:
            out.append(TERA_EXPRESSIONS[known])
            i += len(known)
            continue
        if value[i] == "{" and value[i + 1 : i + 2] in ("{", "%", "#"):
            raise FormatError(f"Tera would evaluate {value[i:]!r}")
        out.append(value[i])
        i += 1
    return "".join(out)
