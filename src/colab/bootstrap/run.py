"""`inv bootstrap --node NAME`: pick the node, find it, run its steps, report.

A real run first checks that the node answers: a TCP connect (3 s) to its SSH port on the mesh address,
then on the LAN address (a node that has not joined the mesh yet is reached there), each through the
network guard. Nobody answering is an error (exit 1); for an on-demand node (projector) it says that the
node is on demand and offline. On the node itself nothing is dialled: the commands run locally.
Then every prerequisite is checked (`colab.bootstrap.prerequisites`); when any is missing, all of them are
listed and no step runs. A dry run contacts nothing at all and prints the plan.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from rich.console import Console

from colab import netguard
from colab.bootstrap import order, prerequisites
from colab.bootstrap.context import Ctx
from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.privilege import needs_sudo
from colab.runner import Runner, node_or_here, runner_for, this_node
from colab.steps import Outcome, Report, Status, note, run_steps

CONNECT_TIMEOUT = 3.0
CONTROLLER = "local"  # how this machine is labelled in plans and reports

Dial = Callable[[str, int, float], bool]


class NodeOffline(ColabError):
    """The node does not answer on its SSH port. `reason` is that fact alone, for the tasks that report an
    on-demand node as skipped rather than pass on bootstrap's advice."""

    def __init__(self, reason: str, advice: str) -> None:
        super().__init__(f"{reason}; {advice}")
        self.reason = reason


def tcp_dial(host: str, port: int, timeout: float) -> bool:
    netguard.ensure_allowed(host, "check that the node is up")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def route(node: Node, dial: Dial = tcp_dial, timeout: float = CONNECT_TIMEOUT) -> str:
    """ "mesh" or "lan": the first address whose SSH port answers; NodeOffline when neither does."""
    for via, addr in (("mesh", node.mesh), ("lan", node.lan)):
        if dial(str(addr), node.ssh_port, timeout):
            return via
    tried = f"{node.mesh}:{node.ssh_port} (mesh) or {node.lan}:{node.ssh_port} (LAN) within {timeout:.0f} s"
    if node.on_demand:
        raise NodeOffline(
            f"{node.name} is on demand and offline: nothing answers on {tried}",
            f"power it on, then run `inv bootstrap --node {node.name}` again",
        )
    raise NodeOffline(f"{node.name} does not answer on {tried}", "check that it is up and its sshd runs")


def bootstrap(
    inv: Inventory,
    node_name: str | None,
    *,
    steps: str | None = None,
    dry_run: bool = False,
    console: Console | None = None,
    dial: Dial = tcp_dial,
) -> Report:
    node = node_or_here(inv, node_name)
    chosen = order.parse_steps(steps)
    local = node.name == this_node()
    via = "mesh"
    if not local and not dry_run:
        via = route(node, dial)
    runner = runner_for(inv, node, dry_run=dry_run, console=console, via=via)
    controller = Runner(CONTROLLER, dry_run=dry_run, console=console or runner.console)
    with runner, controller:
        ctx = Ctx(inv, node, needs_sudo(runner, node), controller)
        if dry_run:
            _describe(runner, inv, node, local, chosen)
        groups = order.groups(ctx, chosen)
        title = f"bootstrap {node.name} ({node.os}{', on demand' if node.on_demand else ''})"
        report = Report(title)
        if not prerequisites.run(ctx, runner, chosen, remote=not local, report=report):
            for step in order.flatten(groups):
                report.outcomes.append(Outcome(runner.node, step.name, Status.SKIPPED, prerequisites.SKIPPED))
            return report
        return run_steps(title, order.flatten(groups), runner, report)


def _describe(r: Runner, inv: Inventory, node: Node, local: bool, chosen: list[str]) -> None:
    if local:
        note(r, f"bootstrap {node.name} ({node.os}) here, as this user (commands run locally)")
    else:
        note(
            r,
            f"bootstrap {node.name} ({node.os}) over SSH as {node.ssh_user}: {node.mesh}:{node.ssh_port} (mesh), "
            f"else {node.lan}:{node.ssh_port} (LAN), whichever answers first (TCP, {CONNECT_TIMEOUT:.0f} s each)",
        )
        if node.on_demand:
            note(r, f"{node.name} is on demand: if neither answers, the run stops there with exit 1")
    note(r, f"steps: {', '.join(chosen)}; on [{CONTROLLER}]: this machine")
