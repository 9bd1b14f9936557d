"""A test checkout: the project itself copied into a folder (what a node's checkout needs for its virtualenv and
`inv`), and git run in it as the tests' one author."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("pyproject.toml", "uv.lock", ".gitignore", "scripts/venv", "src/colab", "tasks")


def copy_project(dest: Path) -> Path:
    """PROJECT's files from this checkout into `dest` (build leftovers left out); returns `dest`."""
    for rel in PROJECT:
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, dest / rel, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


def git(repo: Path, *args: str) -> str:
    """`git -C repo args…` as the tests' author; its stdout, stripped (fails the test on a non-zero exit)."""
    require_tool("git")
    argv = ["git", "-C", str(repo), "-c", "user.name=colab-test", "-c", "user.email=test@colab.invalid", *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()
