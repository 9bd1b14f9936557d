"""`inv node.add NAME --lan A --mesh B` and `inv node.remove NAME`: a node in or out of the inventory, then render.

The entry is checked as the inventory checks every node (addresses inside the LAN and the mesh, not their
network or broadcast address, used once; its user listed in fortress.users; …) before anything is written, and
written with the same all-or-nothing edit as `inv service.new` (`colab.lifecycle.edit`). What the change means
for the running services comes from `colab.lifecycle.impact`: Headscale's ACL (the node's mesh address), Pi-hole's
records (its name), Prometheus's scrape targets (its node-exporter), Caddy when routes change.

Defaults come from the inventory, never from here: the user is the one most nodes use, the checkout the one
another node of the same OS family with that user has. On a Debian node, when the inventory runs node-exporter
as one service per node, `node.add` adds the new node's (a copy of another node's entry) unless
`--no-exporter`. `node.remove` takes that service out with the node, refuses while other services are placed
on it or it holds fortress, the RAID, the backups, the off-site copy or a route (each named, one line), and
touches nothing on the node itself.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from colab import inventory
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.lifecycle import edit, tables
from colab.render import edge, monitoring

_NAME = re.compile(inventory.NAME_RE)


@dataclass(frozen=True)
class NewNode:
    name: str
    lan: str = ""
    mesh: str = ""
    os: str = "debian"
    arch: str = "amd64"
    roles: tuple[str, ...] = ()
    availability: str = "always"
    ssh_user: str = ""
    ssh_port: int = 22
    repo: str = ""
    gpu: bool = False
    exporter: bool = True  # add its node-exporter service where the inventory runs one per node


def next_free(inv: Inventory, network: IPv4Network, used: list[IPv4Address]) -> str:
    """The first address after the highest one in use, inside `network` (what to suggest)."""
    taken = set(inv.addresses())
    start = max(used, default=network.network_address)
    for host in network.hosts():
        if host > start and host not in taken:
            return str(host)
    return "(none free)"


def _defaults(inv: Inventory, req: NewNode) -> tuple[str, str]:
    users = Counter(n.ssh_user for n in inv.nodes.values())
    user = req.ssh_user or (users.most_common(1)[0][0] if users else "")
    if not user:
        raise ColabError("--ssh-user is required: no node of the inventory to take it from")
    repo = req.repo
    if not repo:
        same = [n.repo for n in inv.nodes.values() if n.ssh_user == user and (n.os == "macos") == (req.os == "macos")]
        if not same:
            home = "/Users" if req.os == "macos" else "/home"
            raise ColabError(
                f"--repo is required: no {req.os} node of the inventory checks out the repo as {user!r}; "
                f"give the checkout's path, e.g. --repo {home}/{user}/colab"
            )
        repo = Counter(same).most_common(1)[0][0]
    return user, repo


def exporter_entry(inv: Inventory, req: NewNode) -> tuple[str, dict[str, Any]] | None:
    """The node-exporter service of the new node, copied from another node's, or None."""
    if not req.exporter or req.os != "debian" or monitoring.prometheus(inv) is None:
        return None
    folder = f"compose/{monitoring.NODE_EXPORTER}"
    existing = edge.services_in(inv, folder)
    if not existing:
        return None
    model = existing[0]
    name = f"{monitoring.NODE_EXPORTER}-{req.name}"
    if name in inv.services:
        return None
    entry: dict[str, Any] = {"node": req.name, "compose": model.compose, "secrets_path": model.secrets_path,
                             "secrets": list(model.secrets)}  # fmt: skip
    if model.port is not None:
        entry["port"] = model.port
    if model.health:
        entry["health"] = model.health
    return name, entry


@dataclass(frozen=True)
class Added:
    prepared: edit.Prepared
    table_text: str
    exporter: str  # the service added with it, "" for none
    exporter_text: str = ""  # its table, as written


def plan_add(path: Path, req: NewNode, *, output: Path | None = None) -> Added:
    inv = inventory.load(path)
    if not _NAME.fullmatch(req.name):
        raise ColabError(
            f"{req.name!r} is not a node name: use lowercase letters, digits and '-', starting with a letter"
        )
    if req.name in inv.nodes:
        raise ColabError(
            f"nodes.{req.name} is already in the inventory; pick another name, or `inv node.remove` it first"
        )
    for option, value, network in (("--lan", req.lan, inv.networks.lan), ("--mesh", req.mesh, inv.networks.mesh)):
        if not value:
            used = [n.lan if option == "--lan" else n.mesh for n in inv.nodes.values()]
            hint = next_free(inv, network, used)
            what = "its LAN address" if option == "--lan" else "the address Headscale will give it"
            raise ColabError(f"{option} is required: {what}, in {network} (the next free one: {hint})")
    user, repo = _defaults(inv, req)
    entry: dict[str, Any] = {
        "arch": req.arch,
        "os": req.os,
        "roles": list(req.roles),
        "lan": req.lan,
        "mesh": req.mesh,
        "availability": req.availability,
        "ssh_user": user,
    }
    if req.ssh_port != 22:
        entry["ssh_port"] = req.ssh_port
    entry.update({"repo": repo, "gpu": req.gpu})
    text = path.read_text(encoding="utf-8")
    new_text = tables.add_table(text, "nodes", req.name, entry, "inv node.add")
    exporter = exporter_entry(inv, req)
    if exporter:
        new_text = tables.add_table(new_text, "services", exporter[0], exporter[1], "inv node.add")
    prepared = edit.prepare(path, new_text, what=f"adding nodes.{req.name}", output=output)
    table = tables.table_text("nodes", req.name, entry, "inv node.add")
    if not exporter:
        return Added(prepared, table, "")
    return Added(prepared, table, exporter[0], "\n" + tables.table_text("services", *exporter, "inv node.add"))


def own_exporter(inv: Inventory, name: str) -> str:
    """The node-exporter service `node.add` gave the node (node-exporter-NAME from its folder), or ""."""
    svc = inv.services.get(f"{monitoring.NODE_EXPORTER}-{name}")
    folder = f"compose/{monitoring.NODE_EXPORTER}"
    return svc.name if svc and svc.node == name and edge.folder_of(svc) == folder else ""


@dataclass(frozen=True)
class Removed:
    prepared: edit.Prepared
    exporter: str  # its node-exporter service, removed with it ("" for none)


def plan_remove(path: Path, name: str, *, output: Path | None = None) -> Removed:
    inv = inventory.load(path)
    node = inv.node(name)
    exporter = own_exporter(inv, node.name)
    placed = [s.name for s in inv.services_on(node.name) if s.name != exporter]
    if placed:
        downs = "; ".join(f"inv deploy.down --service {s}" for s in placed)
        raise ColabError(
            f"{name} runs services {', '.join(placed)}: stop them ({downs}), then move them to another node "
            f"(inv inventory.set services.<name>.node <node>) or delete their [services.<name>] tables, and run again"
        )
    holds = [
        key
        for key, value in (("fortress.server", inv.fortress.server), ("raid.node", inv.raid.node),
                           ("backup.node", inv.backup.node),
                           ("backup.offsite.node", inv.backup.offsite.node if inv.backup.offsite else ""))
        if value == name
    ] + [f"routes[{i}]" for i, r in enumerate(inv.routes) if r.node == name]  # fmt: skip
    if holds:
        raise ColabError(f"{name} is {', '.join(holds)} in the inventory: move that to another node first")
    new_text = tables.remove_table(path.read_text(encoding="utf-8"), "nodes", name)
    if exporter:
        new_text = tables.remove_table(new_text, "services", exporter)
    return Removed(edit.prepare(path, new_text, what=f"removing nodes.{name}", output=output), exporter)
