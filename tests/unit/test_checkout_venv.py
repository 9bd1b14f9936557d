"""scripts/venv before anything is installed: it runs on the standard library alone, and a bad checkout or lock
is one line with the fix, changing nothing. (The real install: tests/integration/test_checkout_venv.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from colab import checkout_venv
from tests.conftest import ROOT

# The modules scripts/venv imports: the standard library alone must be enough for them.
VENV_SOURCES = ("src/colab/__init__.py", "src/colab/errors.py", "src/colab/lockfile.py", "src/colab/checkout_venv.py")


def run(script: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # -I -S: no site-packages, no PYTHON* variables: only the standard library can be imported
    return subprocess.run([sys.executable, "-I", "-S", str(script), *args], cwd=cwd, capture_output=True, text=True)


def test_runs_on_the_standard_library_alone(tmp_path: Path) -> None:
    res = run(ROOT / "scripts/venv", "--check", "--venv", str(tmp_path / "none"))
    assert (res.returncode, res.stdout, res.stderr) == (0, f"no virtualenv at {tmp_path}/none\n", "")


def checkout(tmp_path: Path, *files: str) -> Path:
    repo = tmp_path / "colab"
    for rel in ("scripts/venv", *VENV_SOURCES, *files):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, repo / rel)
    return repo


def test_not_a_checkout(tmp_path: Path) -> None:
    repo = checkout(tmp_path)
    res = run(repo / "scripts/venv")
    expected = f"error: {repo} is not a colab checkout (no pyproject.toml)\n"
    assert (res.returncode, res.stdout, res.stderr) == (1, "", expected)
    assert not (repo / ".venv").exists()


def test_a_missing_or_broken_lock_changes_nothing(tmp_path: Path) -> None:
    repo = checkout(tmp_path, "pyproject.toml")
    res = run(repo / "scripts/venv")
    assert res.returncode == 1
    missing = f"error: {repo}/uv.lock is missing: run `uv lock` in the checkout and commit uv.lock"
    assert res.stderr.splitlines()[-1] == missing
    assert not (repo / ".venv").exists()  # the lock is read before anything is made
    (repo / "uv.lock").write_text("[[package]\n")
    res = run(repo / "scripts/venv")
    assert res.returncode == 1 and res.stderr.splitlines()[-1].startswith(f"error: {repo}/uv.lock is not valid TOML")
    assert not (repo / ".venv").exists()


def test_canonical_names() -> None:
    assert {checkout_venv.canonical(n) for n in ("Typing_Extensions", "typing.extensions", "typing-extensions")} == {
        "typing-extensions"
    }
