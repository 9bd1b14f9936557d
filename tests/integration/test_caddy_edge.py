"""The Caddyfile `inv render` writes, checked by the real Caddy: `caddy validate` and `caddy adapt`.

Caddy runs in a network namespace of its own (`unshare --net`, as root) so it can contact nothing; it never
needs to: validation provisions the config without obtaining certificates or dialing upstreams. `caddy adapt`
turns the Caddyfile into Caddy's JSON, from which every site's host and upstream are read back and compared
with the inventory.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from colab import inventory
from colab.render.tree import render_tree
from tests.conftest import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "compose" / "caddy" / "Caddyfile"
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"


def caddy(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    require_tool("caddy")
    argv = ["caddy", *args]
    if shutil.which("unshare") and os.geteuid() == 0:
        argv = ["unshare", "--net", *argv]  # no network at all
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def sites(adapted: dict[str, Any]) -> dict[str, list[str]]:
    """host -> upstream dials, from `caddy adapt` JSON (one subroute with a reverse_proxy per site)."""
    found: dict[str, list[str]] = {}
    for server in adapted["apps"]["http"]["servers"].values():
        for route in server["routes"]:
            hosts = [h for m in route.get("match", []) for h in m.get("host", [])]
            dials = [
                u["dial"]
                for h in route["handle"]
                for sub in h.get("routes", [])
                for hh in sub["handle"]
                if hh["handler"] == "reverse_proxy"
                for u in hh["upstreams"]
            ]
            for host in hosts:
                found[host] = dials
    return found


def rendered(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "Caddyfile"
    path.write_bytes(render_tree(inventory.from_dict(data))["compose/caddy/Caddyfile"])
    return path


def test_the_committed_caddyfile_is_valid_and_formatted(tmp_path: Path) -> None:
    res = caddy("validate", "--config", str(COMMITTED), "--adapter", "caddyfile", home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Valid configuration" in res.stdout + res.stderr
    assert "not formatted" not in res.stderr  # what `caddy fmt` would write
    adapted = caddy("adapt", "--config", str(COMMITTED), "--adapter", "caddyfile", home=tmp_path)
    assert adapted.returncode == 0, adapted.stderr
    config = json.loads(adapted.stdout)
    assert config["admin"]["listen"] == "localhost:2019"
    assert sites(config) == {
        "dns.ism.la": ["pihole:8053"],
        "git.ism.la": ["gitea:3000"],
        "hs.ism.la": ["headscale:8080"],
        "mcp.ism.la": ["mcp-files:8765"],
        "mng.ism.la": ["host.docker.internal:9090"],  # Cockpit on the host
        "status.ism.la": [],  # the status page: static files (tests/integration/test_status_page.py)
        "vault.ism.la": ["infisical:8088"],
    }


def test_a_service_on_another_node_is_proxied_over_the_mesh(tmp_path: Path) -> None:
    data = copy.deepcopy(tomllib.loads(LOOPBACK.read_text()))
    data["services"]["gitea"]["node"] = "director"
    data["routes"].append({"domain": "files.ism.la", "node": "writer", "port": 8080})
    path = rendered(tmp_path, data)
    assert caddy("validate", "--config", str(path), "--adapter", "caddyfile", home=tmp_path).returncode == 0
    adapted = json.loads(caddy("adapt", "--config", str(path), "--adapter", "caddyfile", home=tmp_path).stdout)
    found = sites(adapted)
    assert found["git.ism.la"] == ["127.0.20.2:3000"]  # director's mesh address
    assert found["files.ism.la"] == ["127.0.20.4:8080"]
    assert found["mng.ism.la"] == ["host.docker.internal:9090"]


def test_validation_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "Broken"
    broken.write_text(COMMITTED.read_text().replace("reverse_proxy gitea:3000", "reverse_proxi gitea:3000"))
    res = caddy("validate", "--config", str(broken), "--adapter", "caddyfile", home=tmp_path)
    assert res.returncode != 0 and "reverse_proxi" in res.stderr
