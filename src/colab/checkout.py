"""Which checkout a run acts on: the one whose `tasks/` Invoke loaded, never another one by accident.

The library finds its templates, compose folders and default inventory next to the installed package
(`inventory.REPO_ROOT`). With an editable install pointing at checkout A, `inv` run inside checkout B would
load B's tasks but read A's inventory and write into A. Rather than mixing one checkout's code with another's
files, the run stops with one line naming both.
"""

from __future__ import annotations

import sys
from pathlib import Path

from colab.repo import REPO_ROOT


def mismatch(tasks_dir: Path, package_root: Path = REPO_ROOT) -> str | None:
    """One line when the tasks come from another checkout than the installed package, else None."""
    tasks_root = tasks_dir.resolve().parent
    if tasks_root == package_root.resolve():
        return None
    own = tasks_root / ".venv" / "bin" / "inv"
    fix = f"run {own}" if own.exists() else f"make its own with `python3 {tasks_root / 'scripts' / 'venv'}`"
    return (
        f"error: the tasks in {tasks_root} would run with the colab package of {package_root} "
        f"(installed in {sys.prefix}) and act on that checkout: {fix}"
    )


def require_same(tasks_dir: Path) -> None:
    """Stop the whole `inv` run (exit 1, one line on stderr) when `mismatch` finds one."""
    line = mismatch(tasks_dir)
    if line is not None:
        raise SystemExit(line)  # printed to stderr as it is, exit status 1
