"""Where `inv status --metrics DIR --html FILE` puts its result, for monitoring (docs/monitoring.md).

- `--metrics DIR`: `DIR/colab-status.prom` (`colab.metrics.status_metrics`), and with `--read-sample` also
  `DIR/colab-fortress-read.prom`, for node-exporter's textfile collector;
- `--html FILE`: the status page (`colab.status.html`), reloading itself every `monitoring.status_every`
  minutes when the inventory has that table.

Both are written atomically (a temporary file beside the target, then a rename), after the table or JSON,
whatever the verdict. Paths are checked before anything is probed, so a typo costs no probing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from colab.errors import ColabError
from colab.inventory import Inventory
from colab.metrics import status_metrics, textfile

from . import html
from .model import ClusterStatus


@dataclass(frozen=True)
class Targets:
    metrics: Path | None = None
    html: Path | None = None

    @classmethod
    def make(cls, metrics: str | None, page: str | None) -> Targets:
        """Checked paths: DIR must be a directory, FILE's folder must exist; else one line saying so."""
        mdir = Path(metrics) if metrics else None
        if mdir is not None and not mdir.is_dir():
            raise ColabError(f"--metrics {metrics}: not a directory; give node-exporter's textfile directory")
        hfile = Path(page) if page else None
        if hfile is not None:
            if hfile.is_dir():
                raise ColabError(f"--html {page}: is a directory; give a file name, e.g. {hfile / 'index.html'}")
            if not hfile.parent.is_dir():
                raise ColabError(f"--html {page}: the folder {hfile.parent} does not exist; create it first")
        return cls(mdir, hfile)


def write(
    targets: Targets, inv: Inventory, status: ClusterStatus, *, seconds: float, read_sample: bool = False
) -> None:
    """Write what `targets` asks for; raises ColabError (one line) when a file cannot be written."""
    if targets.metrics is not None:
        families = status_metrics.families(status, time.time(), seconds)
        textfile.write(targets.metrics, status_metrics.FILE, textfile.exposition(families))
        if read_sample:
            reads = textfile.exposition(status_metrics.read_families(status))
            textfile.write(targets.metrics, status_metrics.READ_FILE, reads)
    if targets.html is not None:
        refresh = inv.monitoring.status_every * 60 if inv.monitoring else None
        textfile.replace(targets.html, html.render(status, refresh=refresh))
