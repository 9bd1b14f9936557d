"""The mise tasks `inv render` writes: each one runs the matching `inv` task.

On a node, `~/.config/mise/config.toml` is the same file everywhere: pinned tools and the cluster's tasks,
run in `$COLAB_REPO` (the node's checkout) and naming `$COLAB_NODE` where a task is about this node. The
node's own `~/.config/mise/conf.d/colab-node.toml` sets those two variables (`[env]`) and adds the tasks
only that node has (backups on the backup node). So the rendered output grows as nodes + services, not
nodes x services. The repo's own `mise.toml` runs the tasks from its checkout, with the node as argument.
Every task puts its checkout's `.venv/bin` first on its own PATH (`env = { _.path = [...] }`, the task's
environment only, not the user's shells), so `inv` is the one that can import colab.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from colab.inventory import Inventory, Node

CONFIG_ROOT = "{{config_root}}"  # mise's own templates: the folder holding mise.toml,
ENV_NODE = "COLAB_NODE"  # and variables from [env]
ENV_REPO = "COLAB_REPO"
NODE_DIR = "{{env." + ENV_REPO + "}}"
# The checkout's own virtualenv (`python3 scripts/venv`: <checkout>/.venv exactly from uv.lock, the project
# editable; `inv bootstrap` makes it): every task puts its bin/ first on PATH, so `inv` can import
# colab. A dev checkout without one uses the `inv` on PATH.
VENV = ".venv"
VENV_BIN = f"{VENV}/bin"


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


def _cluster_tasks(inv: Inventory, where: str) -> list[MiseTask]:
    """Tasks every node has. `where`: "node" (this node, from $COLAB_NODE) or "repo" (node as argument)."""
    if where == "repo":
        who, usage, what = "{{usage.node}}", _node_arg(inv), "a node"
    else:
        who, usage, what = "{{env." + ENV_NODE + "}}", "", "this node"
    tasks = [
        MiseTask("status", (_inv("status"),), "Show the state of every node and service"),
        MiseTask("bootstrap", (f"inv bootstrap --node {who}",), f"Bootstrap {what} (idempotent)", usage),
        MiseTask("fortress:mount", (f"inv fortress.mount --node {who}",), f"Mount fortress on {what}", usage),
        MiseTask("fortress:status", (f"inv fortress.status --node {who}",), f"Show fortress on {what}", usage),
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
        MiseTask("backup:status", (_inv("backup.status"),), f"List snapshots and dumps and their age on {on}"),
        MiseTask("backup:prune", (_inv("backup.prune"),), f"Apply the retention policy to the backups on {on}"),
        MiseTask("backup:check", (_inv("backup.check"),), f"Check the latest snapshot against {inv.backup.source}"),
    ]


def shared_tasks(inv: Inventory) -> list[MiseTask]:
    """The tasks in every node's ~/.config/mise/config.toml, sorted by name."""
    return sorted(_cluster_tasks(inv, "node"), key=lambda t: t.name)


def node_tasks(inv: Inventory, node: Node) -> list[MiseTask]:
    """The tasks only this node has (its conf.d/colab-node.toml), sorted by name."""
    return sorted(_backup_tasks(inv), key=lambda t: t.name) if node.name == inv.backup.node else []


def resolved(task: MiseTask, node: Node) -> tuple[str, ...]:
    """A node's task commands as mise runs them there ({{env.COLAB_NODE}} filled in)."""
    return tuple(cmd.replace("{{env." + ENV_NODE + "}}", node.name) for cmd in task.run)


def all_node_tasks(inv: Inventory, node: Node) -> list[MiseTask]:
    """Every task `mise tasks` lists on this node, sorted by name."""
    return sorted([*shared_tasks(inv), *node_tasks(inv, node)], key=lambda t: t.name)


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
        *_cluster_tasks(inv, "repo"),
        *_backup_tasks(inv),
    ]
    return sorted(tasks, key=lambda t: t.name)
