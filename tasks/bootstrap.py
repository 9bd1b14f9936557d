"""bootstrap (the collection's default: `inv bootstrap --node writer`)."""

from invoke import task

from colab.bootstrap import GROUPS
from colab.bootstrap import bootstrap as run_bootstrap
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
def bootstrap(c, node=None, steps=None, dry_run=False, json=False, inventory=None):
    """Take a node from bare to ready: mesh, install, fortress, chezmoi, verify (idempotent)."""
    inv = load_inventory(inventory)
    report = run_bootstrap(inv, node, steps=steps, dry_run=dry_run, console=progress(json))
    conclude(report, json)
