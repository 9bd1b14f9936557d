"""The wheelhouse a test node installs its checkout's virtualenv from, with no network.

It holds exactly the files uv.lock pins for a node (runtime + build backend), downloaded from PyPI by the pip
of the nox virtualenv (`pip download --require-hashes`: a file whose sha256 is not in the lock is refused), for
the node container's Python. Next to them sits a decoy: a newer version of one pinned package, so a node that
installed the newest it finds instead of the lock's pin would be caught. Kept under the test cache by
the lock's digest (`cache_dir()`; empty at the start of every CI run).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from colab import lockfile

ROOT = Path(__file__).resolve().parents[2]
CACHE_ENV = "COLAB_TEST_CACHE"
DECOY = ("rich", "999.0.0")  # a version PyPI will not have for years


class WheelhouseError(RuntimeError):
    """The wheelhouse could not be built; the message has pip's last line."""


def cache_dir() -> Path:
    """The tests' own cache: `$COLAB_TEST_CACHE` (in CI a fresh folder per run: tests/conftest.py), else
    `$XDG_CACHE_HOME/colab-test`, else `~/.cache/colab-test`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "colab-test"


def node_pins(lock: Path = ROOT / lockfile.LOCK) -> list[lockfile.Pin]:
    return lockfile.Lock.read(lock).pins((), lockfile.NODE_GROUPS)


def decoy_wheel(dest: Path, name: str = DECOY[0], version: str = DECOY[1]) -> Path:
    """A valid, empty wheel of `name` at `version` (what an unpinned `pip install` would pick)."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: colab-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(text.encode())}"
        for path, text in files.items()
    ]
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    path = dest / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name_, text in files.items():
            z.writestr(name_, text)
    return path


def build(python_version: str, machine: str) -> Path:
    """The wheelhouse for a CPython `python_version` ("3.11") on Linux `machine` ("x86_64"), built once."""
    pins = node_pins()
    key = lockfile.digest(ROOT / lockfile.LOCK, extra=f"node wheelhouse cp{python_version} {machine}")[:16]
    cache = cache_dir()
    dest = cache / f"wheelhouse-{key}"
    if (dest / ".complete").exists():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".wheelhouse-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    reqs = tmp.parent / f".requirements-{key}-{os.getpid()}.txt"
    reqs.write_text(lockfile.requirements(pins, "node wheelhouse"), encoding="utf-8")
    abi = "cp" + python_version.replace(".", "")
    platforms = [f"manylinux2014_{machine}", f"manylinux_2_28_{machine}", f"manylinux_2_34_{machine}"]
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input", "--quiet",
            "--require-hashes", "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
            "--abi", abi, "--abi", "abi3", "--abi", "none", *(a for p in platforms for a in ("--platform", p)),
            "--dest", str(tmp), "-r", str(reqs)]  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    finally:
        reqs.unlink(missing_ok=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise WheelhouseError(f"pip download of the lock's node pins failed: {' / '.join(tail)}")
    decoy_wheel(tmp)
    (tmp / ".complete").touch()
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest
