"""The compose folder templates `inv service.new` starts a service from, in the house style of compose/.

Every template gives a `compose.yaml` with a health check, resource limits, its volumes under the service's
data folder on fortress (`COLAB_DATA_DIR`), the cluster network, the port published on 127.0.0.1 only, and
its secrets by name (`${NAME:?… must come from Infisical}`), plus the inventory entry that goes with it. Secret
names are derived from the service's name (`web-shop` -> `WEB_SHOP_DB_PASSWORD`): the owner adds their values
in Infisical, at the service's folder.

- `web`: one container (nginx by default), its data folder at /data;
- `web-db`: the app and its own PostgreSQL, the database in the inventory (dumped by `inv backup.daily`);
- `mcp`: an MCP server behind supergateway, a bearer token Caddy checks (as compose/mcp-files);
- `busybox`: the test variant of `web`, busybox httpd from the locally built test image: deployable with no
  registry (the tests deploy it end to end).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "scaffolds"
COMPOSE_FILE = "compose.yaml"


@dataclass(frozen=True)
class Scaffold:
    name: str
    summary: str
    image: str
    container_port: int
    health_path: str
    secret_suffixes: tuple[str, ...] = ()  # <PREFIX>_<suffix>
    database: bool = False
    bearer: bool = False  # the first secret is the bearer token Caddy checks

    def secrets(self, service: str) -> list[str]:
        prefix = env_prefix(service)
        return [f"{prefix}_{suffix}" for suffix in self.secret_suffixes]


SCAFFOLDS: dict[str, Scaffold] = {
    s.name: s
    for s in (
        Scaffold("web", "one web container (nginx until you change the image), data at /data", "nginx:1.27-alpine", 80,
                 "/"),
        Scaffold("web-db", "a web app and its own PostgreSQL (the database dumped nightly)", "nginx:1.27-alpine", 80,
                 "/", ("DB_PASSWORD",), database=True),
        Scaffold("mcp", "an MCP server behind supergateway, a bearer token checked by Caddy",
                 "supercorp/supergateway:3.4.0", 0, "/health", ("AUTH_TOKEN",), bearer=True),
        Scaffold("busybox", "test variant of web: busybox httpd from the local test image (no registry needed)",
                 "colab-test/busybox:latest", 8080, "/health", ("SECRET",)),
    )
}  # fmt: skip


def env_prefix(service: str) -> str:
    """`web-shop` -> `WEB_SHOP`: how a service's secrets are named."""
    return re.sub(r"[^A-Za-z0-9]", "_", service).upper()


def db_ident(service: str) -> str:
    """`web-shop` -> `web_shop`: the database and its user (an identifier, as the inventory requires)."""
    return re.sub(r"[^A-Za-z0-9]", "_", service).lower()


def choose(name: str) -> Scaffold:
    try:
        return SCAFFOLDS[name]
    except KeyError:
        raise KeyError(f"unknown template {name!r}; choose from {', '.join(SCAFFOLDS)}") from None


def compose_file(scaffold: Scaffold, *, service: str, image: str, secrets_path: str) -> str:
    """The service's compose.yaml."""
    from colab.render.templates import environment  # here: tasks/service.py imports this module for --help

    env = environment(HERE)
    secrets = scaffold.secrets(service)
    context: dict[str, Any] = {
        "name": service,
        "image": image,
        "container_port": scaffold.container_port,
        "health_path": scaffold.health_path,
        "secrets": secrets,
        "secrets_path": secrets_path,
        "db_password": secrets[0] if scaffold.database else "",
        "token": secrets[0] if scaffold.bearer else "",
    }
    return env.get_template(f"{scaffold.name}.yaml.j2").render(context)


def inventory_entry(
    scaffold: Scaffold,
    *,
    service: str,
    node: str,
    compose: str,
    secrets_path: str,
    domains: list[str],
    port: int,
) -> dict[str, Any]:
    """The `[services.<service>]` values, in the order cluster.toml writes them."""
    secrets = scaffold.secrets(service)
    entry: dict[str, Any] = {
        "node": node,
        "compose": compose,
        "secrets_path": secrets_path,
        "secrets": secrets,
        "domains": domains,
        "port": port,
        "health": f"http://127.0.0.1:{port}{scaffold.health_path}",
    }
    if scaffold.database:
        ident = db_ident(service)
        entry["databases"] = [{"service": "db", "name": ident, "user": ident}]
    if scaffold.bearer:
        entry["bearer_token"] = secrets[0]
    return entry
