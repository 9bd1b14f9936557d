"""Small pieces the storage steps share: root privileges, plan notes, managed files, the mount table."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text

from colab import quoting
from colab.runner import Runner
from colab.steps import Step

SUDO = ("sudo", "-n")

# Write stdin to a temporary file beside the target (its folder made first, e.g. docker.service.d/), then rename:
# readers never see half a file.
_WRITE = (
    'mkdir -p -- "$(dirname -- "$1")" && tmp="$1.colab-tmp.$$" && umask 077 && '
    'cat > "$tmp" && chmod "$2" "$tmp" && mv -f "$tmp" "$1"'
)
# The same under $HOME (macOS LaunchAgents), creating the folder first.
_WRITE_HOME = (
    'f="$HOME/$1"; mkdir -p "$(dirname "$f")" && tmp="$f.colab-tmp.$$" && umask 077 && '
    'cat > "$tmp" && chmod "$2" "$tmp" && mv -f "$tmp" "$f"'
)
# Prints "<octal mode>" with GNU stat, falling back to BSD stat (macOS).
_MODE = 'stat -c "%a" "$1" 2>/dev/null || stat -f "%Lp" "$1"'


def needs_sudo(runner: Runner) -> bool:
    """Privileged commands need `sudo -n` unless they run locally as root."""
    local = runner.transport_factory is None
    return not (local and os.geteuid() == 0)


def as_root(sudo: bool, *argv: str) -> list[str]:
    return [*SUDO, *argv] if sudo else list(argv)


def note(r: Runner, text: str) -> None:
    """A comment line in a dry-run plan (what a check would look at, a file's content); silent otherwise."""
    if not r.dry_run:
        return
    for line in text.splitlines() or [""]:
        r.console.print(Text.assemble((f"[{r.node}] ", "dim"), f"# {line}"), soft_wrap=True, highlight=False)


def _content_differs(r: Runner, argv: list[str], content: str, what: str) -> str | None:
    res = r.run(*argv, check=False, mutating=False)
    if not res.ok:
        return f"{what} is missing"
    return None if res.stdout == content else f"{what} differs from the inventory's"


def root_file(path: str, content: str, mode: str, *, sudo: bool, after: Callable[[Runner], None] | None = None) -> Step:
    """A root-owned file with exactly `content` and `mode`; `after` runs once it was (re)written."""

    def check(r: Runner) -> str | None:
        reason = _content_differs(r, ["cat", path], content, path)
        if reason:
            return reason
        got = r.run("sh", "-c", _MODE, "sh", path, check=False, mutating=False).stdout.strip()
        return None if got == mode.lstrip("0") or got == mode else f"{path} has mode {got}, wants {mode}"

    def act(r: Runner) -> None:
        write_root_file(r, path, content, mode, sudo=sudo)
        if after is not None:
            after(r)

    return Step(f"file {path}", check, act)


def write_root_file(r: Runner, path: str, content: str, mode: str, *, sudo: bool) -> None:
    """Write `path` as root (through a temporary file and a rename); a dry run shows the content."""
    note(r, f"{path} gets ({len(content.splitlines())} lines, mode {mode}):")
    note(r, "  | " + content.rstrip("\n").replace("\n", "\n  | "))
    r.run(*as_root(sudo, "sh", "-c", _WRITE, "sh", path, mode), stdin=content)


def home_file(rel: str, content: str, mode: str = "644", after: Callable[[Runner], None] | None = None) -> Step:
    """A file under the login user's $HOME (resolved on the node), e.g. a macOS LaunchAgent."""

    def check(r: Runner) -> str | None:
        return _content_differs(r, ["sh", "-c", 'cat "$HOME/$1"', "sh", rel], content, f"~/{rel}")

    def act(r: Runner) -> None:
        note(r, f"~/{rel} gets ({len(content.splitlines())} lines, mode {mode}):")
        note(r, "  | " + content.rstrip("\n").replace("\n", "\n  | "))
        r.run("sh", "-c", _WRITE_HOME, "sh", rel, mode, stdin=content)
        if after is not None:
            after(r)

    return Step(f"file ~/{rel}", check, act)


# ------------------------------------------------------------------------------------------- mounts


@dataclass(frozen=True)
class MountEntry:
    source: str
    target: str
    fstype: str


# Linux: `SRC on DIR type FS (OPTS)`; macOS/BSD: `SRC on DIR (FS, OPTS)`.
_MOUNT_LINE = re.compile(
    r"^(?P<source>.+?) on (?P<target>.+?) "
    r"(?:type (?P<fstype>\S+) \([^)]*\)|\((?P<bsdtype>[^,)]+)(?:, [^)]*)?\))\s*$"
)


def parse_mount_table(text: str) -> list[MountEntry]:
    """The output of `mount` (no arguments) on Linux or macOS, one entry per line it understands."""
    entries = []
    for line in text.splitlines():
        m = _MOUNT_LINE.match(line.strip())
        if m:
            fstype = m.group("fstype") or m.group("bsdtype") or ""
            # Linux escapes spaces and friends in the mount table as \040 (octal), as in fstab.
            source, target = quoting.fstab_unescape(m.group("source")), quoting.fstab_unescape(m.group("target"))
            entries.append(MountEntry(source, target, fstype.strip()))
    return entries


NETWORK_FS = ("cifs", "smb3", "smbfs")


def share_mounted_at(entries: list[MountEntry], target: str) -> MountEntry | None:
    """The SMB mount on `target` (the topmost one when an automount point sits under it), if any."""
    found = [e for e in entries if e.target.rstrip("/") == target.rstrip("/") and e.fstype in NETWORK_FS]
    return found[-1] if found else None


def is_device_or_partition(source: str, device: str) -> bool:
    """`source` is `device` or one of its partitions (sda -> sda1; mmcblk0, nvme0n1, loop3 -> …p1)."""
    if source == device:
        return True
    sep = "p" if device[-1:].isdigit() else ""
    return re.fullmatch(re.escape(device) + sep + r"[0-9]+", source) is not None
