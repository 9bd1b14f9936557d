"""status: the whole cluster at a glance (`inv status`), also as metrics and a static page for monitoring."""

import time

from invoke import task

from colab.backup.config import parse_now
from colab.cli import HELP, finish, load_inventory, out, user_errors
from colab.errors import ColabError
from colab.status import collect, export, view


def _seconds(text):
    if text in (None, ""):
        return collect.DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise ColabError(f"--timeout {text!r} is not a number of seconds; use e.g. --timeout 5") from None
    if not 0 < value <= 3600:
        raise ColabError(f"--timeout {text}: use a number of seconds between 0 and 3600, e.g. --timeout 5")
    return value


@task(
    help={
        "json": HELP["json"],
        "inventory": HELP["inventory"],
        "timeout": f"seconds each node may take to answer (default {collect.DEFAULT_TIMEOUT:g})",
        "now": "judge backup ages as if it were this time, YYYY-MM-DDTHH:MM (tests, drills)",
        "metrics": "also write the result for Prometheus as DIR/colab-status.prom (node-exporter's textfile dir)",
        "html": "also write the result as one static page, FILE (the status page)",
        "read_sample": "also time a 64 MiB read of fortress on each node that has it (--metrics exports it)",
    }
)
@user_errors
def status(c, json=False, inventory=None, timeout=None, now=None, metrics=None, html=None, read_sample=False):
    """Every node at once: mesh/LAN, Docker, fortress, services, RAID, last backup, free space; exit 1 if critical."""
    inv = load_inventory(inventory)
    seconds = _seconds(timeout)
    checked = parse_now(now)
    targets = export.Targets.make(metrics, html)  # bad paths are refused before anything is probed
    started = time.monotonic()
    result = collect.collect(inv, now=checked, timeout=seconds, read_sample=read_sample)
    if json:
        print(result.to_json())
    else:
        out().print(view.render(result))
    export.write(targets, inv, result, seconds=time.monotonic() - started, read_sample=read_sample)
    finish(result.exit_code)
