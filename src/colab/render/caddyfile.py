"""Render Caddy's sites from the inventory: one per service domain and per extra route, and the status page
(`monitoring.status_domain`, static files; docs/monitoring.md). Who may reach each one is in docs/edge.md.

Upstreams, as Caddy sees them from its container on the cluster network:
- a service on Caddy's own node: `<service>:<port>`, the alias every service's main container has on the
  cluster network (`aliases: ["${COLAB_SERVICE}"]` in its compose file);
- a service or route on another node: `<that node's mesh address>:<port>`;
- a route to the host Caddy runs on (Cockpit): `host.docker.internal:<port>` (the compose file maps that
  name to the host with `extra_hosts: host.docker.internal:host-gateway`).

Access: a private site (the default) answers only the private ranges (`private_ranges`), anyone else gets 403;
a public one answers everyone, except its `private_paths`. A site with a bearer token answers 401 unless the
request carries `Authorization: Bearer <token>`: the Caddyfile names the token's environment variable
(`{env.NAME}`, which Caddy reads at request time), never its value. Every site gets the same security headers;
public ones HSTS too. Output is sorted by domain, so the same inventory always renders the same file.
"""

from __future__ import annotations

from dataclasses import dataclass

from colab.inventory import Inventory

HOST_ALIAS = "host.docker.internal"
HEADER = (
    "# Rendered by `inv render` from the inventory (services.{service} runs it); edits here are overwritten.\n"
    "# Routes: [services.*].domains and [[routes]] in the inventory; access and headers: docs/edge.md."
)

STATUS_ROOT = "/srv/status"  # the status page's folder in Caddy's container (compose/caddy mounts it)
HSTS = "max-age=31536000"  # a year; no includeSubDomains: private names may not have public certificates
FORBIDDEN = "403 Forbidden: this site answers the LAN and the mesh only"
UNAUTHORIZED = "401 Unauthorized: send Authorization: Bearer <token>"
# RFC 6750's token68 characters, at least 16 of them. A token outside this (empty, short, or with the `*` Caddy's
# header matcher would read as a wildcard) matches no request: the site fails closed with 401.
TOKEN_SHAPE = "^[A-Za-z0-9._~+/-]{16,}=*$"


@dataclass(frozen=True, order=True)
class Site:
    domain: str
    upstream: str  # "" for a static site (the status page)
    source: str  # what the route comes from, e.g. "services.gitea" or "routes[0]"
    access: str = "private"
    private_paths: tuple[str, ...] = ()  # on a public site: paths that answer the private ranges only
    bearer_token: str = ""  # the environment variable holding the token Caddy checks; "" for none

    @property
    def public(self) -> bool:
        return self.access == "public"


def sites(inv: Inventory, caddy_node: str) -> list[Site]:
    """Every proxied domain with its upstream and access, as seen from a Caddy container on `caddy_node`."""
    found: list[Site] = []
    for svc in inv.services.values():
        if not svc.domains or svc.port is None:
            continue
        host = svc.name if svc.node == caddy_node else str(inv.node(svc.node).mesh)
        found += [
            Site(
                d, f"{host}:{svc.port}", f"services.{svc.name}", svc.access, tuple(svc.private_paths), svc.bearer_token
            )
            for d in svc.domains
        ]
    for i, route in enumerate(inv.routes):
        host = HOST_ALIAS if route.node == caddy_node else str(inv.node(route.node).mesh)
        upstream = f"{host}:{route.port}"
        found.append(Site(route.domain, upstream, f"routes[{i}]", route.access, tuple(route.private_paths)))
    if inv.monitoring and inv.monitoring.status_domain:
        found.append(Site(inv.monitoring.status_domain, "", "monitoring.status_domain"))
    return sorted(found)


def private_ranges(inv: Inventory) -> list[str]:
    """Who may see a private site: the LAN, the mesh, this host and its Docker networks (a request from the
    host itself reaches Caddy from a Docker gateway address)."""
    nets = [inv.networks.lan, inv.networks.mesh, inv.docker.cluster_subnet, *(p.base for p in inv.docker.address_pools)]
    return ["127.0.0.0/8", *(str(n) for n in nets)]


def bearer_tokens(inv: Inventory) -> list[str]:
    """The environment variables Caddy needs for the tokens it checks (compose/caddy/bearer-tokens.yaml)."""
    return sorted({s.bearer_token for s in inv.services.values() if s.bearer_token and s.domains})


def security_headers(site: Site) -> list[str]:
    """Set when the response is written (`defer`), so they apply to the upstream's answer; `?` keeps a header the
    upstream set itself (Cockpit sends `Referrer-Policy: no-referrer` and frames its own pages: SAMEORIGIN)."""
    lines = ["\theader {", "\t\tdefer"]
    if site.public:
        lines.append(f'\t\tStrict-Transport-Security "{HSTS}"')
    lines += [
        "\t\tX-Content-Type-Options nosniff",
        "\t\t?Referrer-Policy strict-origin-when-cross-origin",
        "\t\t?X-Frame-Options SAMEORIGIN",
        "\t}",
    ]
    return lines


def access_lines(site: Site, ranges: list[str]) -> list[str]:
    """403 for clients outside the private ranges: the whole site, or only its private paths."""
    outside = f"not remote_ip {' '.join(ranges)}"
    if not site.public:
        lines = [f"\t@outside {outside}"]
    elif site.private_paths:
        lines = ["\t@outside {", f"\t\tpath {' '.join(site.private_paths)}", f"\t\t{outside}", "\t}"]
    else:
        return []
    return [*lines, f'\trespond @outside "{FORBIDDEN}" 403']


def bearer_lines(site: Site) -> list[str]:
    if not site.bearer_token:
        return []
    env = f"{{env.{site.bearer_token}}}"
    return [
        "\t@unauthorized {",
        "\t\tnot {",
        f'\t\t\theader Authorization "Bearer {env}"',
        f'\t\t\texpression `{env}.matches("{TOKEN_SHAPE}")`',
        "\t\t}",
        "\t}",
        "\theader @unauthorized WWW-Authenticate Bearer",
        f'\trespond @unauthorized "{UNAUTHORIZED}" 401',
    ]


def describe(site: Site) -> str:
    """The comment above a site: where it comes from and who may reach it."""
    what = site.access
    if site.public and site.private_paths:
        what += f" (private: {' '.join(site.private_paths)})"
    if site.bearer_token:
        what += f", bearer token {site.bearer_token}"
    return f"# {site.source}: {what}"


def render(inv: Inventory, caddy_node: str, service: str = "caddy") -> str:
    """The Caddyfile for a Caddy deployed on `caddy_node` (automatic HTTPS for every domain)."""
    ranges = private_ranges(inv)
    lines = [HEADER.format(service=service), "{", "\tadmin localhost:2019", "}"]
    for site in sites(inv, caddy_node):
        lines += ["", describe(site), f"{site.domain} {{", "\tencode zstd gzip", *security_headers(site)]
        lines += [*access_lines(site, ranges), *bearer_lines(site)]
        if site.upstream:
            lines += [f"\treverse_proxy {site.upstream}", "}"]
        else:  # the status page (inv status --html, docs/monitoring.md): a static file
            lines += [f"\troot * {STATUS_ROOT}", "\tfile_server", "}"]
    return "\n".join(lines) + "\n"
