"""Steps that put files and folders in place on a node (POSIX shell; GNU or BSD stat).

A file is written whole through a temporary file beside it and a rename, so readers never see half of it; a dry
run shows its content as `#` lines of the plan. With `sudo` the write runs as root (`colab.privilege`); the
checks only read, as the login user. Each step is ok when the node already has exactly this content and mode.
"""

from __future__ import annotations

from collections.abc import Callable

from colab.privilege import as_root
from colab.runner import Runner
from colab.steps import Step, note, probe

# $1 path, $2 mode; the content on stdin. The folder is made first (e.g. docker.service.d/), then a temporary
# file beside the target is renamed over it.
WRITE = (
    'mkdir -p -- "$(dirname -- "$1")" && tmp="$1.colab-tmp.$$" && umask 077 && '
    'cat > "$tmp" && chmod "$2" "$tmp" && mv -f "$tmp" "$1"'
)
# The same under the login user's $HOME ($1 relative to it), e.g. a macOS LaunchAgent.
WRITE_HOME = (
    'f="$HOME/$1"; mkdir -p "$(dirname "$f")" && tmp="$f.colab-tmp.$$" && umask 077 && '
    'cat > "$tmp" && chmod "$2" "$tmp" && mv -f "$tmp" "$f"'
)
# Prints "<type> <octal mode>" of $1 with GNU stat, falling back to BSD stat (macOS); nothing when it is missing.
STAT = 'stat -c "%F %a" "$1" 2>/dev/null || stat -f "%HT %Lp" "$1"'

After = Callable[[Runner], None]


def stat(r: Runner, path: str) -> tuple[str, str] | None:
    """(type in lower case, e.g. "directory" or "regular file", octal mode) of `path`; None when it is missing."""
    res = probe(r, STAT, path)
    if not res.ok or not res.stdout.strip():
        return None
    kind, _, mode = res.stdout.strip().rpartition(" ")
    return kind.lower(), mode


def _same_mode(have: str, want: str) -> bool:
    return have in (want, want.lstrip("0"))


def _content_differs(r: Runner, argv: list[str], content: str, what: str) -> str | None:
    res = r.run(*argv, check=False, mutating=False)
    if not res.ok:
        return f"{what} is missing"
    return None if res.stdout == content else f"{what} differs from the inventory's"


def _show(r: Runner, what: str, content: str, mode: str) -> None:
    note(r, f"{what} gets ({len(content.splitlines())} lines, mode {mode}):")
    note(r, "  | " + content.rstrip("\n").replace("\n", "\n  | "))


def write_file(r: Runner, path: str, content: str, mode: str, *, sudo: bool = False) -> None:
    """Write `path` whole (a temporary file, then a rename), as root with `sudo`; a dry run shows the content."""
    _show(r, path, content, mode)
    r.run(*as_root(sudo, "sh", "-c", WRITE, "sh", path, mode), stdin=content)


def file_step(path: str, content: str, mode: str = "644", *, sudo: bool = False, after: After | None = None) -> Step:
    """The file `path` holds exactly `content` with `mode`; `after` runs once it was (re)written."""

    def check(r: Runner) -> str | None:
        reason = _content_differs(r, ["cat", path], content, path)
        if reason:
            return reason
        found = stat(r, path)
        have = found[1] if found else "?"
        return None if _same_mode(have, mode) else f"{path} has mode {have}, wants {mode}"

    def act(r: Runner) -> None:
        write_file(r, path, content, mode, sudo=sudo)
        if after is not None:
            after(r)

    return Step(f"file {path}", check, act)


def home_file_step(rel: str, content: str, mode: str = "644", after: After | None = None) -> Step:
    """A file under the login user's $HOME (resolved on the node), e.g. a macOS LaunchAgent."""

    def check(r: Runner) -> str | None:
        return _content_differs(r, ["sh", "-c", 'cat "$HOME/$1"', "sh", rel], content, f"~/{rel}")

    def act(r: Runner) -> None:
        _show(r, f"~/{rel}", content, mode)
        r.run("sh", "-c", WRITE_HOME, "sh", rel, mode, stdin=content)
        if after is not None:
            after(r)

    return Step(f"file ~/{rel}", check, act)


def directory_step(path: str, mode: str = "755", *, sudo: bool = False) -> Step:
    """The folder `path` exists with `mode` (its parents made as needed)."""

    def check(r: Runner) -> str | None:
        found = stat(r, path)
        if found is None:
            return f"{path} is missing"
        if found[0] != "directory":
            return f"{path} is a {found[0]}, not a directory"
        return None if _same_mode(found[1], mode) else f"{path} has mode {found[1]}, wants {mode}"

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "mkdir", "-p", path))
        r.run(*as_root(sudo, "chmod", mode, path))

    return Step(f"directory {path}", check, act)
