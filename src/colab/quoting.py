"""A value quoted or escaped for each language a rendered file (or a command line in it) is written in.

The inventory refuses what none of these can carry (`colab.inventory_paths`); everything else is written so
that the file's reader gets the value back exactly and runs nothing from it. `render` exposes these as Jinja
filters; the RAID fstab line uses `fstab`.
"""

from __future__ import annotations

import re
import shlex

_SH_SAFE = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def _one_line(value: str, where: str) -> None:
    """Line-based files cannot carry a line break; the inventory refuses one, this is the last guard."""
    if any(ch in value for ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        raise ValueError(f"{where} cannot hold a line break: {value!r}")


def sh(value: str) -> str:
    """A POSIX shell word (single quotes when needed)."""
    return shlex.quote(value)


def cron_word(value: str) -> str:
    """A shell word for the command field of a cron line.

    cron turns an unescaped `%` into a newline (the rest goes to the command's stdin) and `\\%` into `%`,
    and implementations differ on a backslash before anything else. So `%` is written as `\\%` *outside*
    the shell's quotes (the shell reads `\\%` as `%` too, for a cron that leaves it alone), each backslash
    of the value alone in single quotes (followed by the closing quote, never by `%` or another backslash),
    and the rest in single quotes.
    """
    _one_line(value, "a cron line")
    if _SH_SAFE.fullmatch(value):
        return value
    out: list[str] = []
    run = ""
    for ch in value:
        if ch in "%\\'":
            if run:
                out.append(f"'{run}'")
                run = ""
            out.append({"%": "\\%", "\\": "'\\'", "'": '"\'"'}[ch])
        else:
            run += ch
    if run:
        out.append(f"'{run}'")
    return "".join(out)


def systemd(value: str) -> str:
    """A value in a systemd unit file: `%` starts a specifier there, `%%` is a plain `%`."""
    _one_line(value, "a systemd unit setting")
    return value.replace("%", "%%")


def systemd_word(value: str) -> str:
    """One word of a space-separated unit setting (RequiresMountsFor=): double-quoted, `\\` and `"` escaped by a
    backslash (systemd unquotes the word), `%` as `%%` (specifiers)."""
    _one_line(value, "a systemd unit setting")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def systemd_escape_path(path: str) -> str:
    """`systemd-escape --path`: the unit name stem for a mount point, e.g. /mnt/fortress -> mnt-fortress."""
    trimmed = "/".join(p for p in path.split("/") if p)
    if not trimmed:
        return "-"
    out = []
    for i, ch in enumerate(trimmed):
        if ch == "/":
            out.append("-")
        elif ch.isascii() and (ch.isalnum() or ch in ":_" or (ch == "." and i > 0)):
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
    return "".join(out)


# systemd refuses a unit name longer than 255 characters; the longest suffix the mount point gets is ".automount".
UNIT_NAME_MAX = 255
LONGEST_UNIT_SUFFIX = ".automount"


def fstab(value: str) -> str:
    """A field of /etc/fstab: white space separates fields, so it is written as octal escapes (as
    libmount reads them), and so is the backslash that starts them."""
    return "".join(f"\\{ord(ch):03o}" if ch in " \t\n\\" else ch for ch in value)


def fstab_unescape(value: str) -> str:
    """A field of fstab (or /proc/mounts) back as the path it names."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), value)


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(value: str) -> str:
    """A TOML string. TOML forbids control characters (DEL included) in every kind of string: they are
    escaped; a value holding `"` and none of those reads better as a literal string."""
    controls = any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    if '"' in value and "'" not in value and not controls:
        return f"'{value}'"
    out = []
    for ch in value:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def tera(value: str) -> str:
    """Literal text in a string mise renders as a Tera template (env values, task descriptions and dirs):
    every `{`, which is how `{{ }}`, `{% %}` and `{# #}` begin, becomes an expression printing `{`."""
    return value.replace("{", "{{ '{' }}")


def xml_comment(value: str) -> str:
    """Text inside an XML comment, where `--` is not allowed (and `<`, `&` are harmless but escaped)."""
    text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    while "--" in text:
        text = text.replace("--", "- -")
    return text + " " if text.endswith("-") else text  # `--->` would end it badly too
