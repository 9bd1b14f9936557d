"""Caddy's routes come from the inventory: local services by alias, other nodes by mesh, the host by name."""

from __future__ import annotations

from pathlib import Path

from colab import caddyfile, inventory

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")


def test_routes_for_a_caddy_on_cooperator() -> None:
    got = [(s.domain, s.upstream, s.source) for s in caddyfile.sites(INV, "cooperator")]
    assert got == [
        ("dns.ism.la", "pihole:8053", "services.pihole"),
        ("git.ism.la", "gitea:3000", "services.gitea"),
        ("hs.ism.la", "headscale:8080", "services.headscale"),
        ("mcp.ism.la", "mcp-files:8765", "services.mcp-files"),
        ("mng.ism.la", "host.docker.internal:9090", "routes[0]"),
        ("status.ism.la", "", "monitoring.status_domain"),  # a static site: the status page
        ("vault.ism.la", "infisical:8088", "services.infisical"),
    ]


def test_a_caddy_on_another_node_reaches_everything_through_the_mesh() -> None:
    upstreams = {s.domain: s.upstream for s in caddyfile.sites(INV, "director")}
    assert upstreams["git.ism.la"] == "100.64.0.1:3000"
    assert upstreams["mng.ism.la"] == "100.64.0.1:9090"


def test_rendered_file_has_one_site_block_per_domain() -> None:
    text = caddyfile.render(INV, "cooperator")
    assert text.startswith("# Rendered by `inv render` from the inventory (services.caddy runs it)")
    assert "{\n\tadmin localhost:2019\n}\n" in text
    assert "git.ism.la {\n\tencode zstd gzip\n\treverse_proxy gitea:3000\n}\n" in text
    assert text.count(" {\n") == 7  # seven site blocks (the global options block starts its line)
    assert (
        "status.ism.la {\n\tencode zstd gzip\n"
        "\t@outside not remote_ip 127.0.0.0/8 192.168.254.0/24 100.64.0.0/16 172.30.0.0/24 172.31.0.0/16\n"
        "\trespond @outside 403\n\troot * /srv/status\n\tfile_server\n}\n"
    ) in text
    other = inventory.load(ROOT / "tests/fixtures/inventories/other.toml")
    assert "code.lab.example {\n\tencode zstd gzip\n\treverse_proxy forgejo:3000\n}" in caddyfile.render(other, "hub")
