"""uv.lock, the project's one lock file, as the hashed requirements pip installs from.

`uv lock` writes uv.lock (every package of the runtime, the `dev` extra and the `build` group, with the hash of
every file PyPI has for it). Where uv runs (nox sessions) it installs from the lock itself; where only Python
and pip are (a node's checkout virtualenv, `python3 scripts/venv`, the test node containers) this module turns
the lock into `name==version ; marker --hash=…` lines, for `pip install --require-hashes`: pip then refuses
any file whose hash is not in the lock, and any dependency the lock does not pin.

Standard library only (tomllib): it runs before anything else is installed, from `scripts/venv`.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCK = "uv.lock"
# The selections this project installs: a node's virtualenv (the runtime and the build backend that
# `pip install --no-build-isolation -e` needs) and a development one (plus the `dev` extra: tests and tools).
NODE_GROUPS = ("build",)
DEV_EXTRAS = ("dev",)


class LockError(Exception):
    """uv.lock cannot be read or does not hold what was asked for; the message says what to run."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]
    markers: frozenset[str] = field(default=frozenset())  # empty: always; else any of these

    @property
    def marker(self) -> str:
        if not self.markers:
            return ""
        if len(self.markers) == 1:
            return next(iter(self.markers))
        return " or ".join(f"({m})" for m in sorted(self.markers))

    def line(self) -> str:
        head = f"{self.name}=={self.version}" + (f" ; {self.marker}" if self.marker else "")
        return " \\\n    ".join([head, *(f"--hash={h}" for h in self.hashes)])


def _and(outer: str, inner: str) -> str:
    if not outer:
        return inner
    if not inner:
        return outer
    return f"({outer}) and ({inner})"


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LockError(f"{path} is missing: run `uv lock` in the checkout and commit uv.lock") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise LockError(f"{path} is not valid TOML ({e}): run `uv lock` again") from None


class Lock:
    """The packages of a uv.lock, and the root project's requirements by extra and group."""

    def __init__(self, data: Mapping[str, Any], source: str = LOCK) -> None:
        self.source = source
        self.packages: list[dict[str, Any]] = list(data.get("package", []))
        roots = [p for p in self.packages if "editable" in p.get("source", {}) or "virtual" in p.get("source", {})]
        if len(roots) != 1:
            raise LockError(f"{source}: expected one project of the checkout in the lock, found {len(roots)}")
        self.root = roots[0]

    @classmethod
    def read(cls, path: Path) -> Lock:
        return cls(_read(path), str(path))

    def _find(self, dep: Mapping[str, Any]) -> dict[str, Any]:
        found = [
            p
            for p in self.packages
            if p["name"] == dep["name"]
            and ("version" not in dep or p.get("version") == dep["version"])
            and ("source" not in dep or p.get("source") == dep["source"])
        ]
        if len(found) != 1:
            raise LockError(f"{self.source}: {dep['name']} is listed {len(found)} times where one was expected")
        return found[0]

    def _start(self, extras: Sequence[str], groups: Sequence[str]) -> list[dict[str, Any]]:
        deps = list(self.root.get("dependencies", []))
        tables = (("optional-dependencies", "extra", extras), ("dev-dependencies", "group", groups))
        for table, kind, names in tables:
            have = self.root.get(table, {})
            for name in names:
                if name not in have:
                    known = ", ".join(sorted(have)) or "none"
                    raise LockError(f"{self.source}: no {kind} {name!r} in the lock (known: {known}): run `uv lock`")
                deps.extend(have[name])
        return deps

    def pins(self, extras: Sequence[str] = (), groups: Sequence[str] = ()) -> list[Pin]:
        """Every package the project needs with these extras and groups, with the markers under which it is
        needed (the edges' markers along each path, and-ed; the paths or-ed), sorted by name."""
        markers: dict[tuple[str, str], set[str]] = {}
        packages: dict[tuple[str, str], dict[str, Any]] = {}
        seen: set[tuple[tuple[str, str], tuple[str, ...], str]] = set()

        def visit(dep: Mapping[str, Any], marker: str, path: frozenset[tuple[str, str]]) -> None:
            pkg = self._find(dep)
            key = (pkg["name"], pkg["version"])
            extras = tuple(sorted(dep.get("extra", [])))
            if key in path or {(key, extras, marker), (key, extras, "")} & seen:
                return  # a cycle, or a way already taken: nothing new below
            seen.add((key, extras, marker))
            packages[key] = pkg
            markers.setdefault(key, set()).add(marker)
            children = list(pkg.get("dependencies", []))
            for extra in extras:
                children.extend(pkg.get("optional-dependencies", {}).get(extra, []))
            for child in children:
                visit(child, _and(marker, child.get("marker", "")), path | {key})

        for dep in self._start(extras, groups):
            visit(dep, dep.get("marker", ""), frozenset())
        return [self._pin(packages[k], markers[k]) for k in sorted(packages)]

    def _pin(self, pkg: Mapping[str, Any], markers: set[str]) -> Pin:
        source = pkg.get("source", {})
        if "registry" not in source:
            kind = next(iter(source), "unknown")
            raise LockError(f"{self.source}: {pkg['name']} comes from a {kind} source; pip installs only registry pins")
        files = [*pkg.get("wheels", []), *([pkg["sdist"]] if "sdist" in pkg else [])]
        hashes = tuple(sorted({f["hash"] for f in files if "hash" in f}))
        if not hashes:
            raise LockError(f"{self.source}: {pkg['name']} {pkg['version']} has no file hashes: run `uv lock`")
        return Pin(pkg["name"], pkg["version"], hashes, frozenset() if "" in markers else frozenset(markers))


def requirements(pins: Iterable[Pin], what: str) -> str:
    """The text of a hashed requirements file (`pip install --require-hashes -r`)."""
    body = "".join(p.line() + "\n" for p in pins)
    return f"# {what}: generated from uv.lock by colab.lockfile; do not edit\n{body}"


def digest(*paths: Path, extra: str = "") -> str:
    """What an install depends on: the files' bytes and the selection, as one sha256."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(b"\0" + p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()
