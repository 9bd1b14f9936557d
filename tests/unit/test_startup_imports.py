"""Every `inv` start loads tasks/: its modules must not import the heavy libraries a task needs only when run.

`inv --list`, tab completion and every mise/cron line pay what `import tasks` imports (benchmarks/startup_bench.py
measures it); a module-level `import jinja2` in one task module once cost every start ~30 ms. This asserts what is
loaded, not how long it takes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("jinja2", "pydantic", "rich", "tomlkit", "yaml", "colab.inventory", "colab.render")


def test_loading_the_tasks_imports_none_of_the_heavy_libraries() -> None:
    probe = f"import sys, tasks; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == []
