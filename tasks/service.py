"""service.new: a compose folder from a template, the inventory entry, the render (docs/lifecycle.md)."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, load_inventory, out, user_errors
from colab.errors import ColabError
from colab.lifecycle import scaffolds  # the templates' names and summaries, for --help


def _port(text: str | int | None) -> int | None:
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise ColabError(f"--port {text!r} is not a whole number; use e.g. --port 8100, or leave it out") from None


@task(
    help={
        "name": "the new service's name (lowercase letters, digits, '-'): [services.NAME], compose/NAME",
        "node": "the node it runs on",
        "template": f"what to start from: {', '.join(f'{k} ({v.summary})' for k, v in scaffolds.SCAFFOLDS.items())}",
        "image": "the app's image instead of the template's",
        "port": "the port it publishes on 127.0.0.1 of its node (default: the first free one from 8100)",
        "no_domain": "no <name>.<cluster.domain> through Caddy (default: one, private to the LAN and the mesh)",
        "output": "write the compose folder and the rendered files under this folder instead of the repo (tests)",
        "inventory": HELP["inventory"],
        "dry_run": "show the files and the inventory entry it would write; write nothing",
        "json": HELP["json"],
    }
)
@user_errors
def new(
    c: Context, name: str, node: str | None = None, template: str = "web", image: str = "",
    port: str | None = None, no_domain: bool = False, output: str | None = None, inventory: str | None = None,
    dry_run: bool = False, json: bool = False,
) -> None:  # fmt: skip
    """Start a service: compose/NAME from a template, [services.NAME], inv render; then the secrets to add."""
    from colab.inventory import inventory_path
    from colab.lifecycle import output as show
    from colab.lifecycle import service_new

    if not node:
        raise ColabError(f"--node is required: the node {name} runs on (e.g. --node director)")
    load_inventory(inventory)  # an invalid inventory is refused first, with its own lines
    path = inventory_path(inventory)
    req = service_new.Request(name, node, template, image, _port(port), not no_domain)
    plan = service_new.plan(path, req, output=Path(output) if output else None)
    applied = None if dry_run else service_new.apply(plan)
    if json:
        print(
            show.edit_json(
                plan.prepared, applied, service=name, node=node, template=plan.scaffold.name,
                compose=str(plan.folder / scaffolds.COMPOSE_FILE), secrets_path=plan.secrets_path,
                secrets=plan.secrets, notes=plan.notes,
            )
        )  # fmt: skip
        return
    show.service_new_report(out(), plan, applied, path)
