"""raid.plan, raid.create, raid.status, raid.monitor: the RAID1 backup volume on raid.node."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, conclude, err, finish, load_inventory, out, progress, user_errors

DISK_HELP = "a disk by /dev/disk/by-id/… (twice, or comma-separated; default: raid.disks in the inventory)"
COMMON = {
    "disks": DISK_HELP,
    "wipe": "erase existing signatures (file systems, partition tables, old RAID superblocks) first",
    "allow_kernel_names": "accept /dev/sdX names (they can swap across boots)",
    "inventory": HELP["inventory"],
}


def _disks(values: list[str] | None) -> list[str] | None:
    disks = [d for v in values or [] for d in v.replace(",", " ").split()]
    return disks or None


@task(
    help={**COMMON, "probe": "also run the guards on the node (read-only) and show their verdict"}, iterable=["disks"]
)
@user_errors
def plan(
    c: Context,
    disks: list[str] | None = None,
    wipe: bool = False,
    allow_kernel_names: bool = False,
    probe: bool = False,
    inventory: str | None = None,
) -> None:
    """Print the exact commands raid.create would run; contacts nothing unless --probe."""
    from colab.storage import commands

    inv = load_inventory(inventory)
    report, problems = commands.raid_plan(
        inv, _disks(disks), wipe=wipe, allow_kernel_names=allow_kernel_names, probe=probe, console=out()
    )
    if probe:
        for problem in problems:
            err().print(f"[red]refused[/red] {problem}", highlight=False)
        if not problems:
            out().print("[green]guards pass[/green]: raid.create would build the array", highlight=False)
    finish(1 if problems else report.exit_code)


@task(help={**COMMON, "dry_run": HELP["dry_run"], "json": HELP["json"]}, iterable=["disks"])
@user_errors
def create(
    c: Context,
    disks: list[str] | None = None,
    wipe: bool = False,
    allow_kernel_names: bool = False,
    dry_run: bool = False,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Build the mirror after the guards: mdadm --create, mkfs, mdadm.conf, initramfs, fstab, mount, alerts."""
    from colab.storage import commands

    inv = load_inventory(inventory)
    report = commands.raid_create(
        inv, _disks(disks), wipe=wipe, allow_kernel_names=allow_kernel_names, dry_run=dry_run,
        console=progress(json),
    )  # fmt: skip
    conclude(report, json)


@task(help={"inventory": HELP["inventory"], "json": HELP["json"], "dry_run": HELP["dry_run"]})
@user_errors
def status(c: Context, inventory: str | None = None, json: bool = False, dry_run: bool = False) -> None:
    """clean / degraded / resync or recovery with percent; exit 0 clean, 2 rebuilding, 1 degraded or missing."""
    from colab.storage import commands

    inv = load_inventory(inventory)
    st = commands.raid_status(inv, dry_run=dry_run, console=progress(json))
    if dry_run:
        return
    if json:
        print(st.to_json())
    else:
        colour = {0: "green", 2: "yellow"}.get(st.exit_code, "bold red")
        out().print(f"{st.device}: [{colour}]{st.detail}[/{colour}]", highlight=False)
        if st.state:
            out().print(f"mdadm state: {st.state}", highlight=False)
        for member in st.members:
            out().print(f"  {member}", highlight=False)
        out().print(f"alerts: {st.alerts}", highlight=False)
    finish(st.exit_code)


@task(help={"inventory": HELP["inventory"], "dry_run": HELP["dry_run"], "json": HELP["json"]})
@user_errors
def monitor(c: Context, inventory: str | None = None, dry_run: bool = False, json: bool = False) -> None:
    """Install the mdadm monitor configuration (MAILADDR, PROGRAM) and the alert program."""
    from colab.storage import commands

    inv = load_inventory(inventory)
    report = commands.raid_monitor(inv, dry_run=dry_run, console=progress(json))
    conclude(report, json)
