"""inventory.check, inventory.show, inventory.set."""

from invoke import task

from colab import inventory_edit, inventory_view
from colab.cli import HELP, err, load_inventory, out, user_errors
from colab.inventory import inventory_path


@task(help={"inventory": HELP["inventory"]})
@user_errors
def check(c, inventory=None):
    """Validate the inventory: every problem on its own line, exit 1 if any."""
    inv = load_inventory(inventory)
    out().print(
        f"[green]ok[/green] {inventory_path(inventory)}: {len(inv.nodes)} nodes, {len(inv.services)} services",
        highlight=False,
    )


@task(help={"inventory": HELP["inventory"], "json": HELP["json"]})
@user_errors
def show(c, inventory=None, json=False):
    """Show nodes, services and storage as tables (or --json)."""
    inv = load_inventory(inventory)
    if json:
        print(inventory_view.as_json(inv))
    else:
        out().print(inventory_view.tables(inv))


@task(
    help={
        "key": "dotted key, e.g. nodes.projector.availability",
        "value": "TOML value or plain text",
        "inventory": HELP["inventory"],
        "dry_run": "validate and show the result, write nothing",
    }
)
@user_errors
def set(c, key, value, inventory=None, dry_run=False):
    """Change one value in the inventory, keeping comments and layout; refused if the result is invalid."""
    path = inventory_path(inventory)
    text = inventory_edit.set_value(path, key, value, dry_run=dry_run)
    if dry_run:
        print(text, end="")
    else:
        err().print(f"[green]changed[/green] {key} in {path}", highlight=False)
