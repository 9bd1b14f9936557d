"""secrets.rotated (the `secrets` collection; not named secrets.py, which would hide the standard library's)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, conclude, load_inventory, out, progress, user_errors


@task(
    help={
        "name": "the secret's name, as the inventory and the compose files name it (e.g. GITEA_DB_PASSWORD)",
        "dry_run": "list what uses it and print every command that would re-apply it; change nothing",
        "json": HELP["json"],
        "inventory": HELP["inventory"],
    }
)
@user_errors
def rotated(c: Context, name: str, dry_run: bool = False, json: bool = False, inventory: str | None = None) -> None:
    """After NAME changed in Infisical: redeploy the services that use it, set a database's or Samba's password
    again and remount the clients; say what cannot be re-applied here (restic's key)."""
    from rich.text import Text

    from colab.lifecycle import rotation
    from colab.tables import Table

    inv = load_inventory(inventory)
    result = rotation.rotated(inv, name, dry_run=dry_run, console=progress(json))
    if not json:
        table = Table(title=f"what uses {name}", title_justify="left")
        for col in ("kind", "what", "node", "why"):
            table.add_column(col, no_wrap=col == "node", overflow="fold")
        for use in result.uses:
            table.add_row(use.kind, Text(use.what), use.node, Text(use.why))
        out().print(table)
    conclude(result.report, json)
