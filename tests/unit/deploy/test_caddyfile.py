"""Caddy's routes come from the inventory: local services by alias, other nodes by mesh, the host by name; each
site's access (public / private / private paths), its bearer token and its headers, as exact blocks."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

from colab import inventory
from colab.render import caddyfile

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")
RANGES = "127.0.0.0/8 192.168.254.0/24 100.64.0.0/16 172.30.0.0/24 172.31.0.0/16"
HEADERS_PRIVATE = (
    "\theader {\n\t\tdefer\n\t\tX-Content-Type-Options nosniff\n"
    "\t\t?Referrer-Policy strict-origin-when-cross-origin\n\t\t?X-Frame-Options SAMEORIGIN\n\t}\n"
)
HEADERS_PUBLIC = HEADERS_PRIVATE.replace("\t\tdefer\n", '\t\tdefer\n\t\tStrict-Transport-Security "max-age=31536000"\n')
FORBID = f'\t@outside not remote_ip {RANGES}\n\trespond @outside "{caddyfile.FORBIDDEN}" 403\n'


def default_data() -> dict[str, Any]:
    return copy.deepcopy(tomllib.loads((ROOT / "cluster.toml").read_text()))


def test_routes_for_a_caddy_on_cooperator() -> None:
    got = [(s.domain, s.upstream, s.source, s.access) for s in caddyfile.sites(INV, "cooperator")]
    assert got == [
        ("dns.ism.la", "pihole:8053", "services.pihole", "private"),
        ("git.ism.la", "gitea:3000", "services.gitea", "public"),
        ("hs.ism.la", "headscale:8080", "services.headscale", "public"),
        ("mcp.ism.la", "mcp-files:8765", "services.mcp-files", "private"),
        ("mng.ism.la", "host.docker.internal:9090", "routes[0]", "private"),
        ("status.ism.la", "", "monitoring.status_domain", "private"),  # a static site: the status page
        ("vault.ism.la", "infisical:8088", "services.infisical", "private"),
    ]


def test_a_caddy_on_another_node_reaches_everything_through_the_mesh() -> None:
    upstreams = {s.domain: s.upstream for s in caddyfile.sites(INV, "director")}
    assert upstreams["git.ism.la"] == "100.64.0.1:3000"
    assert upstreams["mng.ism.la"] == "100.64.0.1:9090"


def test_rendered_file_has_one_site_block_per_domain() -> None:
    text = caddyfile.render(INV, "cooperator")
    assert text.startswith("# Rendered by `inv render` from the inventory (services.caddy runs it)")
    assert "{\n\tadmin localhost:2019\n}\n" in text
    sites = re.findall(r"^(\S+) \{$", text, re.M)  # a site block starts at the line's start
    assert sites == [f"{name}.ism.la" for name in ("dns", "git", "hs", "mcp", "mng", "status", "vault")]
    assert text.count("\theader {\n") == len(sites)  # every site gets the headers
    other = inventory.load(ROOT / "tests/fixtures/inventories/other.toml")
    assert f"code.lab.example {{\n\tencode zstd gzip\n{HEADERS_PRIVATE}" in caddyfile.render(other, "hub")


def test_a_public_site_gets_hsts_and_answers_everyone() -> None:
    text = caddyfile.render(INV, "cooperator")
    block = f"git.ism.la {{\n\tencode zstd gzip\n{HEADERS_PUBLIC}\treverse_proxy gitea:3000\n}}\n"
    assert f"# services.gitea: public\n{block}" in text


def test_a_private_site_answers_403_outside_the_lan_the_mesh_and_the_host() -> None:
    text = caddyfile.render(INV, "cooperator")
    assert (
        f"# services.infisical: private\nvault.ism.la {{\n\tencode zstd gzip\n{HEADERS_PRIVATE}{FORBID}"
        "\treverse_proxy infisical:8088\n}\n"
    ) in text
    assert (  # Cockpit: private too, no HSTS (its own headers win where it sets them: `?`)
        f"# routes[0]: private\nmng.ism.la {{\n\tencode zstd gzip\n{HEADERS_PRIVATE}{FORBID}"
        "\treverse_proxy host.docker.internal:9090\n}\n"
    ) in text
    assert (
        f"status.ism.la {{\n\tencode zstd gzip\n{HEADERS_PRIVATE}{FORBID}\troot * /srv/status\n\tfile_server\n}}\n"
    ) in text


def test_a_public_site_keeps_its_private_paths_private() -> None:
    text = caddyfile.render(INV, "cooperator")
    assert (
        f"# services.headscale: public (private: /api/*)\nhs.ism.la {{\n\tencode zstd gzip\n{HEADERS_PUBLIC}"
        f"\t@outside {{\n\t\tpath /api/*\n\t\tnot remote_ip {RANGES}\n\t}}\n"
        f'\trespond @outside "{caddyfile.FORBIDDEN}" 403\n\treverse_proxy headscale:8080\n}}\n'
    ) in text


def test_the_bearer_token_is_named_never_written() -> None:
    text = caddyfile.render(INV, "cooperator")
    assert (
        "# services.mcp-files: private, bearer token MCP_AUTH_TOKEN\n"
        f"mcp.ism.la {{\n\tencode zstd gzip\n{HEADERS_PRIVATE}{FORBID}"
        "\t@unauthorized {\n\t\tnot {\n"
        '\t\t\theader Authorization "Bearer {env.MCP_AUTH_TOKEN}"\n'
        '\t\t\texpression `{env.MCP_AUTH_TOKEN}.matches("^[A-Za-z0-9._~+/-]{16,}=*$")`\n'
        "\t\t}\n\t}\n"
        "\theader @unauthorized WWW-Authenticate Bearer\n"
        f'\trespond @unauthorized "{caddyfile.UNAUTHORIZED}" 401\n'
        "\treverse_proxy mcp-files:8765\n}\n"
    ) in text
    assert caddyfile.bearer_tokens(INV) == ["MCP_AUTH_TOKEN"]


def test_access_follows_the_inventory() -> None:
    d = default_data()
    d["services"]["gitea"]["access"] = "private"
    d["routes"][0]["access"] = "public"
    d["services"]["headscale"]["private_paths"] = ["/api/*", "/metrics"]
    inv = inventory.from_dict(d)
    text = caddyfile.render(inv, "cooperator")
    assert f"git.ism.la {{\n\tencode zstd gzip\n{HEADERS_PRIVATE}{FORBID}\treverse_proxy gitea:3000\n}}" in text
    assert f"mng.ism.la {{\n\tencode zstd gzip\n{HEADERS_PUBLIC}\treverse_proxy host.docker.internal:9090\n}}" in text
    assert "\t\tpath /api/* /metrics\n" in text


def test_no_bearer_tokens_without_a_service_that_has_one() -> None:
    d = default_data()
    del d["services"]["mcp-files"]["bearer_token"]
    inv = inventory.from_dict(d)
    assert caddyfile.bearer_tokens(inv) == []
    assert "@unauthorized" not in caddyfile.render(inv, "cooperator")
