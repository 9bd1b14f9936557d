"""Rich tables and JSON for `inv inventory.show`."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group
from rich.text import Text

from colab.inventory import Inventory
from colab.tables import Table


def _row(t: Table, *cells: str) -> None:
    """A row of plain text: inventory values (a path may hold `[x]`) are never read as rich markup."""
    t.add_row(*(Text(cell) for cell in cells))


def nodes_table(inv: Inventory) -> Table:
    t = Table(title=f"Nodes of {inv.cluster.name} ({inv.networks.lan} LAN, {inv.networks.mesh} mesh)")
    for col in ("node", "arch", "os", "roles", "lan", "mesh", "availability", "ssh", "gpu", "fortress"):
        t.add_column(col, no_wrap=col in ("node", "lan", "mesh"), overflow="fold")
    for n in inv.nodes.values():
        _row(
            t,
            n.name,
            n.arch,
            n.os,
            ", ".join(n.roles),
            str(n.lan),
            str(n.mesh),
            n.availability,
            f"{n.ssh_user}@:{n.ssh_port}",
            "yes" if n.gpu else "",
            inv.fortress_mount(n) + (" + " + inv.fortress.mounts.windows if n.os == "wsl" else ""),
        )
    return t


def services_table(inv: Inventory) -> Table:
    t = Table(title=f"Services (Infisical project {inv.infisical.project_id}, env {inv.infisical.environment})")
    for col in ("service", "node", "compose", "secrets", "domains", "databases", "health"):
        t.add_column(col, no_wrap=col in ("service", "node"), overflow="fold")
    for s in inv.services.values():
        _row(
            t,
            s.name,
            s.node,
            s.compose,
            f"{s.secrets_path}: {', '.join(s.secrets) or '-'}",
            ", ".join(s.domains),
            ", ".join(f"{d.service}/{d.name}" for d in s.databases),
            s.health,
        )
    return t


def storage_table(inv: Inventory) -> Table:
    f, r, b = inv.fortress, inv.raid, inv.backup
    t = Table(title="Storage")
    t.add_column("what")
    t.add_column("node", no_wrap=True)
    t.add_column("details", overflow="fold")
    _row(
        t,
        f"fortress share '{f.share}'",
        f.server,
        f"{f.device} ({f.filesystem}) at {f.path}; group {f.group}; users "
        + ", ".join(f"{user} (password {f.password_path}/{name})" for user, name in f.users.items())
        + f"; folders {', '.join(f.folders)}",
    )
    _row(t, "fortress clients", "", f"linux {f.mounts.linux}, windows {f.mounts.windows}, macos {f.mounts.macos}")
    _row(t, f"raid{r.level} {r.device}", r.node, f"{r.filesystem} at {r.mount}; disks {', '.join(r.disks)}")
    _row(
        t,
        "backup",
        b.node,
        f"{b.source} -> {b.target}; daily {b.schedule.daily}, weekly {b.schedule.weekly}; keep "
        f"{b.retention.daily} daily / {b.retention.weekly} weekly / {b.retention.monthly} monthly",
    )
    return t


def tables(inv: Inventory) -> Group:
    return Group(nodes_table(inv), services_table(inv), storage_table(inv))


def as_json(inv: Inventory) -> str:
    data: dict[str, Any] = inv.model_dump(mode="json")
    return json.dumps(data, indent=2)
