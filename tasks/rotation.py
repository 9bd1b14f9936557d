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
    from colab.lifecycle import rotation

    inv = load_inventory(inventory)
    result = rotation.rotated(inv, name, dry_run=dry_run, console=progress(json))
    if not json:
        out().print(result.table())
    conclude(result.report, json)
