"""Steps that put directories and files in place on a node (POSIX; GNU or BSD stat)."""

from __future__ import annotations

import hashlib

from colab.runner import Runner
from colab.steps import Step

# Prints "<type> <octal mode>" with GNU stat, falling back to BSD stat (macOS).
_STAT = 'stat -c "%F %a" "$1" 2>/dev/null || stat -f "%HT %Lp" "$1"'
_HASH = 'sha256sum "$1" 2>/dev/null || shasum -a 256 "$1"'
# Write stdin to a temporary file beside the target, then rename: readers never see half a file.
_WRITE = 'tmp="$1.colab-tmp.$$"; umask 077; cat > "$tmp" && chmod "$2" "$tmp" && mv -f "$tmp" "$1"'


def _stat(r: Runner, path: str) -> tuple[str, str] | None:
    res = r.run("sh", "-c", _STAT, "sh", path, check=False, mutating=False)
    if not res.ok or not res.stdout.strip():
        return None
    kind, _, mode = res.stdout.strip().rpartition(" ")
    return kind.lower(), mode


def directory(path: str, mode: str = "755") -> Step:
    def check(r: Runner) -> str | None:
        st = _stat(r, path)
        if st is None:
            return f"{path} is missing"
        if st[0] != "directory":
            return f"{path} is a {st[0]}, not a directory"
        return None if st[1] == mode else f"{path} has mode {st[1]}, wants {mode}"

    def act(r: Runner) -> None:
        r.run("mkdir", "-p", path)
        r.run("chmod", mode, path)

    return Step(f"directory {path}", check, act)


def file(path: str, content: str, mode: str = "644") -> Step:
    want = hashlib.sha256(content.encode()).hexdigest()

    def check(r: Runner) -> str | None:
        st = _stat(r, path)
        if st is None:
            return f"{path} is missing"
        res = r.run("sh", "-c", _HASH, "sh", path, check=False, mutating=False)
        if res.stdout.split()[:1] != [want]:
            return f"{path} differs"
        return None if st[1] == mode else f"{path} has mode {st[1]}, wants {mode}"

    def act(r: Runner) -> None:
        r.run("sh", "-c", _WRITE, "sh", path, mode, stdin=content)

    return Step(f"file {path}", check, act)
