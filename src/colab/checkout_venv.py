"""The checkout's own virtualenv, `<checkout>/.venv`, installed exactly from uv.lock with pip.

`python3 scripts/venv` (README, scripts/ci-setup) and `inv bootstrap`'s venv step (on every node) run this:

    python3 -m venv <checkout>/.venv                      (only when it has no working python)
    .venv/bin/python -m pip install --require-hashes -r <the lock's pins>   (pip refuses anything unpinned)
    .venv/bin/python -m pip uninstall -y <what the lock no longer has>
    .venv/bin/python -m pip install --no-deps --no-build-isolation -e <checkout>
    .venv/colab-lock.sha256                               (what it was installed from and for; written last)

A node gets the runtime and the build backend; `--dev` adds the `dev` extra (tests, nox, uv, linters). The stamp
is the sha256 of uv.lock, pyproject.toml and the selection: when one changes (a `chezmoi update` that pulled a
new lock), the next run installs again; when nothing changed it does nothing. pip, not uv, because a node has
only Python: the same versions either way, as both read the hashes in uv.lock.

Standard library only: it runs before anything is installed, on Debian's python3 (with python3-venv),
Homebrew's, or a pyenv one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from colab import lockfile
from colab.errors import last_line

VENV = ".venv"
STAMP = "colab-lock.sha256"
REQUIREMENTS = "colab-requirements.txt"  # the pins last installed, kept for people to read
Say = Callable[[str], None]
KEEP = {"pip", "colab"}  # pip is the virtualenv's own; colab is the checkout, installed after the pins
_NAMES = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted({(d.metadata['Name'], d.version) for d in m.distributions()})))"
)
_COLAB = "import colab, os; print(os.path.realpath(colab.__file__))"


class VenvError(Exception):
    """The virtualenv cannot be made; the message says why and what to do."""


def canonical(name: str) -> str:
    """PEP 503: `Typing_Extensions` and `typing-extensions` are one project."""
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


@dataclass(frozen=True)
class Target:
    repo: Path
    venv: Path
    dev: bool

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def what(self) -> str:
        return "runtime + build + dev" if self.dev else "runtime + build"

    def pins(self) -> list[lockfile.Pin]:
        lock = lockfile.Lock.read(self.repo / lockfile.LOCK)
        return lock.pins(lockfile.DEV_EXTRAS if self.dev else (), lockfile.NODE_GROUPS)

    def digest(self) -> str:
        return lockfile.digest(self.repo / lockfile.LOCK, self.repo / "pyproject.toml", extra=self.what)

    def stamp(self) -> str:
        return f"{self.digest()} {self.what}\n"


def _run(argv: list[str], *, capture: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, capture_output=capture, text=True, env=env, stdin=subprocess.DEVNULL, check=False)


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    return last_line(proc.stderr or "", proc.stdout or "", proc.returncode)


def check(t: Target) -> str | None:
    """Why the virtualenv is not what the checkout's lock says, or None when it is."""
    v = t.venv
    if not t.python.exists() or _run([str(t.python), "-c", "pass"]).returncode != 0:
        return f"no virtualenv at {v}"
    if _run([str(v / "bin" / "inv"), "--version"]).returncode != 0:
        return f"{v}/bin/inv does not run"
    found = _run([str(t.python), "-c", _COLAB])
    if found.returncode != 0:
        return f"colab does not import in {v}"
    src = os.path.realpath(t.repo / "src")
    if not found.stdout.strip().startswith(src + os.sep):
        return f"{v} runs colab from {found.stdout.strip()}, not from this checkout ({src})"
    stamp = v / STAMP
    digest, _, what = (stamp.read_text(encoding="utf-8").strip() if stamp.exists() else "").partition(" ")
    if what and what != t.what:
        return f"{v} holds {what}, not {t.what}"
    if digest != t.digest():
        return f"uv.lock or pyproject.toml changed since {v} was installed ({t.what})"
    return drift(t)


def installed(t: Target) -> dict[str, str]:
    """What is in the virtualenv: canonical name -> version."""
    proc = _run([str(t.python), "-c", _NAMES])
    if proc.returncode != 0:
        raise VenvError(f"cannot list what is installed in {t.venv}: {_last_line(proc)}")
    return {canonical(name): version for name, version in json.loads(proc.stdout)}


def drift(t: Target) -> str | None:
    """A package changed by hand since the install: not the pinned version, missing, or not in the lock."""
    have = installed(t)
    pins = t.pins()
    wanted = {canonical(p.name): p for p in pins}
    for name, pin in sorted(wanted.items()):
        if (
            name in have
            and have[name] != pin.version
            and not any(canonical(o.name) == name and o.version == have[name] for o in pins)
        ):
            return f"{pin.name} is {have[name]} in {t.venv}; uv.lock pins {pin.version}"
        if name not in have and not pin.marker:
            return f"{pin.name} {pin.version} is missing from {t.venv}"
    extra = sorted(set(have) - set(wanted) - KEEP)
    return f"{t.venv} has packages uv.lock does not pin: {', '.join(extra)}" if extra else None


def _pip(t: Target, *args: str) -> None:
    proc = _run([str(t.python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args])
    if proc.returncode != 0:
        hint = ""
        if "No matching distribution" in proc.stderr or "NewConnectionError" in proc.stderr:
            hint = " (no package index with that file answered: check the network, or the index in /etc/pip.conf)"
        raise VenvError(f"pip {args[0]} in {t.venv} failed: {_last_line(proc)}{hint}")


def install(t: Target, say: Say) -> bool:
    """Bring the virtualenv to the lock; False when it already was."""
    reason = check(t)
    if reason is None:
        say(f"{t.venv} is up to date with uv.lock ({t.what})")
        return False
    say(reason)
    pins = t.pins()  # a broken lock stops here, before anything is touched
    if not t.python.exists() or _run([str(t.python), "-c", "pass"]).returncode != 0:
        say(f"python3 -m venv {t.venv} ({sys.executable})")
        made = _run([sys.executable, "-m", "venv", "--clear", str(t.venv)])
        if made.returncode != 0:
            raise VenvError(
                f"{sys.executable} -m venv {t.venv} failed ({_last_line(made)}); on Debian install python3-venv "
                "(`sudo apt install python3-venv`), on macOS use Homebrew's python3"
            )
    t.venv.joinpath(STAMP).unlink(missing_ok=True)  # an interrupted install is found and redone next time
    text = lockfile.requirements(pins, f"{t.what} for {t.repo}")
    reqs = t.venv / REQUIREMENTS
    _write(reqs, text)
    say(f"pip install --require-hashes: {len(pins)} packages pinned by uv.lock ({t.what})")
    _pip(t, "install", "--require-hashes", "-q", "-r", str(reqs))
    wanted = {canonical(p.name) for p in pins} | KEEP
    extra = sorted(n for n in installed(t) if n not in wanted)
    if extra:
        say(f"pip uninstall (not in uv.lock for {t.what}): {', '.join(extra)}")
        _pip(t, "uninstall", "-y", "-q", *extra)
    say(f"pip install --no-deps --no-build-isolation -e {t.repo}")
    _pip(t, "install", "--no-deps", "--no-build-isolation", "-q", "-e", str(t.repo))
    _write(t.venv / STAMP, t.stamp())
    reason = check(t)
    if reason is not None:
        raise VenvError(f"{t.venv} was installed but is still not right: {reason}")
    return True


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None, repo: Path | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/venv",
        description="Make or update the checkout's virtualenv exactly from uv.lock (pip --require-hashes).",
    )
    parser.add_argument("--venv", type=Path, help=f"the virtualenv (default: <checkout>/{VENV})")
    parser.add_argument("--dev", action="store_true", help="also the dev extra: tests, nox, uv, ruff, mypy")
    parser.add_argument("--check", action="store_true", help="print why it is not up to date (nothing: it is)")
    args = parser.parse_args(argv)
    root = (repo or Path.cwd()).resolve()
    t = Target(root, (args.venv or root / VENV).absolute(), args.dev)
    try:
        if not (root / "pyproject.toml").is_file():
            raise VenvError(f"{root} is not a colab checkout (no pyproject.toml)")
        if args.check:
            reason = check(t)
            if reason:
                print(reason)
            return 0
        install(t, lambda line: print(f"venv: {line}", flush=True))
    except (VenvError, lockfile.LockError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
