"""`inv service.new NAME --node N [--template web|web-db|mcp|busybox]`: a new service in one command.

What it writes, all or nothing (`colab.lifecycle.edit`): `compose/<name>/compose.yaml` from the template
(`colab.lifecycle.scaffolds`), `[services.<name>]` in the inventory (placed after the last service, comments
and layout kept), and what `inv render` then writes (Caddy's sites and Pi-hole's records for its domain, the
mise task `deploy:<name>`, …). Before anything is written the name, the node and the template are checked
(one line each) and the new inventory passes every check `inv inventory.check` makes. What it cannot do is
put secret values in Infisical: it lists the names to add there, at the service's folder.

An MCP server's bearer token is checked by Caddy, so the token's name is added to Caddy's secrets too (the
inventory requires it), and Caddy's folder in Infisical must see it (an import of the service's folder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from colab import image_ref, inventory
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.lifecycle import edit, scaffolds, tables
from colab.render import edge, monitoring

PORT_BASE = 8100  # the first port offered when --port is not given (the node's ports in use are skipped)
# Compose folders the edge and monitoring recognise by name: a new service must not be taken for one of them.
RESERVED = (
    edge.CADDY, edge.PIHOLE, edge.HEADSCALE, monitoring.PROMETHEUS, monitoring.ALERTMANAGER, monitoring.NODE_EXPORTER
)  # fmt: skip


@dataclass(frozen=True)
class Request:
    name: str
    node: str
    template: str = "web"
    image: str = ""  # "" = the template's
    port: int | None = None  # None = the first free one from PORT_BASE on the node
    domain: bool = True  # <name>.<cluster.domain>, routed by Caddy


@dataclass(frozen=True)
class Plan:
    request: Request
    scaffold: scaffolds.Scaffold
    folder: Path
    compose_text: str
    table_text: str
    secrets_path: str
    secrets: list[str]
    notes: list[str]
    prepared: edit.Prepared

    @property
    def new_inventory(self) -> Inventory:
        return self.prepared.new


def check_name(inv: Inventory, name: str) -> None:
    if not re.fullmatch(inventory.NAME_RE, name):
        raise ColabError(
            f"{name!r} is not a service name: use lowercase letters, digits and '-', starting with a letter "
            "(e.g. inv service.new wiki --node director)"
        )
    if name in inv.services:
        raise ColabError(
            f"services.{name} is already in the inventory (on {inv.services[name].node}); pick another name"
        )
    if name in RESERVED:
        raise ColabError(
            f"{name!r} is the compose folder name the edge and monitoring recognise (compose/{name}); pick another name"
        )


def free_port(inv: Inventory, node: str, start: int = PORT_BASE) -> int:
    """The first port from `start` that no service or route on `node` uses (they publish on that host)."""
    used = {s.port for s in inv.services_on(node) if s.port} | {r.port for r in inv.routes if r.node == node}
    port = start
    while port in used:
        port += 1
    return port


def plan(path: Path, req: Request, *, output: Path | None = None) -> Plan:
    """Everything `new` writes, checked and rendered in memory; raises ColabError (one line) when refused."""
    inv = inventory.load(path)
    check_name(inv, req.name)
    node = inv.node(req.node)
    try:
        scaffold = scaffolds.choose(req.template)
    except KeyError as e:
        raise ColabError(str(e.args[0])) from None
    if req.image:
        image_ref.check(req.image)
    port = req.port if req.port is not None else free_port(inv, node.name)
    if not 1 <= port <= 65535:
        raise ColabError(f"--port {port}: use a port between 1 and 65535")
    taken = [s.name for s in inv.services_on(node.name) if s.port == port]
    if taken:
        raise ColabError(f"--port {port} is used by {', '.join(taken)} on {node.name}; pick another, or leave it out")
    root = output or inventory.REPO_ROOT
    folder = root / "compose" / req.name
    compose = f"compose/{req.name}" if output is None else str(folder)
    secrets_path = f"/{req.name}"
    domains = [f"{req.name}.{inv.cluster.domain}"] if req.domain else []
    entry = scaffolds.inventory_entry(
        scaffold, service=req.name, node=node.name, compose=compose, secrets_path=secrets_path, domains=domains,
        port=port,
    )  # fmt: skip
    text = path.read_text(encoding="utf-8")
    notes: list[str] = []
    if scaffold.bearer:
        token = entry["bearer_token"]
        for caddy in inventory.caddy_services(inv):
            text = tables.append_to_array(text, ["services", caddy.name, "secrets"], token)
            notes.append(
                f"services.{caddy.name}.secrets: {token} added (Caddy checks it); in Infisical make it visible at "
                f"{caddy.secrets_path} too, e.g. import {secrets_path} there"
            )
    comment = f"inv service.new --template {scaffold.name}"
    new_text = tables.add_table(text, "services", req.name, entry, comment)
    compose_text = scaffolds.compose_file(
        scaffold, service=req.name, image=req.image or scaffold.image, secrets_path=secrets_path
    )
    prepared = edit.prepare(
        path, new_text, what=f"adding services.{req.name}", output=output,
        folders={folder: {scaffolds.COMPOSE_FILE: compose_text}},
    )  # fmt: skip
    return Plan(
        req, scaffold, folder, compose_text, tables.table_text("services", req.name, entry, comment), secrets_path,
        list(entry["secrets"]), notes, prepared,
    )  # fmt: skip


def apply(p: Plan) -> edit.Applied:
    return edit.apply(p.prepared)
