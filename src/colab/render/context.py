"""What the templates see: the facts of the whole inventory, of one node, of one service, computed here so the
templates only lay them out.

- `global_context`: files rendered once (mise.toml, the shared chezmoi files, docs/inventory.md).
- `node_context`: files under a `{node}` path, rendered once per node (`colab.node_facts` and what the node runs).
- `service_context`: `templates/compose/<folder>/` files, rendered for the service using that folder (with `edge`,
  a `colab.render.edge.Facts`, and `monitoring`, a `colab.render.monitoring.Facts` when there is a Prometheus).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from colab import inventory_docs, node_facts
from colab.errors import RenderError
from colab.inventory import Inventory, Node, Service

from . import edge, mise_tasks, monitoring


def node_context(inv: Inventory, node: Node) -> dict[str, Any]:
    """Everything a per-node template may use."""
    fortress = node_facts.fortress(inv, node)
    if node.name == inv.backup.node and node.os == "macos":
        raise RenderError(f"backup.node: {node.name} runs macOS, which has no /etc/cron.d; pick a Linux node")
    return {
        "inv": inv,
        "node": node,
        "fortress": fortress,
        "is_backup_node": node.name == inv.backup.node,
        "backup_cron": node_facts.backup_cron(inv),
        "docker_daemon": node_facts.node_docker_daemon(inv, node),
        "tasks": mise_tasks.node_tasks(inv, node),
        "env": {mise_tasks.ENV_NODE: node.name, mise_tasks.ENV_REPO: node.repo},
        "venv_bin": mise_tasks.VENV_BIN,
        "monitoring": monitoring.node_facts(inv, node),
        "cockpit": {"conf": edge.cockpit_conf(inv, node), "path": edge.COCKPIT_CONF, "marker": edge.COCKPIT_MARKER},
    }


def service_context(inv: Inventory, shared: Mapping[str, Any], svc: Service) -> dict[str, Any]:
    """A service file's context: the shared one plus the service, the edge facts (computed on use) and, when the
    inventory has a Prometheus, the monitoring facts."""
    facts = monitoring.Facts(inv, svc) if monitoring.prometheus(inv) else None
    return {**shared, "service": svc, "edge": edge.Facts(inv, svc), "monitoring": facts}


def global_context(inv: Inventory) -> dict[str, Any]:
    return {
        "inv": inv,
        "repo_tasks": mise_tasks.repo_tasks(inv),
        "config_root": mise_tasks.CONFIG_ROOT,
        "shared_tasks": mise_tasks.shared_tasks(inv),
        "node_dir": mise_tasks.NODE_DIR,
        "env_names": [mise_tasks.ENV_NODE, mise_tasks.ENV_REPO],
        "venv_bin": mise_tasks.VENV_BIN,
        "inventory_reference": inventory_docs.sections,  # docs/inventory.md (the model, not this inventory)
    }
