"""render: inventory -> chezmoi source tree and mise.toml. Fixture-driven: inventory in, expected files out."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tasks.render
from invoke import Context
from invoke.exceptions import Exit

from colab import inventory, node_facts, quoting
from colab.errors import RenderError
from colab.render import chezmoi_source, disk, mise_tasks
from colab.render import tree as render_tree_module
from colab.render.tree import render_tree
from tests.harness.inv import run_inv

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = {
    "default": ROOT / "cluster.toml",
    "other": ROOT / "tests" / "fixtures" / "inventories" / "other.toml",
}

# ---------------------------------------------------------------- expected per-node targets (the fixture)
# Targets relative to the node's home; scripts by the name chezmoi gives them (prefixes dropped).
BASH, ZSH = ".bashrc", ".zshrc"
ENV, MISE, MISE_NODE = ".config/colab/env.sh", ".config/mise/config.toml", ".config/mise/conf.d/colab-node.toml"
DOCKER_STAGED, DOCKER_MAC = ".config/colab/docker/daemon.json", ".docker/daemon.json"
# The boot mount (colab.storage.boot): the mount unit, the unit and script that fetch the password at boot.
UNITS = [
    ".config/colab/fortress/fortress.mount",
    ".config/colab/fortress/fortress-password.service",
    ".config/colab/fortress/fortress-password.sh",
]
DOCKER_DROPIN = ".config/colab/docker/fortress.conf"  # Docker Engine waits for fortress (Debian nodes)
SMBD_DROPIN = ".config/colab/fortress/smbd-fortress.conf"  # the server: smbd waits for fortress
WSL_MOUNT = ".config/colab/fortress/mount-fortress.sh"
AGENT = "Library/LaunchAgents/colab.fortress.plist"
CRON = ".config/colab/backup/colab-backup.cron"
SCRIPT = "/opt/colab/current/scripts/backup-cron"
STATUS_CRON = ".config/colab/monitoring/colab-status.cron"
COCKPIT, S_COCKPIT = ".config/colab/cockpit/cockpit.conf", "40-cockpit.sh"
S_DOCKER, S_DESKTOP, S_UNITS, S_AGENT, S_CRON, S_MONITORING = (
    "10-docker-daemon.sh",
    "10-docker-desktop.sh",
    "20-fortress-units.sh",
    "20-fortress-agent.sh",
    "30-backup-cron.sh",
    "31-monitoring.sh",
)
S_SERVER = "20-fortress-server.sh"
SERVER = [DOCKER_DROPIN, SMBD_DROPIN, S_SERVER]  # the server's drop-ins (its mount unit: inv fortress.share)
LINUX = [BASH, ENV, MISE, MISE_NODE, DOCKER_STAGED, S_DOCKER]
# WSL: the Linux side mounts fortress with the same units as Debian; Docker is Docker Desktop on Windows.
WSL = [BASH, ENV, MISE, MISE_NODE, DOCKER_STAGED, S_DESKTOP, *UNITS, S_UNITS, WSL_MOUNT]
MACOS = [ZSH, ENV, MISE, MISE_NODE, DOCKER_MAC, AGENT, S_AGENT]

EXPECTED_TARGETS: dict[str, dict[str, list[str]]] = {
    "default": {
        # fortress server (its drop-ins), backup node, Prometheus's node (the status export), Cockpit behind Caddy
        "cooperator": [*LINUX, *SERVER, CRON, S_CRON, STATUS_CRON, S_MONITORING, COCKPIT, S_COCKPIT],
        "director": [*LINUX, *UNITS, DOCKER_DROPIN, S_UNITS, S_MONITORING],  # node-exporter: its textfile directory
        "writer": WSL,
        "projector": WSL,
        "terminator": MACOS,
    },
    "other": {
        "hub": [*LINUX, *SERVER],  # fortress server
        "studio": MACOS,
        "forge": [*LINUX, *UNITS, DOCKER_DROPIN, S_UNITS, CRON, S_CRON],  # fortress client and backup node
    },
}

SERVICES = {
    "default": [
        *("caddy", "pihole", "headscale", "infisical", "gitea", "gitea-runner", "mcp-files", "prometheus"),
        "alertmanager",
        *("node-exporter-cooperator", "node-exporter-director"),
    ],
    "other": ["forgejo", "llm"],
}
BACKUP_NODE = {"default": "cooperator", "other": "forge"}
EVERY_NODE_TASKS = ["bootstrap", "fortress:mount", "fortress:status", "status"]
BACKUP_TASKS = ["backup:check", "backup:daily", "backup:prune", "backup:status", "backup:weekly"]


@pytest.fixture(scope="module", params=sorted(INVENTORIES))
def case(request: pytest.FixtureRequest) -> tuple[str, inventory.Inventory, dict[str, bytes]]:
    inv = inventory.load(INVENTORIES[request.param])
    return request.param, inv, render_tree(inv)


def text(tree: dict[str, bytes], path: str) -> str:
    return tree[path].decode()


def node_file(tree: dict[str, bytes], node: str, source: str) -> str:
    return text(tree, f"chezmoi/.nodes/{node}/{source}")


# ------------------------------------------------------------------------------------ pure helpers


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("dot_config/mise/config.toml.tmpl", ".config/mise/config.toml"),
        ("dot_config/colab/fortress/executable_mount-fortress.sh", ".config/colab/fortress/mount-fortress.sh"),
        ("private_dot_ssh/private_readonly_config.tmpl", ".ssh/config"),
        ("exact_dot_local/bin/executable_dot_x", ".local/bin/.x"),
        ("modify_dot_bashrc.tmpl", ".bashrc"),
        ("run_onchange_after_10-docker-daemon.sh.tmpl", "10-docker-daemon.sh"),
        ("run_once_before_a.sh", "a.sh"),
        ("Library/LaunchAgents/colab.fortress.plist", "Library/LaunchAgents/colab.fortress.plist"),
        ("literal_dot_keep", "dot_keep"),
    ],
)
def test_target_path_follows_chezmoi_naming(source: str, target: str) -> None:
    assert chezmoi_source.target_path(source) == target


@pytest.mark.parametrize(
    ("kept", "everything", "hidden"),
    [
        (["a/b/x"], ["a/b/x", "a/b/y", "a/c/z", "top"], ["a/b/y", "a/c", "top"]),
        ([], ["a/b/x", "c"], ["a", "c"]),
        (["a/x", "c"], ["a/x", "c"], []),
    ],
)
def test_ignored_hides_the_rest_with_the_fewest_patterns(
    kept: list[str], everything: list[str], hidden: list[str]
) -> None:
    assert chezmoi_source.ignored(kept, everything) == hidden


def test_ignored_refuses_glob_characters() -> None:
    with pytest.raises(ValueError, match="glob"):
        chezmoi_source.ignored([], ["a[1]"])


@pytest.mark.parametrize(
    "path", ["/mnt/fortress", "/media/crtr/fortress", "/mnt/my share", "/srv/vault.d/x-y", "/mnt//a/", "/"]
)
def test_systemd_escape_path_matches_systemd_escape(path: str) -> None:
    expected = {
        "/mnt/fortress": "mnt-fortress",
        "/media/crtr/fortress": "media-crtr-fortress",
        "/mnt/my share": "mnt-my\\x20share",
        "/srv/vault.d/x-y": "srv-vault.d-x\\x2dy",
        "/mnt//a/": "mnt-a",
        "/": "-",
    }[path]
    assert quoting.systemd_escape_path(path) == expected
    tool = shutil.which("systemd-escape")
    if tool:  # the real one agrees
        assert subprocess.run([tool, "--path", path], capture_output=True, text=True).stdout.strip() == expected


@pytest.mark.parametrize(
    ("when", "cron"), [("03:15", "15 3 * * *"), ("Sun 04:30", "30 4 * * 0"), ("Sat 02:00", "0 2 * * 6")]
)
def test_cron_time(when: str, cron: str) -> None:
    assert node_facts.cron_time(when) == cron


# --------------------------------------------------------------------------------- what each node gets


def test_each_node_gets_exactly_its_files(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    name, inv, tree = case
    assert list(inv.nodes) == list(EXPECTED_TARGETS[name])
    for node, expected in EXPECTED_TARGETS[name].items():
        assert chezmoi_source.node_targets(tree, node) == sorted(expected), node


def test_ignore_list_hides_everything_else(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    name, inv, tree = case
    everything = chezmoi_source.all_targets(tree)
    for node in inv.nodes:
        patterns = [line for line in text(tree, f"chezmoi/.nodes/{node}.chezmoiignore").splitlines() if line[:1] != "#"]
        kept = set(EXPECTED_TARGETS[name][node])
        for target in everything:
            hidden = any(target == p or target.startswith(p + "/") for p in patterns)
            assert hidden == (target not in kept), (node, target)


def test_every_per_node_file_has_its_one_line_template(
    case: tuple[str, inventory.Inventory, dict[str, bytes]],
) -> None:
    _, inv, tree = case
    sources = {src for node in inv.nodes for src in chezmoi_source.node_files(tree, node)}
    wrappers = {p.removeprefix("chezmoi/").removesuffix(".tmpl") for p in tree if p.endswith(".tmpl")}
    assert wrappers - {".chezmoi.toml"} == sources
    for src in sources:
        body = text(tree, f"chezmoi/{src}.tmpl")
        assert f'include (printf ".nodes/%s/{src}" .node)' in body


def test_known_nodes_and_chezmoiroot(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    _, inv, tree = case
    assert text(tree, "chezmoi/.nodes/known.txt").split() == list(inv.nodes)
    assert tree[".chezmoiroot"] == b"chezmoi\n"
    config = text(tree, "chezmoi/.chezmoi.toml.tmpl")
    assert 'env "COLAB_NODE"' in config and 'output "hostname"' in config and "fail" in config
    assert "prompt" not in config  # asks nothing


def test_checkouts_name_each_nodes_repo_for_the_chezmoi_config(
    case: tuple[str, inventory.Inventory, dict[str, bytes]],
) -> None:
    """`.chezmoi.toml.tmpl` reads where each node's checkout is: it must be chezmoi's source (sourceDir)."""
    _, inv, tree = case
    checkouts = tomllib.loads(text(tree, "chezmoi/.nodes/checkouts.toml"))
    assert checkouts == {"url": inv.cluster.repo_url, "checkout": {n: node.repo for n, node in inv.nodes.items()}}
    config = text(tree, "chezmoi/.chezmoi.toml.tmpl")
    assert 'include ".nodes/checkouts.toml" | fromToml' in config
    assert "sourceDir = {{ $tree | quote }}" in config and "$tree := .chezmoi.workingTree" in config
    assert "chezmoi init --apply --source %s %s" in config


# ------------------------------------------------------------------------------------------- mise


def test_node_mise_config_has_tools_and_tasks(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    name, inv, tree = case
    shared = tomllib.loads(text(tree, "chezmoi/dot_config/mise/config.toml"))  # the same on every node
    assert shared["tools"] == inv.tools
    tasks = shared["tasks"]
    assert sorted(tasks) == sorted([*EVERY_NODE_TASKS, *(f"deploy:{s}" for s in SERVICES[name])])
    assert {t["dir"] for t in tasks.values()} == {"{{env.COLAB_REPO}}"}
    # every task finds `inv` in the checkout's virtualenv first (its own PATH only, not the user's shells)
    assert all(t["env"] == {"_": {"path": ["{{env.COLAB_REPO}}/.venv/bin"]}} for t in tasks.values())
    assert "pipx:invoke" not in shared["tools"]
    assert all(t["description"] for t in tasks.values())
    for svc in SERVICES[name]:
        assert tasks[f"deploy:{svc}"]["run"] == f"inv deploy --service {svc}"
    assert tasks["bootstrap"]["run"] == "inv bootstrap --node {{env.COLAB_NODE}}"
    assert tasks["fortress:mount"]["run"] == "inv fortress.mount --node {{env.COLAB_NODE}}"
    assert tasks["fortress:status"]["run"] == "inv fortress.status --node {{env.COLAB_NODE}}"
    assert tasks["status"]["run"] == "inv status"
    for node in inv.nodes.values():  # what makes it this node's
        own = tomllib.loads(node_file(tree, node.name, "dot_config/mise/conf.d/colab-node.toml"))
        assert own["env"] == {"COLAB_NODE": node.name, "COLAB_REPO": node.repo}
        if node.name == BACKUP_NODE[name]:
            assert sorted(own["tasks"]) == BACKUP_TASKS
            assert own["tasks"]["backup:daily"]["run"] == "inv backup.daily"
            assert own["tasks"]["backup:weekly"]["run"] == "inv backup.weekly"
            assert {t["dir"] for t in own["tasks"].values()} == {node.repo}
            venv = {"_": {"path": [f"{node.repo}/.venv/bin"]}}
            assert all(t["env"] == venv for t in own["tasks"].values())
        else:
            assert "tasks" not in own


def test_output_grows_as_nodes_plus_services(tmp_path: Path) -> None:
    """More services change the shared files only; no node's own files grow with them."""
    data = _other_data()
    before = render_tree(inventory.from_dict(copy.deepcopy(data)))
    for i in range(50):
        data["services"][f"extra-{i}"] = {"node": "hub", "compose": f"compose/extra-{i}", "secrets_path": "/x"}
    after = render_tree(inventory.from_dict(data))
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert changed == ["chezmoi/dot_config/mise/config.toml", "mise.toml"]


def test_repo_mise_toml(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    name, inv, tree = case
    config = tomllib.loads(text(tree, "mise.toml"))
    assert config["tools"] == inv.tools
    tasks = config["tasks"]
    expected = {"render", "check", "test", *EVERY_NODE_TASKS, *BACKUP_TASKS, *(f"deploy:{s}" for s in SERVICES[name])}
    assert set(tasks) == expected
    assert all(t["dir"] == "{{config_root}}" for t in tasks.values())
    assert all(t["env"] == {"_": {"path": ["{{config_root}}/.venv/bin"]}} for t in tasks.values())
    assert tasks["render"]["run"] == "inv render"
    assert tasks["check"]["run"] == ["inv inventory.check", "inv render --check"]
    assert tasks["test"]["run"] == "nox"
    assert tasks["bootstrap"]["run"] == "inv bootstrap --node {{usage.node}}"
    for node in inv.nodes:
        assert f'"{node}"' in tasks["bootstrap"]["usage"]


def test_task_commands_are_the_inv_tasks() -> None:
    inv = inventory.load(INVENTORIES["default"])
    node = inv.nodes["cooperator"]
    by_name = {t.name: mise_tasks.resolved(t, node) for t in mise_tasks.all_node_tasks(inv, node)}
    assert by_name["deploy:gitea"] == ("inv deploy --service gitea",)
    assert by_name["backup:daily"] == ("inv backup.daily",)
    assert by_name["bootstrap"] == ("inv bootstrap --node cooperator",)
    assert by_name["fortress:mount"] == ("inv fortress.mount --node cooperator",)


# ----------------------------------------------------------------------------------- docker, env, backup


def test_docker_daemon_settings(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    _, inv, tree = case
    for node in inv.nodes.values():
        path = ".docker/daemon.json" if node.os == "macos" else ".config/colab/docker/daemon.json"
        source = "dot_docker/daemon.json" if node.os == "macos" else "dot_config/colab/docker/daemon.json"
        settings = json.loads(node_file(tree, node.name, source))
        assert path in chezmoi_source.node_targets(tree, node.name)
        assert settings["log-driver"] == "json-file"
        assert settings["log-opts"] == {"max-size": inv.docker.log_max_size, "max-file": str(inv.docker.log_max_file)}
        # Docker Engine (Debian) gets overlay2; Docker Desktop keeps its own storage (containerd image store)
        assert settings.get("storage-driver") == ("overlay2" if node.os == "debian" else None), node.name
        taken = [inv.networks.lan, inv.networks.mesh, inv.docker.cluster_subnet]
        for pool in settings["default-address-pools"]:
            base = ipaddress.ip_network(pool["base"])
            assert not any(base.overlaps(net) for net in taken), base
        assert [p["base"] for p in settings["default-address-pools"]] == [str(p.base) for p in inv.docker.address_pools]


def test_docker_settings_go_where_each_engine_reads_them() -> None:
    """/etc/docker/daemon.json only for Docker Engine (Debian); WSL nodes give Docker Desktop on Windows its
    %USERPROFILE%\\.docker\\daemon.json (found through interop); macOS Docker Desktop reads ~/.docker."""
    inv = inventory.load(INVENTORIES["default"])
    tree = render_tree(inv)
    for node in inv.nodes.values():
        files = chezmoi_source.node_files(tree, node.name)
        scripts = {src: data.decode() for src, data in files.items() if src.startswith("run_")}
        etc = [src for src, body in scripts.items() if "\ndst=/etc/docker/daemon.json\n" in body]
        assert etc == (["run_onchange_after_10-docker-daemon.sh"] if node.os == "debian" else []), node.name
        desktop = scripts.get("run_onchange_after_10-docker-desktop.sh")
        assert (desktop is not None) == (node.os == "wsl"), node.name
        if desktop is not None:
            staged = files["dot_config/colab/docker/daemon.json"]
            assert f"daemon.json sha256: {hashlib.sha256(staged).hexdigest()}" in desktop  # new settings re-run it
            assert 'cmd.exe /d /c "echo %USERPROFILE%"' in desktop.replace('"$cmd"', "cmd.exe")
            assert 'wslpath -u "$profile"' in desktop and 'dst="$dir/daemon.json"' in desktop
            assert "restart Docker Desktop" in desktop and "sudo" not in desktop


def test_default_cluster_logs_are_10m_times_3() -> None:
    tree = render_tree(inventory.load(INVENTORIES["default"]))
    settings = json.loads(node_file(tree, "director", "dot_config/colab/docker/daemon.json"))
    assert settings["log-opts"] == {"max-size": "10m", "max-file": "3"}


def test_shell_environment(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    _, inv, tree = case
    for node in inv.nodes.values():
        env = node_file(tree, node.name, "dot_config/colab/env.sh")
        out = subprocess.run(
            ["sh", "-c", f'{env}\nprintf "%s|" "$COLAB_NODE" "$COLAB_ROLES" "$COLAB_FORTRESS" "$COLAB_DOMAIN"'],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out == f"{node.name}|{' '.join(node.roles)}|{inv.fortress_mount(node)}|{inv.cluster.domain}|"


def test_backup_schedule_only_on_the_backup_node(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    name, inv, tree = case
    node = inv.nodes[BACKUP_NODE[name]]
    cron = node_file(tree, node.name, "dot_config/colab/backup/colab-backup.cron")
    entries = [line.split() for line in cron.splitlines() if line and line[0].isdigit()]
    daily, weekly = node_facts.cron_time(inv.backup.schedule.daily), node_facts.cron_time(inv.backup.schedule.weekly)
    offsite = []
    if inv.backup.offsite is not None:  # the off-site copy and its check (issue 16), from the same install
        offsite.append([*node_facts.cron_time(inv.backup.offsite.schedule).split(), "root", SCRIPT, "offsite"])
        if inv.backup.offsite.check_schedule:
            when = node_facts.cron_time(inv.backup.offsite.check_schedule).split()
            offsite.append([*when, "root", SCRIPT, "offsite-check"])
    assert entries == [
        # root (reads all of fortress, keeps owners) runs its own install, never the node user's checkout
        [*daily.split(), "root", SCRIPT, "daily"],
        [*weekly.split(), "root", SCRIPT, "weekly"],
        *offsite,
    ]
    if name == "default":
        assert offsite == [["30", "5", "*", "*", "*", "root", SCRIPT, "offsite"],
                           ["30", "6", "*", "*", "6", "root", SCRIPT, "offsite-check"]]  # fmt: skip
    assert node.repo not in "\n".join(line for line in cron.splitlines() if not line.startswith("#"))
    assert "COLAB_BACKUP_LOG_DIR=/var/log/colab\n" in cron
    script = node_file(tree, node.name, "run_onchange_after_30-backup-cron.sh")
    assert hashlib.sha256(cron.encode()).hexdigest() in script  # a new schedule re-runs the installer
    assert "/etc/cron.d/colab-backup" in script
    others = [n for n in inv.nodes if n != node.name]
    assert all("dot_config/colab/backup/colab-backup.cron" not in chezmoi_source.node_files(tree, n) for n in others)


def test_fortress_files_by_os(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    _, inv, tree = case
    server = inv.nodes[inv.fortress.server]
    unc = f"//{server.mesh}/{inv.fortress.share}"
    for node in inv.nodes.values():
        files = chezmoi_source.node_files(tree, node.name)
        fortress = sorted(p for p in files if "fortress" in p)
        if node.name == inv.fortress.server:  # its drop-ins; the mount unit by UUID comes from `inv fortress.share`
            assert fortress == [
                "dot_config/colab/docker/fortress.conf",
                "dot_config/colab/fortress/smbd-fortress.conf",
                "run_onchange_after_20-fortress-server.sh",
            ]
            for dropin in fortress[:2]:
                assert files[dropin].decode().endswith(f'[Unit]\nRequiresMountsFor="{inv.fortress.path}"\n')
        elif node.os in ("debian", "wsl"):  # WSL: the Linux side mounts the share like a Debian client
            mount = files["dot_config/colab/fortress/fortress.mount"].decode()
            assert f"What={unc}\n" in mount and f"Where={inv.fortress.mounts.linux}\n" in mount
            assert "Options=credentials=/run/colab-fortress/credentials,uid=" in mount and "Type=cifs" in mount
            assert "After=network-online.target colab-fortress-password.service\n" in mount
            assert "[Install]\nWantedBy=remote-fs.target\n" in mount
            service = files["dot_config/colab/fortress/fortress-password.service"].decode()
            assert "Type=notify\n" in service and "ExecStart=/usr/local/lib/colab/fortress-password\n" in service
            assert "RuntimeDirectory=colab-fortress\nRuntimeDirectoryMode=0700\n" in service
            assert "Environment" not in service  # nothing secret or not is handed to systemd
            script = files["dot_config/colab/fortress/fortress-password.sh"].decode()
            assert f"path={inv.fortress.password_path}\n" in script and "identity=/etc/colab/infisical\n" in script
            user = f"user={node.ssh_user}  # the node's own user"  # the credentials file's user: its own Samba user
            assert user in script
            unit = quoting.systemd_escape_path(inv.fortress.mounts.linux)
            installer = files["run_onchange_after_20-fortress-units.sh"].decode()
            assert f"unit={unit}" in installer
            assert ("systemd is off in this WSL distribution" in installer) == (node.os == "wsl")
            assert ("dot_config/colab/docker/fortress.conf" in files) == (node.os == "debian")  # Docker Engine
            if node.os == "wsl":  # the Windows drive: the same steps as `inv fortress.mount`, no second way
                script = files["dot_config/colab/fortress/executable_mount-fortress.sh"].decode()
                assert f'exec "$inv" fortress.mount --node {node.name} "$@"\n' in script
                assert 'if [ -x "$repo/.venv/bin/inv" ]; then\n  inv=$repo/.venv/bin/inv\n' in script
                assert f"repo={node.repo}\n" in script
                for gone in ("cmdkey", "net.exe", "drvfs", "mount -t"):
                    assert gone not in script, gone
            else:
                assert "dot_config/colab/fortress/executable_mount-fortress.sh" not in files
        else:
            plist = files["Library/LaunchAgents/colab.fortress.plist"].decode()
            assert f"smb://{node.ssh_user}@{server.mesh}/{inv.fortress.share}" in plist
            assert inv.fortress.mounts.macos in plist


def test_no_password_or_credentials_file_anywhere(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    """No file holds a password. The one credentials file is on tmpfs (/run), written at boot by the password
    script (`password=%s`, a format: the value comes from Infisical then) and removed once mounted."""
    _, _, tree = case
    for path, data in tree.items():
        body = data.decode().lower()
        for bad in ("pass=", "passwd=", "/pass:"):
            assert bad not in body, (path, bad)
        assert body.count("credentials=") == body.count("credentials=/run/colab-fortress/credentials"), path
        if "password=" in body:
            assert path.endswith("/dot_config/colab/fortress/fortress-password.sh"), path
            assert body.count("password=") == 1 and "printf 'password=%s\\n' \"$pw\"" in body, path


# -------------------------------------------------------------------------------------- determinism


def test_same_inventory_same_bytes(case: tuple[str, inventory.Inventory, dict[str, bytes]]) -> None:
    name, _, tree = case
    again = render_tree(inventory.parse(INVENTORIES[name].read_text()))
    assert again == tree
    assert list(tree) == sorted(tree)
    blob = b"".join(tree.values())
    assert str(ROOT).encode() not in blob  # nothing about the machine it was rendered on


def test_every_generated_file_ends_with_a_newline_and_has_no_tabs_or_trailing_blanks(
    case: tuple[str, inventory.Inventory, dict[str, bytes]],
) -> None:
    _, _, tree = case
    for path, data in tree.items():
        body = data.decode()
        assert body.endswith("\n"), path
        assert "\n\n\n" not in body, path
        assert all(line == line.rstrip() for line in body.splitlines()), path


# ---------------------------------------------------------------------------- write and check


def test_write_then_check_is_clean_and_a_second_write_changes_nothing(tmp_path: Path) -> None:
    tree = render_tree(inventory.load(INVENTORIES["default"]))
    assert disk.write_tree(tree, tmp_path) == sorted(tree)
    assert disk.check_tree(tree, tmp_path) == ""
    assert disk.write_tree(tree, tmp_path) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".render-")]  # staging removed


def test_check_reports_changed_missing_and_extra_files(tmp_path: Path) -> None:
    tree = render_tree(inventory.load(INVENTORIES["default"]))
    disk.write_tree(tree, tmp_path)
    (tmp_path / "mise.toml").write_text((tmp_path / "mise.toml").read_text().replace("inv status", "inv stat"))
    (tmp_path / "chezmoi/.nodes/known.txt").unlink()
    (tmp_path / "chezmoi/stray").write_text("x\n")
    diff = disk.check_tree(tree, tmp_path)
    assert "--- a/mise.toml\n+++ b/mise.toml\n" in diff
    assert '-run = "inv stat"\n+run = "inv status"\n' in diff
    assert "--- /dev/null\n+++ b/chezmoi/.nodes/known.txt\n" in diff
    assert "--- a/chezmoi/stray\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n" in diff
    assert disk.changed_paths(tree, tmp_path) == ["chezmoi/.nodes/known.txt", "chezmoi/stray", "mise.toml"]


def test_write_swaps_in_the_new_tree_and_drops_what_is_no_longer_generated(tmp_path: Path) -> None:
    disk.write_tree(render_tree(inventory.load(INVENTORIES["default"])), tmp_path)
    other = render_tree(inventory.load(INVENTORIES["other"]))
    disk.write_tree(other, tmp_path)
    assert not (tmp_path / "chezmoi/.nodes/cooperator").exists()
    assert disk.check_tree(other, tmp_path) == ""


def test_a_template_error_writes_nothing_and_names_file_and_line(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    broken = templates / "chezmoi/.nodes/{node}/dot_config/colab/env.sh.j2"
    lines = broken.read_text().splitlines()
    lines[4] = "export X={{ node.no_such_field }}"
    broken.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    inv = inventory.load(INVENTORIES["default"])
    with pytest.raises(RenderError) as info:
        disk.write_tree(render_tree(inv, templates), out)
    assert str(info.value).startswith("templates/chezmoi/.nodes/{node}/dot_config/colab/env.sh.j2:5: ")
    assert "no_such_field" in str(info.value)
    assert not out.exists()


def test_a_template_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "mise.toml.j2").write_text("line one\n{% if %}\n")
    with pytest.raises(RenderError, match=r"^templates/mise.toml.j2:2: "):
        render_tree(inventory.load(INVENTORIES["default"]), templates)


@pytest.mark.parametrize(
    ("template", "added", "output", "problem"),
    [
        ("mise.toml.j2", 'x = "a\x7fb"\n', "mise.toml", "not valid TOML (Illegal character '\\x7f' (at line "),
        (
            "chezmoi/.nodes/{node}/dot_config/colab/docker/daemon.json.j2",
            "{% if node.os != 'macos' %}\n,\n{% endif %}",
            "chezmoi/.nodes/cooperator/dot_config/colab/docker/daemon.json",
            "not valid JSON (Extra data: line ",
        ),
        (
            "chezmoi/.nodes/{node}/Library/LaunchAgents/colab.fortress.plist.j2",
            "{% if node.os == 'macos' %}<junk>{% endif %}\n",
            "chezmoi/.nodes/terminator/Library/LaunchAgents/colab.fortress.plist",
            "not valid plist XML (junk after document element: line ",
        ),
    ],
)
def test_a_rendered_file_that_does_not_parse_is_refused_naming_it(
    tmp_path: Path, template: str, added: str, output: str, problem: str
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    with (templates / template).open("a") as fh:
        fh.write(added)
    with pytest.raises(RenderError) as info:
        render_tree(inventory.load(INVENTORIES["default"]), templates)
    (line,) = str(info.value).splitlines()
    assert line.startswith(f"{output}: {problem}"), line
    assert line.endswith("; nothing was written (fix the template or the inventory value)")


def test_inv_render_exits_1_in_one_line_when_a_rendered_file_does_not_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task itself: exit 1, one line naming the file, nothing written."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    with (templates / "mise.toml.j2").open("a") as fh:
        fh.write('x = "a\x7fb"\n')
    original = render_tree
    monkeypatch.setattr(render_tree_module, "render_tree", lambda inv: original(inv, templates))
    out = tmp_path / "out"
    with pytest.raises(Exit) as info:
        tasks.render.render(Context(), output=str(out))
    assert info.value.code == 1
    (line,) = str(info.value.message).splitlines()
    assert line.startswith("error: mise.toml: not valid TOML (Illegal character")
    assert not out.exists()


def test_a_wrapper_clash_is_refused(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "chezmoi/dot_config/colab").mkdir(parents=True)
    (templates / "chezmoi/dot_config/colab/env.sh.tmpl").write_text("x\n")  # the per-node env.sh's template
    with pytest.raises(RenderError, match="clashes"):
        render_tree(inventory.load(INVENTORIES["default"]), templates)


# ---------------------------------------------------------------------- inventories render refuses


def _other_data() -> dict[str, Any]:
    return copy.deepcopy(tomllib.loads(INVENTORIES["other"].read_text()))


def test_macos_mount_point_must_be_under_volumes() -> None:
    data = _other_data()
    data["fortress"]["mounts"]["macos"] = "/Users/me/vault"
    with pytest.raises(RenderError, match=r"^fortress.mounts.macos: .*set it to /Volumes/vault$"):
        render_tree(inventory.from_dict(data))


def test_backup_node_must_run_linux() -> None:
    data = _other_data()
    data["backup"]["node"] = "studio"
    with pytest.raises(RenderError, match=r"^backup.node: studio runs macOS"):
        render_tree(inventory.from_dict(data))


def test_a_bigger_inventory_renders_every_node() -> None:
    data = _other_data()
    base = data["nodes"]["forge"]
    for i in range(20):
        data["nodes"][f"n{i:02d}"] = {**base, "lan": f"127.0.30.{100 + i}", "mesh": f"127.0.40.{100 + i}"}
    tree = render_tree(inventory.from_dict(data))
    assert text(tree, "chezmoi/.nodes/known.txt").split() == list(data["nodes"])
    assert chezmoi_source.node_targets(tree, "n07") == sorted([*LINUX, *UNITS, DOCKER_DROPIN, S_UNITS])


def test_inv_render_and_check_exit_codes(tmp_path: Path) -> None:
    """The task: render writes, --check exits 0 when in step, 1 with the diff on stdout when not."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_inv("render", "--inventory", str(INVENTORIES["other"]), "--output", str(tmp_path), *args, timeout=60)

    assert run().returncode == 0
    assert run("--check").returncode == 0
    (tmp_path / ".chezmoiroot").write_text("elsewhere\n")
    stale = run("--check")
    assert stale.returncode == 1
    assert stale.stdout == "--- a/.chezmoiroot\n+++ b/.chezmoiroot\n@@ -1 +1 @@\n-elsewhere\n+chezmoi\n"
    assert "1 generated file(s) differ from the inventory; run `inv render`" in stale.stderr
    assert (tmp_path / ".chezmoiroot").read_text() == "elsewhere\n"  # --check writes nothing
