"""fortress.share, fortress.mount, fortress.unmount, fortress.status."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, conclude, err, finish, load_inventory, out, progress, user_errors

NODE_HELP = "node from the inventory (default: this machine, from $COLAB_NODE or the hostname)"
COMMON = {"node": NODE_HELP, "dry_run": HELP["dry_run"], "inventory": HELP["inventory"], "json": HELP["json"]}


@task(help={**COMMON, "node": "the fortress server (default: fortress.server in the inventory)"})
@user_errors
def share(
    c: Context, node: str | None = None, dry_run: bool = False, inventory: str | None = None, json: bool = False
) -> None:
    """The Samba share on the server: group and users, folders, smb.conf (testparm-checked), smbd, each user's
    password from Infisical; Samba users of the group no longer listed are removed."""
    from colab.storage import commands

    inv = load_inventory(inventory)
    report = commands.share(inv, node, dry_run=dry_run, console=progress(json))
    conclude(report, json)


@task(help=COMMON)
@user_errors
def mount(
    c: Context, node: str | None = None, dry_run: bool = False, inventory: str | None = None, json: bool = False
) -> None:
    """Mount fortress on a client: systemd units (Linux, WSL), drive letter (Windows), LaunchAgent (macOS)."""
    from colab.storage import commands

    inv = load_inventory(inventory)
    report = commands.mount(inv, node, dry_run=dry_run, console=progress(json))
    conclude(report, json)


@task(help=COMMON)
@user_errors
def unmount(
    c: Context, node: str | None = None, dry_run: bool = False, inventory: str | None = None, json: bool = False
) -> None:
    """Unmount fortress on a client (and stop what would mount it again: automount, drive, LaunchAgent)."""
    from colab.storage import commands

    inv = load_inventory(inventory)
    report = commands.unmount(inv, node, dry_run=dry_run, console=progress(json))
    conclude(report, json)


@task(help={**COMMON, "no_read": "skip the read-throughput sample"})
@user_errors
def status(
    c: Context,
    node: str | None = None,
    dry_run: bool = False,
    inventory: str | None = None,
    json: bool = False,
    no_read: bool = False,
) -> None:
    """Mounted where it should be, writable, read MB/s vs the inventory's baseline (exit 1 when not mounted)."""
    from colab.storage import commands

    inv = load_inventory(inventory)
    st = commands.fortress_status(inv, node, dry_run=dry_run, console=progress(json), measure=not no_read)
    if dry_run:
        return
    if json:
        print(st.to_json())
    else:
        out().print(st.report().table())
        for line in st.problems + st.warnings:
            err().print(line, highlight=False)
    finish(st.exit_code)
