"""`inv status` as one function: options checked first, every node probed, the result printed and exported."""

from __future__ import annotations

import time

from rich.console import Console

from colab import options
from colab.inventory import Inventory
from colab.status import DEFAULT_TIMEOUT, collect, export, view


def run(
    inv: Inventory,
    console: Console,
    *,
    as_json: bool = False,
    timeout: str | None = None,
    now: str | None = None,
    metrics: str | None = None,
    html: str | None = None,
    read_sample: bool = False,
) -> int:
    """Probe, print (table or JSON), write the metrics file and the page if asked; the exit code."""
    seconds = options.seconds("--timeout", timeout, DEFAULT_TIMEOUT)
    checked = options.parse_now(now)
    targets = export.Targets.make(metrics, html)  # bad paths are refused before anything is probed
    started = time.monotonic()
    result = collect.collect(inv, now=checked, timeout=seconds, read_sample=read_sample)
    if as_json:
        print(result.to_json())
    else:
        console.print(view.render(result))
    export.write(targets, inv, result, seconds=time.monotonic() - started, read_sample=read_sample)
    return result.exit_code
