"""The project itself copied into a folder: what a node's checkout needs for its virtualenv and `inv`."""

from __future__ import annotations

import shutil
from pathlib import Path

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
