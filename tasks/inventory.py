"""inventory.check, inventory.show, inventory.set."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, err, load_inventory, out, user_errors


@task(help={"inventory": HELP["inventory"]})
@user_errors
def check(c: Context, inventory: str | None = None) -> None:
    """Validate the inventory: every problem on its own line, exit 1 if any."""
    from colab.inventory import inventory_path

    inv = load_inventory(inventory)
    out().print(
        f"[green]ok[/green] {inventory_path(inventory)}: {len(inv.nodes)} nodes, {len(inv.services)} services",
        highlight=False,
    )


@task(help={"inventory": HELP["inventory"], "json": HELP["json"]})
@user_errors
def show(c: Context, inventory: str | None = None, json: bool = False) -> None:
    """Show nodes, services and storage as tables (or --json)."""
    from colab import inventory_view

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
def set(c: Context, key: str, value: str, inventory: str | None = None, dry_run: bool = False) -> None:
    """Change one value in the inventory, keeping comments and layout; refused if the result is invalid."""
    from colab import inventory_edit
    from colab.inventory import inventory_path

    path = inventory_path(inventory)
    text = inventory_edit.set_value(path, key, value, dry_run=dry_run)
    if dry_run:
        print(text, end="")
    else:
        err().print(f"[green]changed[/green] {key} in {path}", highlight=False)
