"""What the fortress.* and raid.* tasks do, as plain functions (the Invoke layer only parses options).

Every function takes the inventory, picks the node, builds a runner with `runner_for` (local when we are
on that node, else SSH to its mesh address; `dry_run` prints instead and contacts nothing) and returns a
Report (or a status object) whose `exit_code` the task exits with.
"""

from __future__ import annotations

from rich.console import Console

from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.privilege import needs_sudo
from colab.runner import Runner, node_or_here, runner_for
from colab.steps import Report, note, run_steps
from colab.storage import fortress_share, mdstat, mounts, raid
from colab.storage.fortress_status import FortressStatus, probe
from colab.storage.samba import SambaHost


def _runner(inv: Inventory, node: Node, dry_run: bool, console: Console | None) -> Runner:
    return runner_for(inv, node, dry_run=dry_run, console=console)


def share(
    inv: Inventory,
    node_name: str | None = None,
    *,
    dry_run: bool = False,
    console: Console | None = None,
    host: SambaHost | None = None,
    sudo: bool | None = None,
) -> Report:
    """`inv fortress.share`: the share on the fortress server."""
    node = inv.node(node_name or inv.fortress.server)
    if node.name != inv.fortress.server:
        raise ColabError(
            f"{node.name} is not the fortress server ({inv.fortress.server}); "
            "fortress.share runs there (fortress.server in the inventory)"
        )
    with _runner(inv, node, dry_run, console) as r:
        if dry_run:
            names = ", ".join(inv.fortress.users.values())
            note(r, f"check: Infisical has {names} at {inv.fortress.password_path} (names only)")
        else:
            fortress_share.preflight(r, inv)
        use_sudo = needs_sudo(r, node) if sudo is None else sudo
        steps = fortress_share.steps(inv, host or SambaHost(), use_sudo)
        return run_steps(f"fortress share on {node.name}", steps, r)


def mount(
    inv: Inventory, node_name: str | None = None, *, dry_run: bool = False, console: Console | None = None
) -> Report:
    """`inv fortress.mount`: fortress on a client node, the way its OS does it."""
    node = node_or_here(inv, node_name)
    kind = mounts.client_kind(inv, node)  # refuses the server before anything connects
    with _runner(inv, node, dry_run, console) as r:
        steps = mounts.mount_steps(inv, node, needs_sudo(r, node) and node.os != "macos")
        if kind != "systemd":  # the Windows drive and the Keychain get the password from here; Linux fetches it
            if dry_run:
                name = inv.fortress_login(node).password_name
                note(r, f"check: Infisical has {name} at {inv.fortress.password_path} (names only)")
            else:
                mounts.preflight(r, inv, node)
        return run_steps(f"fortress mount on {node.name} ({kind})", steps, r)


def unmount(
    inv: Inventory, node_name: str | None = None, *, dry_run: bool = False, console: Console | None = None
) -> Report:
    node = node_or_here(inv, node_name)
    mounts.client_kind(inv, node)
    with _runner(inv, node, dry_run, console) as r:
        steps = mounts.unmount_steps(inv, node, needs_sudo(r, node) and node.os != "macos")
        return run_steps(f"fortress unmount on {node.name}", steps, r)


def fortress_status(
    inv: Inventory,
    node_name: str | None = None,
    *,
    dry_run: bool = False,
    console: Console | None = None,
    measure: bool = True,
) -> FortressStatus:
    node = node_or_here(inv, node_name)
    with _runner(inv, node, dry_run, console) as r:
        return probe(r, inv, node, measure=measure)


# -------------------------------------------------------------------------------------------- raid


def _raid_node(inv: Inventory) -> Node:
    return inv.node(inv.raid.node)


def raid_plan(
    inv: Inventory,
    disks: list[str] | None = None,
    *,
    wipe: bool = False,
    allow_kernel_names: bool = False,
    probe: bool = False,
    console: Console | None = None,
) -> tuple[Report, list[str]]:
    """The exact commands `raid.create` would run (a dry run); with `probe`, the guards' verdict too."""
    plan = raid.plan_from(inv, disks, wipe=wipe, allow_kernel_names=allow_kernel_names)
    node = _raid_node(inv)
    problems: list[str] = []
    if probe:
        with _runner(inv, node, False, console) as live:
            found = raid.probe_disks(live, list(plan.disks), needs_sudo(live, node))
            problems = raid.guard_problems(found, allow_kernel_names=allow_kernel_names, wipe=wipe)
    with _runner(inv, node, True, console) as r:
        report = run_steps(f"RAID1 plan on {node.name}", raid.create_steps(inv, plan, needs_sudo(r, node)), r)
    return report, problems


def raid_create(
    inv: Inventory,
    disks: list[str] | None = None,
    *,
    wipe: bool = False,
    allow_kernel_names: bool = False,
    dry_run: bool = False,
    console: Console | None = None,
) -> Report:
    plan = raid.plan_from(inv, disks, wipe=wipe, allow_kernel_names=allow_kernel_names)
    node = _raid_node(inv)
    with _runner(inv, node, dry_run, console) as r:
        return run_steps(f"RAID1 {plan.device} on {node.name}", raid.create_steps(inv, plan, needs_sudo(r, node)), r)


def raid_monitor(inv: Inventory, *, dry_run: bool = False, console: Console | None = None) -> Report:
    node = _raid_node(inv)
    with _runner(inv, node, dry_run, console) as r:
        return run_steps(f"RAID alerts on {node.name}", raid.monitor_steps(inv, needs_sudo(r, node)), r)


def raid_status(inv: Inventory, *, dry_run: bool = False, console: Console | None = None) -> mdstat.RaidStatus:
    node = _raid_node(inv)
    with _runner(inv, node, dry_run, console) as r:
        return raid.status(r, inv, needs_sudo(r, node))
