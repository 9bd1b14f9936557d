"""The mise tasks `inv render` writes: each one runs the matching `inv` task.

A node's `~/.config/mise/config.toml` runs them in that node's repo checkout (`dir = node.repo`); the
repo's own `mise.toml` runs them from the checkout it sits in and adds the repo-level tasks.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from colab.inventory import Inventory, Node

CONFIG_ROOT = "{{config_root}}"  # mise's own template: the folder holding mise.toml


@dataclass(frozen=True)
class MiseTask:
    name: str
    run: tuple[str, ...]
    description: str
    usage: str = ""


def _inv(*args: str) -> str:
    return shlex.join(["inv", *args])


def _node_arg(inv: Inventory) -> str:
    """A mise `usage` spec: one required argument, a node name from the inventory."""
    choices = " ".join(f'"{name}"' for name in inv.nodes)
    return f'arg "<node>" help="node name from the inventory" {{ choices {choices} }}'


def _cluster_tasks(inv: Inventory, node: Node | None) -> list[MiseTask]:
    """Tasks every node has; `node=None` is the repo checkout (the node is then an argument)."""
    if node is None:
        who, usage, where = "{{usage.node}}", _node_arg(inv), "a node"
    else:
        who, usage, where = node.name, "", node.name
    tasks = [
        MiseTask("status", (_inv("status"),), "Show the state of every node and service"),
        MiseTask("bootstrap", (f"inv bootstrap --node {who}",), f"Bootstrap {where} (idempotent)", usage),
        MiseTask("fortress:mount", (f"inv fortress.mount --node {who}",), f"Mount fortress on {where}", usage),
        MiseTask("fortress:status", (f"inv fortress.status --node {who}",), f"Show fortress on {where}", usage),
    ]
    for svc in inv.services.values():
        tasks.append(
            MiseTask(
                f"deploy:{svc.name}",
                (_inv("deploy", "--service", svc.name),),
                f"Deploy {svc.name} on {svc.node} (secrets from Infisical {svc.secrets_path})",
            )
        )
    return tasks


def _backup_tasks(inv: Inventory) -> list[MiseTask]:
    on = inv.backup.node
    return [
        MiseTask("backup:daily", (_inv("backup.daily"),), f"Daily snapshot of {inv.backup.source} on {on}"),
        MiseTask("backup:weekly", (_inv("backup.weekly"),), f"Weekly backup of {inv.backup.source} on {on}"),
        MiseTask("backup:status", (_inv("backup.status"),), f"List snapshots and their age on {on}"),
    ]


def node_tasks(inv: Inventory, node: Node) -> list[MiseTask]:
    """The tasks in a node's global mise config, sorted by name."""
    tasks = _cluster_tasks(inv, node)
    if node.name == inv.backup.node:
        tasks += _backup_tasks(inv)
    return sorted(tasks, key=lambda t: t.name)


def repo_tasks(inv: Inventory) -> list[MiseTask]:
    """The tasks in the repo's mise.toml: repo chores plus the cluster tasks, sorted by name."""
    tasks = [
        MiseTask("render", (_inv("render"),), "Render chezmoi/ and mise.toml from the inventory"),
        MiseTask(
            "check",
            (_inv("inventory.check"), _inv("render", "--check")),
            "Validate the inventory and check the generated files are up to date",
        ),
        MiseTask("test", ("nox",), "Run the test sessions (nox)"),
        *_cluster_tasks(inv, None),
        *_backup_tasks(inv),
    ]
    return sorted(tasks, key=lambda t: t.name)
