"""The edge configuration, computed from the inventory: Caddy's sites, Pi-hole's local DNS records, Headscale's ACL.

`inv render` lays these out through `templates/compose/<folder>/…` into the compose folder of the service
that consumes them (the deploy convention: a compose folder's name says what it is, so an inventory may
call the service anything):

- `compose/caddy/Caddyfile`: `colab.render.caddyfile` (one site per service domain and per `[[routes]]` entry);
- `compose/caddy/bearer-tokens.yaml`: the names of the bearer tokens Caddy checks, for its container's environment;
- `compose/pihole/custom.list`: Pi-hole v5 local DNS records, hosts format (`IP name`, one a line);
- `compose/headscale/acl.hujson`: the Headscale ACL policy, hosts = the nodes' mesh addresses;
- on a node with a `kind = "cockpit"` route, `/etc/cockpit/cockpit.conf` (`cockpit_conf`; a chezmoi script
  installs it): what Cockpit needs behind Caddy.

Names: a node is `<node>.<cluster.name>.<cluster.domain>` (the MagicDNS name headscale gives it, see
`colab.deploy.generated`), on its LAN address in Pi-hole; a service domain points at the LAN address of
the node running Caddy (which terminates HTTPS for it), or of the service's own node when there is no Caddy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from colab.errors import ColabError
from colab.inventory import Inventory, Node, Service

from . import caddyfile

CADDY = "caddy"
PIHOLE = "pihole"
HEADSCALE = "headscale"
ADMIN_ROLE = "admin"  # nodes with this role may reach every port of every node over the mesh
SMB_PORT = 445
DNS_PORT = 53
HTTP_PORTS = "80,443"


class EdgeError(ColabError):
    """Two edge facts contradict each other (e.g. one DNS name for two addresses)."""


def folder_of(svc: Service) -> str:
    """The service's compose folder as a clean relative posix path (`./compose/caddy/` -> `compose/caddy`)."""
    return svc.folder


def services_in(inv: Inventory, folder: str) -> list[Service]:
    """The services whose compose folder is `folder` (e.g. `compose/caddy`)."""
    return [s for s in inv.services.values() if folder_of(s) == folder]


def service_in(inv: Inventory, folder: str) -> Service | None:
    """The one service using `folder`, None when no service does; two services sharing it is refused."""
    found = services_in(inv, folder)
    if len(found) > 1:
        names = ", ".join(f"services.{s.name}" for s in found)
        raise EdgeError(f"{names} share the compose folder {folder}; give each its own folder")
    return found[0] if found else None


def by_kind(inv: Inventory, kind: str) -> Service | None:
    """The service deployed from `compose/<kind>` (caddy, pihole, headscale), if the inventory has one."""
    return service_in(inv, f"compose/{kind}")


def node_fqdn(inv: Inventory, node: Node) -> str:
    return f"{node.name}.{inv.cluster.name}.{inv.cluster.domain}"


# ------------------------------------------------------------------------------------------ Pi-hole


@dataclass(frozen=True)
class Record:
    address: str
    name: str
    source: str  # what the record comes from: nodes.<n>, services.<s>, routes[i]


def dns_records(inv: Inventory) -> list[Record]:
    """Local DNS records: every node by its FQDN on its LAN address, then every proxied domain (sorted)."""
    records = [Record(str(n.lan), node_fqdn(inv, n), f"nodes.{n.name}") for n in inv.nodes.values()]
    caddy = by_kind(inv, CADDY)
    edge = inv.node(caddy.node) if caddy else None
    domains: list[Record] = []
    for svc in inv.services.values():
        host = edge or inv.node(svc.node)
        domains += [Record(str(host.lan), d, f"services.{svc.name}") for d in svc.domains]
    for i, route in enumerate(inv.routes):
        host = edge or inv.node(route.node)
        domains.append(Record(str(host.lan), route.domain, f"routes[{i}]"))
    if edge and inv.monitoring and inv.monitoring.status_domain:  # the status page, a static site of Caddy's
        domains.append(Record(str(edge.lan), inv.monitoring.status_domain, "monitoring.status_domain"))
    records += sorted(domains, key=lambda r: r.name)
    seen: dict[str, Record] = {}
    for r in records:
        if r.name in seen and seen[r.name].address != r.address:
            raise EdgeError(
                f"{r.source}: {r.name} would resolve to {r.address} and, for {seen[r.name].source}, to "
                f"{seen[r.name].address}; rename one of them"
            )
        seen.setdefault(r.name, r)
    return records


def hosts_lines(records: list[Record]) -> list[str]:
    """custom.list lines, `IP name`, without duplicates (Pi-hole's web page lists every line as a record)."""
    out: list[str] = []
    for r in records:
        line = f"{r.address} {r.name}"
        if line not in out:
            out.append(line)
    return out


# ------------------------------------------------------------------------------------------ Cockpit

COCKPIT_CONF = "/etc/cockpit/cockpit.conf"
COCKPIT_MARKER = "# colab: rendered by `inv render`"


def cockpit_domains(inv: Inventory, node: Node) -> list[str]:
    """The domains Caddy proxies to this node's Cockpit (`[[routes]]` with kind = "cockpit")."""
    return sorted(r.domain for r in inv.routes if r.kind == "cockpit" and r.node == node.name)


def cockpit_conf(inv: Inventory, node: Node) -> str:
    """cockpit.conf for Cockpit behind Caddy on this node; "" when no Cockpit route goes to it.

    - Origins: Cockpit accepts WebSocket connections only from the origins it knows; the proxied names.
    - ProtocolHeader / ForwardedForHeader: Caddy terminates TLS and sets X-Forwarded-Proto and -For (replacing
      what a client sent), so Cockpit knows the page is https (secure cookies, its CSP) and who the client is.
    - AllowUnencrypted: Caddy speaks plain HTTP to port 9090 from a Docker address; cockpit-tls redirects every
      plain connection that is not from localhost to https otherwise (a loop through Caddy).
    """
    domains = cockpit_domains(inv, node)
    if not domains:
        return ""
    origins = " ".join(f"{scheme}://{d}" for d in domains for scheme in ("https", "wss"))
    return "\n".join(
        [
            f'{COCKPIT_MARKER} from the inventory ([[routes]] kind = "cockpit" on {node.name}); edits are overwritten.',
            f"# Cockpit behind Caddy ({', '.join(f'https://{d}' for d in domains)}); docs/edge.md.",
            "[WebService]",
            f"Origins = {origins}",
            "ProtocolHeader = X-Forwarded-Proto",
            "ForwardedForHeader = X-Forwarded-For",
            "AllowUnencrypted = true",
            "",
        ]
    )


# ---------------------------------------------------------------------------------------- Headscale


@dataclass(frozen=True)
class Rule:
    why: str
    src: list[str]
    dst: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"action": "accept", "src": self.src, "dst": self.dst}


def acl_hosts(inv: Inventory) -> dict[str, str]:
    """Host aliases for the policy: node name -> its mesh address as a /32."""
    return {n.name: f"{n.mesh}/32" for n in inv.nodes.values()}


def acl_rules(inv: Inventory) -> list[Rule]:
    """What each node may reach over the mesh, derived from the inventory (nothing else gets through)."""
    nodes = list(inv.nodes)
    rules = [
        Rule(
            "SSH between the nodes: tasks run from any node, deploys reach other engines over SSH",
            nodes,
            [f"{n.name}:{n.ssh_port}" for n in inv.nodes.values()],
        ),
        Rule(f"fortress (SMB) on {inv.fortress.server}", nodes, [f"{inv.fortress.server}:{SMB_PORT}"]),
    ]
    pihole = by_kind(inv, PIHOLE)
    if pihole:
        rules.append(Rule(f"DNS (Pi-hole) on {pihole.node}", nodes, [f"{pihole.node}:{DNS_PORT}"]))
    caddy = by_kind(inv, CADDY)
    if caddy:
        rules.append(Rule(f"HTTPS edge (Caddy) on {caddy.node}", nodes, [f"{caddy.node}:{HTTP_PORTS}"]))
        upstreams = sorted(
            {
                f"{s.node}:{s.port}"
                for s in inv.services.values()
                if s.domains and s.port is not None and s.node != caddy.node
            }
            | {f"{r.node}:{r.port}" for r in inv.routes if r.node != caddy.node}
        )
        if upstreams:
            rules.append(Rule("Caddy reaches the services it proxies on other nodes", [caddy.node], upstreams))
    prometheus = by_kind(inv, "prometheus")
    if prometheus:
        exporters = [
            f"{s.node}:{s.port}"
            for s in services_in(inv, "compose/node-exporter")
            if s.port is not None and s.node != prometheus.node
        ]
        if exporters:
            rules.append(Rule(f"Prometheus on {prometheus.node} scrapes node-exporter", [prometheus.node], exporters))
    admins = [n.name for n in inv.nodes.values() if ADMIN_ROLE in n.roles]
    if admins:
        rules.append(Rule(f"nodes with the {ADMIN_ROLE!r} role reach every port of every node", admins, ["*:*"]))
    return rules


def acl_policy(inv: Inventory) -> dict[str, Any]:
    """The policy as data (what headscale reads once the comments are stripped)."""
    return {"hosts": acl_hosts(inv), "acls": [r.as_dict() for r in acl_rules(inv)]}


# ------------------------------------------------------------------------------------------ context


class Facts:
    """What the edge templates lay out, computed on first use (a template asks only for what it needs)."""

    def __init__(self, inv: Inventory, service: Service) -> None:
        self.inv = inv
        self.service = service

    @cached_property
    def caddyfile(self) -> str:
        return caddyfile.render(self.inv, self.service.node, self.service.name)

    @cached_property
    def bearer_tokens(self) -> list[str]:
        return caddyfile.bearer_tokens(self.inv)

    @cached_property
    def records(self) -> list[Record]:
        return dns_records(self.inv)

    @cached_property
    def hosts_lines(self) -> list[str]:
        return hosts_lines(self.records)

    @cached_property
    def acl_hosts(self) -> dict[str, str]:
        return acl_hosts(self.inv)

    @cached_property
    def acl_rules(self) -> list[Rule]:
        return acl_rules(self.inv)
