"""Where this checkout is: the folder holding src/colab, tasks/, cluster.toml, templates/ and compose/.

A module of its own, with no imports beyond the standard library, so that `inv` can decide which checkout it acts
on (colab.checkout) before anything heavy is loaded.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
