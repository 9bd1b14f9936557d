"""Render Caddy's routes from the inventory: one site per service domain and per extra route, and the status
page (`monitoring.status_domain`: static files, LAN, mesh and this host only; docs/monitoring.md).

Upstreams, as Caddy sees them from its container on the cluster network:
- a service on Caddy's own node: `<service>:<port>`, the alias every service's main container has on the
  cluster network (`aliases: ["${COLAB_SERVICE}"]` in its compose file);
- a service or route on another node: `<that node's mesh address>:<port>`;
- a route to the host Caddy runs on (Cockpit): `host.docker.internal:<port>` (the compose file maps that
  name to the host with `extra_hosts: host.docker.internal:host-gateway`).
Output is sorted by domain, so the same inventory always renders the same file.
"""

from __future__ import annotations

from dataclasses import dataclass

from colab.inventory import Inventory

HOST_ALIAS = "host.docker.internal"
HEADER = (
    "# Rendered by `inv render` from the inventory (services.{service} runs it); edits here are overwritten.\n"
    "# Routes: [services.*].domains and [[routes]] in the inventory."
)


STATUS_ROOT = "/srv/status"  # the status page's folder in Caddy's container (compose/caddy mounts it)


@dataclass(frozen=True, order=True)
class Site:
    domain: str
    upstream: str  # "" for a static site (the status page)
    source: str  # what the route comes from, e.g. "services.gitea" or "routes[0]"


def sites(inv: Inventory, caddy_node: str) -> list[Site]:
    """Every proxied domain with its upstream, as seen from a Caddy container on `caddy_node`."""
    found: list[Site] = []
    for svc in inv.services.values():
        if not svc.domains or svc.port is None:
            continue
        host = svc.name if svc.node == caddy_node else str(inv.node(svc.node).mesh)
        found += [Site(d, f"{host}:{svc.port}", f"services.{svc.name}") for d in svc.domains]
    for i, route in enumerate(inv.routes):
        host = HOST_ALIAS if route.node == caddy_node else str(inv.node(route.node).mesh)
        found.append(Site(route.domain, f"{host}:{route.port}", f"routes[{i}]"))
    if inv.monitoring and inv.monitoring.status_domain:
        found.append(Site(inv.monitoring.status_domain, "", "monitoring.status_domain"))
    return sorted(found)


def private_ranges(inv: Inventory) -> list[str]:
    """Who may see the status page: the LAN, the mesh, this host and its Docker networks (a request from the
    host itself reaches Caddy from a Docker gateway address)."""
    nets = [inv.networks.lan, inv.networks.mesh, inv.docker.cluster_subnet, *(p.base for p in inv.docker.address_pools)]
    return ["127.0.0.0/8", *(str(n) for n in nets)]


def render(inv: Inventory, caddy_node: str, service: str = "caddy") -> str:
    """The Caddyfile for a Caddy deployed on `caddy_node` (automatic HTTPS for every domain)."""
    lines = [HEADER.format(service=service), "{", "\tadmin localhost:2019", "}"]
    for site in sites(inv, caddy_node):
        lines += ["", f"# {site.source}", f"{site.domain} {{", "\tencode zstd gzip"]
        if site.upstream:
            lines += [f"\treverse_proxy {site.upstream}", "}"]
            continue
        # the status page (inv status --html, docs/monitoring.md): private, a static file
        lines += [f"\t@outside not remote_ip {' '.join(private_ranges(inv))}", "\trespond @outside 403"]
        lines += [f"\troot * {STATUS_ROOT}", "\tfile_server", "}"]
    return "\n".join(lines) + "\n"
