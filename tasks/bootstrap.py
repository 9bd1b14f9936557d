"""bootstrap (the collection's default: `inv bootstrap --node writer`)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from colab.bootstrap import GROUPS
from colab.cli import HELP, conclude, load_inventory, progress, user_errors


@task(
    default=True,
    help={
        "node": "node from the inventory (default: this machine, from $COLAB_NODE or the hostname)",
        "steps": f"comma-separated subset, in bootstrap order: {','.join(GROUPS)} (default: all)",
        "dry_run": HELP["dry_run"] + "; contacts nothing",
        "json": HELP["json"],
        "inventory": HELP["inventory"],
    },
)
@user_errors
def bootstrap(
    c: Context,
    node: str | None = None,
    steps: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    inventory: str | None = None,
) -> None:
    """Take a node from bare to ready: prerequisites, mesh, install, fortress, chezmoi, venv, backup, verify."""
    from colab.bootstrap.run import bootstrap as run_bootstrap

    inv = load_inventory(inventory)
    conclude(run_bootstrap(inv, node, steps=steps, dry_run=dry_run, console=progress(json)), json)
