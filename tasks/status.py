"""status: the whole cluster at a glance (`inv status`), also as metrics and a static page for monitoring."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, finish, load_inventory, out, user_errors
from colab.status import DEFAULT_TIMEOUT


@task(
    help={
        "json": HELP["json"],
        "inventory": HELP["inventory"],
        "timeout": f"seconds each node may take to answer (default {DEFAULT_TIMEOUT:g})",
        "now": "judge backup ages as if it were this time, YYYY-MM-DDTHH:MM (tests, drills)",
        "metrics": "also write the result for Prometheus as DIR/colab-status.prom (node-exporter's textfile dir)",
        "html": "also write the result as one static page, FILE (the status page)",
        "read_sample": "also time a 64 MiB read of fortress on each node that has it (--metrics exports it)",
    }
)
@user_errors
def status(
    c: Context,
    json: bool = False,
    inventory: str | None = None,
    timeout: str | None = None,
    now: str | None = None,
    metrics: str | None = None,
    html: str | None = None,
    read_sample: bool = False,
) -> None:
    """Every node at once: mesh/LAN, Docker, fortress, services, RAID, last backup, free space; exit 1 if critical."""
    from colab.status import command

    inv = load_inventory(inventory)
    code = command.run(
        inv, out(), as_json=json, timeout=timeout, now=now, metrics=metrics, html=html, read_sample=read_sample
    )
    finish(code)
