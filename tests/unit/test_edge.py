"""The edge files `inv render` writes: Caddyfile and its bearer-token names, Pi-hole records, Headscale ACL, and
Cockpit's cockpit.conf with the chezmoi script that installs it.

Inputs (the inventories in tests/fixtures and the default one, edited in memory) → exact expected files;
the ACL is parsed as HuJSON and may name only the inventory's nodes and mesh addresses; Pi-hole's records
are checked against the hosts format Pi-hole v5 reads (`IP name`, dnsmasq addn-hosts) and the inventory.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from colab import inventory
from colab.deploy import generated, sync
from colab.deploy.target import resolve
from colab.errors import RenderError
from colab.render import caddyfile, chezmoi_source, disk, edge
from colab.render.tree import render_tree

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "cluster.toml"
OTHER = ROOT / "tests" / "fixtures" / "inventories" / "other.toml"
EDGE_FILES = [
    "compose/caddy/Caddyfile",
    "compose/caddy/bearer-tokens.yaml",
    "compose/headscale/acl.hujson",
    "compose/pihole/custom.list",
]
# rendered into compose/ too, by the monitoring templates (tests/unit/monitoring)
MONITORING_FILES = [
    "compose/alertmanager/alertmanager.yml",
    "compose/prometheus/alerts.yml",
    "compose/prometheus/prometheus.yml",
]


def hujson(text: str) -> Any:
    """Standard JSON from HuJSON (JWCC): drop // and /* */ comments and trailing commas, outside strings."""
    out: list[str] = []
    i, n, in_str = 0, len(text), False
    while i < n:
        ch = text[i]
        if in_str:
            out.append(ch)
            if ch == "\\":
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
            out.append(ch)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        else:
            out.append(ch)
        i += 1
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", "".join(out)))


def data(path: Path) -> dict[str, Any]:
    return copy.deepcopy(tomllib.loads(path.read_text()))


def tree_of(d: dict[str, Any]) -> dict[str, bytes]:
    return render_tree(inventory.from_dict(d))


# --------------------------------------------------------------------------------------------- files


def test_render_writes_the_three_edge_files_of_the_default_cluster_as_committed() -> None:
    tree = render_tree(inventory.load(DEFAULT))
    assert [p for p in tree if p.startswith("compose/")] == sorted(EDGE_FILES + MONITORING_FILES)
    for path in EDGE_FILES:
        assert (ROOT / path).read_bytes() == tree[path], f"{path} is stale: run `inv render`"
    owned = [".chezmoiroot", "chezmoi", *sorted(EDGE_FILES + MONITORING_FILES), "docs/inventory.md", "mise.toml"]
    assert disk.owned() == owned


def test_the_caddyfile_is_caddyfile_py_output_for_the_node_running_caddy() -> None:
    inv = inventory.load(DEFAULT)
    text = render_tree(inv)["compose/caddy/Caddyfile"].decode()
    assert text == caddyfile.render(inv, "cooperator", "caddy")
    assert text.startswith("# Rendered by `inv render` from the inventory (services.caddy runs it)")
    # a route per service domain, Cockpit on mng.<domain> to the host
    assert re.findall(r"^(\S+) \{\n\tencode zstd gzip\n(?:\t.*\n)*?\treverse_proxy (\S+)\n\}$", text, re.M) == [
        ("dns.ism.la", "pihole:8053"),
        ("git.ism.la", "gitea:3000"),
        ("hs.ism.la", "headscale:8080"),
        ("mcp.ism.la", "mcp-files:8765"),
        ("mng.ism.la", "host.docker.internal:9090"),
        ("vault.ism.la", "infisical:8088"),
    ]


def test_pihole_records_exactly() -> None:
    text = render_tree(inventory.load(DEFAULT))["compose/pihole/custom.list"].decode()
    assert text == (
        "192.168.254.10 cooperator.colab.ism.la\n"
        "192.168.254.20 director.colab.ism.la\n"
        "192.168.254.40 writer.colab.ism.la\n"
        "192.168.254.70 projector.colab.ism.la\n"
        "192.168.254.60 terminator.colab.ism.la\n"
        "192.168.254.10 dns.ism.la\n"
        "192.168.254.10 git.ism.la\n"
        "192.168.254.10 hs.ism.la\n"
        "192.168.254.10 mcp.ism.la\n"
        "192.168.254.10 mng.ism.la\n"
        "192.168.254.10 status.ism.la\n"
        "192.168.254.10 vault.ism.la\n"
    )


_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@pytest.mark.parametrize("which", ["default", "with-remote-service"])
def test_pihole_records_are_v5_hosts_lines_naming_only_inventory_addresses(which: str) -> None:
    d = data(DEFAULT)
    if which == "with-remote-service":
        d["services"]["gitea"]["node"] = "director"
    inv = inventory.from_dict(d)
    lines = render_tree(inv)["compose/pihole/custom.list"].decode().splitlines()
    lans = {str(n.lan): n for n in inv.nodes.values()}
    names = []
    for line in lines:
        address, name = line.split(" ")  # exactly `IP name`: what Pi-hole's own page writes, one record a line
        assert ipaddress.ip_address(address).version == 4 and address in lans, line
        assert _NAME.match(name), line
        names.append(name)
    assert len(names) == len(set(names))
    domains = {d for s in inv.services.values() for d in s.domains} | {r.domain for r in inv.routes}
    domains.add(inv.monitoring.status_domain if inv.monitoring else "")
    assert set(names) == {f"{n}.colab.ism.la" for n in inv.nodes} | domains
    # every domain is served by Caddy: it points at Caddy's node, wherever the service runs
    caddy_lan = str(inv.node(inv.service("caddy").node).lan)
    assert {line.split()[0] for line in lines if line.split()[1] in domains} == {caddy_lan}


def test_without_caddy_a_domain_points_at_its_own_node() -> None:
    inv = inventory.load(OTHER)
    assert [(r.address, r.name, r.source) for r in edge.dns_records(inv)] == [
        ("127.0.30.5", "hub.homelab.lab.example", "nodes.hub"),
        ("127.0.30.6", "studio.homelab.lab.example", "nodes.studio"),
        ("127.0.30.7", "forge.homelab.lab.example", "nodes.forge"),
        ("127.0.30.5", "code.lab.example", "services.forgejo"),
    ]


def test_an_inventory_without_edge_services_gets_no_edge_files_and_stale_ones_go(tmp_path: Path) -> None:
    assert not [p for p in render_tree(inventory.load(OTHER)) if p.startswith("compose/")]
    # the repo's compose folders hold the deploy's own files: render replaces only its single files
    for folder in ("caddy", "pihole", "headscale"):
        (tmp_path / "compose" / folder).mkdir(parents=True)
        (tmp_path / "compose" / folder / "compose.yaml").write_text("services: {}\n")
    tops = disk.owned()
    default = render_tree(inventory.load(DEFAULT))
    assert disk.write_tree(default, tmp_path, tops) == sorted(default)
    assert disk.check_tree(default, tmp_path, tops) == ""
    assert disk.write_tree(default, tmp_path, tops) == []
    other = render_tree(inventory.load(OTHER))
    diff = disk.check_tree(other, tmp_path, tops)
    assert "--- a/compose/pihole/custom.list\n+++ /dev/null\n" in diff
    disk.write_tree(other, tmp_path, tops)
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "compose").rglob("*") if p.is_file()) == [
        "compose/caddy/compose.yaml",
        "compose/headscale/compose.yaml",
        "compose/pihole/compose.yaml",
    ]
    assert disk.check_tree(other, tmp_path, tops) == ""


def test_edge_files_are_written_where_no_compose_folder_exists_yet(tmp_path: Path) -> None:
    tree = render_tree(inventory.load(DEFAULT))
    disk.write_tree(tree, tmp_path / "out", disk.owned())
    assert (tmp_path / "out/compose/headscale/acl.hujson").read_bytes() == tree["compose/headscale/acl.hujson"]


def test_only_a_changed_edge_file_is_replaced(tmp_path: Path) -> None:
    tops = disk.owned()
    d = data(DEFAULT)
    disk.write_tree(tree_of(d), tmp_path, tops)
    before = {p: (tmp_path / p).stat().st_ino for p in EDGE_FILES}
    d["routes"][0]["access"] = "public"
    changed = disk.write_tree(tree_of(d), tmp_path, tops)
    assert changed == ["compose/caddy/Caddyfile"]  # a route's access: only the Caddyfile says it
    after = {p: (tmp_path / p).stat().st_ino for p in EDGE_FILES}
    assert [p for p in EDGE_FILES if before[p] != after[p]] == ["compose/caddy/Caddyfile"]


def test_two_services_sharing_the_caddy_folder_are_refused() -> None:
    d = data(DEFAULT)
    d["services"]["caddy2"] = {**d["services"]["caddy"]}
    with pytest.raises(RenderError, match=r"services.caddy, services.caddy2 share the compose folder compose/caddy"):
        tree_of(d)


def test_a_name_on_two_addresses_is_refused() -> None:
    d = data(DEFAULT)
    d["services"]["gitea"]["domains"] = ["director.colab.ism.la"]  # a node's name, on Caddy's address
    with pytest.raises(RenderError, match=r"director.colab.ism.la would resolve to 192.168.254.10 and"):
        tree_of(d)


# ----------------------------------------------------------------------------------------- headscale


def policy_of(d: dict[str, Any]) -> Any:
    return hujson(tree_of(d)["compose/headscale/acl.hujson"].decode())


def _aliases(entries: list[str], dst: bool) -> set[str]:
    return {e.rsplit(":", 1)[0] if dst else e for e in entries}


@pytest.mark.parametrize("which", ["default", "caddy-upstream-elsewhere", "ssh-port", "no-admin"])
def test_acl_parses_and_names_only_inventory_nodes(which: str) -> None:
    d = data(DEFAULT)
    if which == "caddy-upstream-elsewhere":
        d["services"]["gitea"]["node"] = "director"
    elif which == "ssh-port":
        d["nodes"]["writer"]["ssh_port"] = 2222
    elif which == "no-admin":
        d["nodes"]["terminator"]["roles"] = ["workstation"]
    inv = inventory.from_dict(d)
    policy = policy_of(d)
    assert set(policy) == {"hosts", "acls"}
    assert policy["hosts"] == {n: f"{node.mesh}/32" for n, node in inv.nodes.items()}
    for prefix in policy["hosts"].values():
        assert ipaddress.ip_network(prefix).subnet_of(inv.networks.mesh)  # type: ignore[arg-type]
    for rule in policy["acls"]:
        assert set(rule) == {"action", "src", "dst"} and rule["action"] == "accept"
        assert _aliases(rule["src"], dst=False) <= set(inv.nodes)
        for entry in rule["dst"]:
            host, ports = entry.rsplit(":", 1)
            assert host in inv.nodes or entry == "*:*", entry
            assert all(p == "*" or 0 < int(p) < 65536 for p in ports.split(",")), entry


def test_acl_rules_exactly() -> None:
    d = data(DEFAULT)
    d["services"]["gitea"]["node"] = "director"
    d["nodes"]["writer"]["ssh_port"] = 2222
    everyone = ["cooperator", "director", "writer", "projector", "terminator"]
    assert policy_of(d)["acls"] == [
        {
            "action": "accept",
            "src": everyone,
            "dst": ["cooperator:22", "director:22", "writer:2222", "projector:22", "terminator:22"],
        },
        {"action": "accept", "src": everyone, "dst": ["cooperator:445"]},
        {"action": "accept", "src": everyone, "dst": ["cooperator:53"]},
        {"action": "accept", "src": everyone, "dst": ["cooperator:80,443"]},
        {"action": "accept", "src": ["cooperator"], "dst": ["director:3000"]},  # Caddy → gitea on director
        {"action": "accept", "src": ["cooperator"], "dst": ["director:9100"]},  # Prometheus → node-exporter
        {"action": "accept", "src": ["terminator"], "dst": ["*:*"]},  # the admin workstation
    ]


def test_acl_of_the_committed_file_explains_every_rule() -> None:
    text = (ROOT / "compose/headscale/acl.hujson").read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith('{"action"'):
            assert lines[i - 1].strip().startswith("// "), line  # each rule says why it is there
    assert "192.168.254." not in text  # the mesh only


# ------------------------------------------------------------------------- where the services read them


def compose_lines(folder: str) -> list[str]:
    return [line.strip() for line in (ROOT / "compose" / folder / "compose.yaml").read_text().splitlines()]


def test_each_service_mounts_its_rendered_file() -> None:
    assert "- ./Caddyfile:/etc/caddy/Caddyfile:ro" in compose_lines("caddy")
    assert "- ./custom.list:/etc/pihole/custom.list" in compose_lines("pihole")  # Pi-hole v5's local records
    assert f"- ./acl.hujson:{generated.ACL_PATH}:ro" in compose_lines("headscale")
    for folder in ("caddy", "pihole", "headscale"):  # a new file recreates the container
        assert "org.colab.files: ${COLAB_FILES_HASH:?set by inv deploy}" in compose_lines(folder), folder


def test_deploy_ships_the_rendered_files_and_points_headscale_at_the_policy() -> None:
    inv = inventory.load(DEFAULT)
    for name, file in (("caddy", "Caddyfile"), ("pihole", "custom.list"), ("headscale", "acl.hujson")):
        target = resolve(inv, name, here="cooperator", dry_run=True)
        files = {f.path: f.content for f in sync.collect(target, generated.render(inv, target))}
        assert files[file] == (ROOT / "compose" / name / file).read_bytes(), name
    target = resolve(inv, "headscale", here="cooperator", dry_run=True)
    config = json.loads(generated.render(inv, target)["config.yaml"].split("\n", 1)[1])
    assert config["policy"] == {"mode": "file", "path": generated.ACL_PATH}


# ------------------------------------------------------------------------------------ bearer tokens


def test_caddy_gets_the_token_names_and_no_value() -> None:
    text = render_tree(inventory.load(DEFAULT))["compose/caddy/bearer-tokens.yaml"].decode()
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == [
        "services:",
        "  caddy:",
        "    environment:",
        "      MCP_AUTH_TOKEN: ${MCP_AUTH_TOKEN:?MCP_AUTH_TOKEN must come from Infisical (services.caddy.secrets)}",
    ]
    d = data(DEFAULT)
    del d["services"]["mcp-files"]["bearer_token"]
    text = tree_of(d)["compose/caddy/bearer-tokens.yaml"].decode()
    assert [line for line in text.splitlines() if not line.startswith("#")] == ["services:", "  caddy: {}"]


# ------------------------------------------------------------------------------------------ Cockpit

COCKPIT_CONF = ".config/colab/cockpit/cockpit.conf"
COCKPIT_SCRIPT = "run_onchange_after_40-cockpit.sh"


def test_cockpit_conf_for_the_node_behind_mng() -> None:
    tree = render_tree(inventory.load(DEFAULT))
    files = chezmoi_source.node_files(tree, "cooperator")
    assert files["dot_config/colab/cockpit/cockpit.conf"].decode().splitlines()[2:] == [
        "[WebService]",
        "Origins = https://mng.ism.la wss://mng.ism.la",
        "ProtocolHeader = X-Forwarded-Proto",
        "ForwardedForHeader = X-Forwarded-For",
        "AllowUnencrypted = true",
    ]
    assert COCKPIT_SCRIPT in files
    for node in ("director", "writer", "projector", "terminator"):  # no Cockpit route goes there
        assert COCKPIT_CONF not in chezmoi_source.node_targets(tree, node)
        ignored = tree[f"chezmoi/.nodes/{node}.chezmoiignore"].decode().splitlines()
        assert COCKPIT_SCRIPT.removeprefix("run_onchange_after_") in ignored


def test_every_cockpit_name_of_a_node_is_an_origin_and_plain_routes_are_not() -> None:
    d = data(DEFAULT)
    d["routes"].append({"domain": "admin.ism.la", "node": "cooperator", "port": 9090, "kind": "cockpit"})
    d["routes"].append({"domain": "files.ism.la", "node": "director", "port": 8080})
    inv = inventory.from_dict(d)
    conf = edge.cockpit_conf(inv, inv.node("cooperator"))
    assert "Origins = https://admin.ism.la wss://admin.ism.la https://mng.ism.la wss://mng.ism.la\n" in conf
    assert edge.cockpit_conf(inv, inv.node("director")) == ""


def write_exe(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def run_cockpit_script(tmp_path: Path, uid: str, existing: str | None = None) -> tuple[int, str, str]:
    """The chezmoi script for cooperator, with `install`, `cp` and `systemctl` recording what they were asked."""
    tree = render_tree(inventory.load(DEFAULT))
    home = tmp_path / "home"
    for source, body in chezmoi_source.node_files(tree, "cooperator").items():
        target = home / chezmoi_source.target_path(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    fake, log = tmp_path / "bin", tmp_path / "log"
    script = chezmoi_source.node_files(tree, "cooperator")[COCKPIT_SCRIPT].decode()
    dst = tmp_path / "etc-cockpit.conf"
    if existing is not None:
        dst.write_text(existing)
    script = script.replace("dst=/etc/cockpit/cockpit.conf", f"dst={dst}")  # the one line a test must move
    assert str(dst) in script
    write_exe(fake / "id", f"#!/bin/sh\necho {uid}\n")
    write_exe(fake / "sudo", "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    for tool in ("install", "cp", "systemctl"):
        write_exe(fake / tool, f'#!/bin/sh\necho "{tool} $*" >> {log}\n')
    proc = subprocess.run(
        ["sh", "-c", script],
        env={"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(home), "CHEZMOI_DEST_DIR": str(home)},
        capture_output=True,
        text=True,
        timeout=20,
    )
    return proc.returncode, proc.stdout, log.read_text() if log.exists() else ""


def test_the_cockpit_script_installs_the_file_and_keeps_a_hand_made_one(tmp_path: Path) -> None:
    src = tmp_path / "home" / COCKPIT_CONF
    dst = tmp_path / "etc-cockpit.conf"
    rc, out, log = run_cockpit_script(tmp_path, uid="0", existing="[WebService]\nLoginTitle = mine\n")
    assert rc == 0, out
    assert log.splitlines()[:2] == [f"cp -p {dst} {dst}.colab-before", f"install -D -m 0644 {src} {dst}"]
    assert out.splitlines()[:2] == [f"colab: kept the previous {dst} as {dst}.colab-before", f"colab: installed {dst}"]
    # a file this script installed before is replaced without a copy
    rc, out, log = run_cockpit_script(tmp_path / "again", uid="0", existing=edge.COCKPIT_MARKER + " (old)\n")
    assert rc == 0 and "cp -p" not in log and "install -D -m 0644" in log


def test_without_root_the_cockpit_script_says_what_to_run(tmp_path: Path) -> None:
    rc, out, log = run_cockpit_script(tmp_path, uid="1000")
    src, dst = tmp_path / "home" / COCKPIT_CONF, tmp_path / "etc-cockpit.conf"
    assert (rc, log) == (0, "")
    assert out == (
        "colab: not root, no passwordless sudo; to finish, run: "
        f"sudo install -D -m 0644 {src} {dst} && sudo systemctl try-restart cockpit.service\n"
    )
