"""Inventory model: the default loads; every kind of bad input is one clear line with its key path."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from colab import inventory
from colab.errors import InventoryError

ROOT = Path(__file__).resolve().parents[2]
DELETE = object()


def default_data() -> dict[str, Any]:
    return tomllib.loads((ROOT / "cluster.toml").read_text())


def mutate(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = key.split(".")
    table = data
    for part in parents:
        table = table[part] if not part.isdigit() else table[int(part)]
    if value is DELETE:
        del table[last]
    else:
        table[last] = value
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(InventoryError) as info:
        inventory.from_dict(data, "cluster.toml")
    return info.value.problems


def test_default_inventory_describes_the_seed_cluster() -> None:
    inv = inventory.load(ROOT / "cluster.toml")
    assert list(inv.nodes) == ["cooperator", "director", "writer", "projector", "terminator"]
    assert str(inv.networks.lan) == "192.168.254.0/24"
    assert str(inv.networks.mesh) == "100.64.0.0/16"
    assert str(inv.nodes["cooperator"].mesh) == "100.64.0.1"
    assert inv.nodes["projector"].on_demand and inv.nodes["projector"].gpu
    assert inv.fortress.server == "cooperator"
    assert inv.fortress_mount(inv.nodes["cooperator"]) == "/srv/fortress"
    assert inv.fortress_mount(inv.nodes["director"]) == "/mnt/fortress"
    assert inv.fortress_mount(inv.nodes["terminator"]) == "/Volumes/fortress"
    assert inv.fortress.mounts.windows == "Z:"
    assert (inv.fortress.password_path, inv.fortress.users) == ("/samba", {"crtr": "COLAB_NAS_SAMBA_PASSWORD"})
    assert inv.fortress.group == "fortress"
    assert inv.fortress_login(inv.node("director")).password_name == "COLAB_NAS_SAMBA_PASSWORD"
    assert inv.fortress.folders == ["docker", "data", "cache"]
    assert inv.infisical.environment == "prod"
    assert (inv.backup.retention.daily, inv.backup.retention.weekly, inv.backup.retention.monthly) == (7, 4, 12)
    assert inv.backup.target == inv.raid.mount == "/mnt/backup"
    assert all(d.startswith("/dev/disk/by-id/") for d in inv.raid.disks)
    assert inv.services["gitea"].databases[0].name == "gitea"
    assert inv.node("writer").os == "wsl"


# (key path, new value, expected line) — the house pattern: input -> exact expected message.
REJECTIONS = [
    ("nodes.director.lann", "192.168.254.20", "nodes.director.lann: unknown key (typo?); allowed keys: arch,"),
    ("fortress.sever", "cooperator", "fortress.sever: unknown key (typo?)"),
    ("cluster.0\n", "x", 'cluster."0\\n": unknown key (typo?)'),  # a trailing newline is quoted too
    ("nodes.director.lan", "192.168.254.x", "nodes.director.lan: Input is not a valid IPv4 address"),
    ("networks.lan", "192.168.254.0/33", "networks.lan: "),
    ("nodes.director.mesh", "100.65.0.2", "nodes.director.mesh: 100.65.0.2 is outside the mesh network 100.64.0.0/16"),
    ("nodes.director.lan", "10.0.0.2", "nodes.director.lan: 10.0.0.2 is outside the LAN network 192.168.254.0/24"),
    ("networks.dns", "10.0.0.53", "networks.dns: 10.0.0.53 is outside the LAN 192.168.254.0/24"),
    ("nodes.writer.lan", "192.168.254.10", "nodes.writer.lan: 192.168.254.10 is already used by nodes.cooperator.lan"),
    ("nodes.writer.mesh", "100.64.0.1", "nodes.writer.mesh: 100.64.0.1 is already used by nodes.cooperator.mesh"),
    ("nodes.writer.lan", "192.168.254.255", "nodes.writer.lan: 192.168.254.255 is the network or broadcast address"),
    ("services.gitea.node", "nowhere", "services.gitea.node: 'nowhere' is not a node; known nodes: cooperator,"),
    ("services.gitea.requires", ["gpu"], "services.gitea.node: 'cooperator' has no GPU but the service requires one"),
    ("fortress.server", "ghost", "fortress.server: 'ghost' is not a node"),
    ("backup.node", "ghost", "backup.node: 'ghost' is not a node"),
    ("raid.node", "ghost", "raid.node: 'ghost' is not a node"),
    ("backup.retention.daily", 0, "backup.retention.daily: Input should be greater than or equal to 1 (got 0)"),
    ("backup.retention.monthly", -1, "backup.retention.monthly: Input should be greater than or equal to 1"),
    ("nodes.director.arch", "sparc", "nodes.director.arch: Input should be 'arm64' or 'amd64' (got 'sparc')"),
    ("nodes.director.os", "windows", "nodes.director.os: Input should be 'debian', 'wsl' or 'macos'"),
    ("nodes.director.gpu", "yes", "nodes.director.gpu: Input should be a valid boolean (got 'yes')"),
    ("nodes.director.repo", "colab", "nodes.director.repo: must be an absolute path, starting with '/'"),
    ("nodes.director.ssh_user", DELETE, "nodes.director.ssh_user: required key is missing"),
    ("nodes.director.name", "other", "nodes.director.name: not allowed, the table key is the name"),
    ("backup.schedule.daily", "25:00", "backup.schedule.daily: '25:00' is not a time of day as HH:MM (00:00 to 23:59)"),
    (
        "backup.schedule.weekly",
        "Sunday 4:00",
        "backup.schedule.weekly: 'Sunday 4:00' is not a day and time like 'Sun 04:00'",
    ),
    ("docker.log_max_size", "10MB", "docker.log_max_size: '10MB' is not a size like 10m (digits, then k, m or g)"),
    ("fortress.mounts.windows", "Z", "fortress.mounts.windows: 'Z' is not a drive letter like Z:"),
    (
        "docker.address_pools",
        [{"base": "192.168.0.0/16", "size": 24}],
        "docker.address_pools[0].base: 192.168.0.0/16 collides with networks.lan 192.168.254.0/24",
    ),
    (
        "docker.cluster_subnet",
        "100.64.5.0/24",
        "docker.cluster_subnet: 100.64.5.0/24 collides with the LAN or the mesh",
    ),
    ("networks.mesh", "192.168.0.0/16", "networks.mesh: 192.168.0.0/16 overlaps the LAN 192.168.254.0/24"),
    (
        "services.pihole.domains",
        ["git.ism.la"],
        "services.gitea.domains[0]: 'git.ism.la' is already routed by services.pihole.domains[0]",
    ),
    ("services.pihole.domains", ["not a domain"], "services.pihole.domains[0]: 'not a domain' is not a valid domain"),
    # a trailing newline would end the Caddyfile's site line and start a directive of the value's choosing
    ("services.pihole.domains", ["pi.ism.la\n"], "services.pihole.domains[0]: 'pi.ism.la\\n' is not a valid domain"),
    ("raid.disks", ["/dev/disk/by-id/a"], "raid.disks: List should have at least 2 items"),
    ("raid.level", 5, "raid.level: Input should be 1 (got 5)"),
    ("fortress.folders", ["docker", "docker"], "fortress.folders: a folder is listed twice"),
    ("nodes", {}, "nodes: Dictionary should have at least 1 item"),
    ("monitoring.textfile", "/x", "monitoring.textfile: unknown key (typo?); allowed keys: textfile_dir, status_every"),
    ("monitoring.textfile_dir", "metrics", "monitoring.textfile_dir: must be an absolute path, starting with '/'"),
    ("monitoring.status_every", 0, "monitoring.status_every: Input should be greater than or equal to 1 (got 0)"),
    ("monitoring.status_domain", "git.ism.la", "monitoring.status_domain: 'git.ism.la' is already routed by services."),
    (
        "monitoring.ntfy_url",
        "https://ntfy.sh/x?y=1",
        "monitoring.ntfy_url: 'https://ntfy.sh/x?y=1' is not an http(s)://",
    ),
    ("monitoring.email_to", "me@example.org", "monitoring.email_to: e-mail alerts need monitoring.email_from and"),
    # fortress users: one line naming the new keys for an inventory written before them
    ("fortress.user", "crtr", "fortress.user: replaced by fortress.group and [fortress.users] (each Samba user"),
    ("fortress.password_name", "X", "fortress.password_name: replaced by fortress.group and [fortress.users]"),
    ("fortress.users", {}, "fortress.users: Dictionary should have at least 1 item"),
    ("fortress.users", {"Crtr": "X"}, "fortress.users.Crtr: invalid name"),
    ("fortress.users", {"crtr": "bad name"}, "fortress.users.crtr: 'bad name' is not a name of letters, digits and"),
    (
        "fortress.users",
        {"crtr": "A", "ann": "A"},
        "fortress.users.ann: A is already the password of crtr; give each user its own",
    ),
    (
        "fortress.users",
        {"ann": "A"},
        "nodes.director.ssh_user: director mounts fortress as its own user 'crtr', which fortress.users does not list",
    ),
    ("fortress.group", "g" * 33, "fortress.group: 'ggggggggggggggggggggggggggggggggg' has more than 32 characters"),
    ("fortress.group", DELETE, "fortress.group: required key is missing"),
    # who reaches what through Caddy
    ("services.gitea.access", "open", "services.gitea.access: Input should be 'public' or 'private' (got 'open')"),
    ("services.infisical.private_paths", ["/api/*"], "services.infisical.private_paths: the whole site is private"),
    ("services.headscale.private_paths", ["api/*"], "services.headscale.private_paths[0]: 'api/*' is not a path"),
    ("services.headscale.private_paths", ["/a b"], "services.headscale.private_paths[0]: '/a b' is not a path pattern"),
    ("services.headscale.private_paths", ['/a"}'], "services.headscale.private_paths[0]: '/a\"}' is not a path"),
    ("services.mcp-files.bearer_token", "OTHER", "services.mcp-files.bearer_token: OTHER is not one of services.mcp"),
    ("services.mcp-files.bearer_token", "a b", "services.mcp-files.bearer_token: 'a b' is not a secret name"),
    ("services.caddy.secrets", [], "services.caddy.secrets: must list MCP_AUTH_TOKEN too: Caddy checks services.mcp"),
    ("services.mcp-files.domains", [], "services.mcp-files.bearer_token: the service has no domains"),
    (
        "routes",
        [{"domain": "mng.ism.la", "node": "writer", "port": 9090, "kind": "cockpit"}],
        "routes[0].kind: Cockpit runs on Debian nodes; writer runs wsl",
    ),
    (
        "routes",
        [{"domain": "mng.ism.la", "node": "cooperator", "port": 9091, "kind": "cockpit"}],
        "routes[0].port: Cockpit listens on 9090 (cockpit.socket; cockpit.conf cannot move it), not 9091",
    ),
    ("routes", [{"domain": "x.ism.la", "node": "cooperator", "port": 1, "kind": "ssh"}], "routes[0].kind: Input"),
]


@pytest.mark.parametrize(
    ("key", "value", "expected"), REJECTIONS, ids=[r[0] + "=" + repr(r[1])[:20] for r in REJECTIONS]
)
def test_rejection_names_key_path_and_problem(key: str, value: Any, expected: str) -> None:
    found = problems(mutate(default_data(), key, value))
    assert any(p.startswith(expected) for p in found), found
    assert all("\n" not in p for p in found)


def test_no_message_shows_a_regular_expression() -> None:
    """Every pattern has its plain description: a bad value of each patterned key names what it must look like."""
    from colab import inventory as model

    assert all(hint and "^" not in hint for hint in model._PATTERN_HINTS.values())
    found = problems(mutate(default_data(), "cluster.domain", "Not A Domain"))
    assert found == ["cluster.domain: 'Not A Domain' is not a domain like example.org"]


def test_without_a_caddy_a_bearer_token_cannot_be_checked() -> None:
    data = default_data()
    del data["services"]["caddy"]
    assert "services.mcp-files.bearer_token: no Caddy service (compose/caddy) to check it; add one or drop " \
        "bearer_token" in problems(data)  # fmt: skip


def test_the_default_access_is_private() -> None:
    inv = inventory.load(ROOT / "cluster.toml")
    assert {s.name: s.access for s in inv.services.values() if s.domains} == {
        "pihole": "private", "headscale": "public", "infisical": "private", "gitea": "public", "mcp-files": "private",
    }  # fmt: skip
    assert [(r.domain, r.access, r.kind) for r in inv.routes] == [("mng.ism.la", "private", "cockpit")]


def test_several_errors_are_reported_at_once() -> None:
    data = default_data()
    data = mutate(data, "nodes.director.mesh", "100.65.0.2")
    data = mutate(data, "services.gitea.node", "nowhere")
    data = mutate(data, "fortress.server", "ghost")
    found = problems(data)
    assert len(found) == 3
    structural = mutate(mutate(default_data(), "nodes.director.lann", "x"), "backup.retention.daily", 0)
    assert len(problems(structural)) == 2


def test_bad_toml_is_one_line_with_position() -> None:
    with pytest.raises(InventoryError) as info:
        inventory.parse("[nodes\nx = 1\n", "broken.toml")
    (line,) = str(info.value).splitlines()
    assert line.startswith("broken.toml: not valid TOML:") and "line 1" in line


def test_duplicate_table_is_rejected_by_the_parser() -> None:
    text = (ROOT / "cluster.toml").read_text() + "\n[nodes.director]\narch = 'amd64'\n"
    with pytest.raises(InventoryError, match="not valid TOML"):
        inventory.parse(text)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"pass --inventory PATH or set COLAB_INVENTORY"):
        inventory.load(tmp_path / "none.toml")


def test_env_var_chooses_the_inventory(monkeypatch: pytest.MonkeyPatch) -> None:
    other = ROOT / "tests/fixtures/inventories/other.toml"
    monkeypatch.setenv(inventory.ENV_INVENTORY, str(other))
    assert inventory.inventory_path() == other
    assert list(inventory.load().nodes) == ["hub", "studio", "forge"]
    assert inventory.inventory_path("x.toml") == Path("x.toml")


def test_load_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text((ROOT / "cluster.toml").read_text())
    assert inventory.load(path) is inventory.load(path)
    first = inventory.load(path)
    path.write_text(path.read_text().replace('domain = "ism.la"', 'domain = "example.org"'))
    assert inventory.load(path) is not first
    assert inventory.load(path).cluster.domain == "example.org"


def test_lookup_of_unknown_node_lists_known() -> None:
    inv = inventory.load(ROOT / "cluster.toml")
    with pytest.raises(InventoryError, match="unknown node 'nope'; known nodes: cooperator, director"):
        inv.node("nope")
    with pytest.raises(InventoryError, match="unknown service 'nope'; known services: caddy"):
        inv.service("nope")


@pytest.mark.parametrize("name", ["loopback.toml", "other.toml"])
def test_test_inventories_are_valid_and_on_loopback(name: str) -> None:
    inv = inventory.load(ROOT / "tests/fixtures/inventories" / name)
    assert all(addr.is_loopback for addr in inv.addresses())
