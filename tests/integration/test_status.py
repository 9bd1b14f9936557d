"""`inv status` against a cluster made of real local pieces, with exact rows and exit codes.

- cooperator is this machine (COLAB_NODE): fortress server on a loop-mounted ext4 volume, backup node with a
  second loop-mounted volume holding real snapshots taken by colab.backup (`--now` in the past), RAID node
  reading the storage developer's /proc/mdstat samples (COLAB_MDSTAT: this kernel has no md driver), and its
  service is a Compose project on the local Docker engine.
- director is a colab-test/node container with sshd on its mesh and LAN loopback addresses, the real Docker
  CLI and the local engine's socket (its "own" engine), a stand-in `mount` that adds the CIFS line of fortress
  (no CIFS client in this kernel), and two services: one healthy, one whose health check fails.
- writer answers on the LAN only and has the Docker CLI but no engine.
- terminator is a stopped container (nothing answers); projector is on-demand and off.
- a hanging node is a listener that accepts TCP and never speaks SSH.

Each case writes its own inventory (tomlkit, from loopback.toml) and runs the real `inv status`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from rich.console import Console

from colab import inventory
from colab.backup import config as backup_config
from colab.backup import runs as backup_runs
from colab.backup.space import human
from colab.runner import ENV_SSH_KEY, ENV_SSH_OPTS
from colab.status.volumes import ENV_MDSTAT
from tests.conftest import require_root, require_tool
from tests.harness import containers
from tests.harness.containers import KeyPair
from tests.harness.inv import run_inv

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"
MDSTAT = ROOT / "tests" / "fixtures" / "mdstat"
STANDIN = ROOT / "tests" / "docker" / "status"
TAG = f"st{os.getpid()}"
USER = "crtr"
CIFS = f"//127.0.20.1/fortress on /mnt/fortress type cifs (rw,relatime,vers=3.1.1,username={USER})"


# ------------------------------------------------------------------------------------------ pieces


@dataclass
class Volume:
    image: Path
    mount: Path
    device: str = ""

    def create(self, size_mb: int = 16) -> None:
        with self.image.open("wb") as f:
            f.truncate(size_mb * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], check=True, capture_output=True)
        self.mount.mkdir()
        # An explicit loop device (not `mount -o loop`, which `mount` lists under the image's path).
        found = subprocess.run(["losetup", "--find", "--show", str(self.image)], capture_output=True, text=True)
        assert found.returncode == 0, found.stderr
        self.device = found.stdout.strip()
        subprocess.run(["mount", self.device, str(self.mount)], check=True, capture_output=True)

    def remove(self) -> None:
        if self.device:
            subprocess.run(["umount", str(self.mount)], capture_output=True)
            subprocess.run(["losetup", "-d", self.device], capture_output=True)

    def free_text(self, label: str) -> str:
        st = os.statvfs(self.mount)
        free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
        return f"{label} {human(free)} free ({free / total:.0%})"


@dataclass
class NodeBox:
    name: str
    container: str
    port: int
    addresses: list[str]


@dataclass
class Site:
    root: Path
    fortress: Volume
    backup: Volume
    boxes: dict[str, NodeBox]
    known_hosts: Path
    key: Path
    services: dict[str, str] = field(default_factory=dict)  # role -> compose project (service) name

    @property
    def env(self) -> dict[str, str]:
        opts = " ".join(containers.ssh_options(self.known_hosts)) + " -o ConnectTimeout=5"
        return {ENV_SSH_KEY: str(self.key), ENV_SSH_OPTS: opts}


def free_port(*hosts: str) -> int:
    """A port free on every one of `hosts` (loopback addresses), so a node has one ssh_port for both."""
    for _ in range(50):
        with contextlib.ExitStack() as stack:
            first = stack.enter_context(socket.socket())
            first.bind((hosts[0], 0))
            port = int(first.getsockname()[1])
            try:
                for host in hosts[1:]:
                    stack.enter_context(socket.socket()).bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no port free on all of {hosts}")


def engine_socket() -> str:
    endpoint = containers.engine_endpoint()
    return endpoint.removeprefix("unix://") if endpoint.startswith("unix://") else "/var/run/docker.sock"


def start_node(
    name: str, image: str, key: KeyPair, addresses: list[str], *, engine: bool, fortress_line: str | None
) -> NodeBox:
    port = free_port(*addresses)
    docker_cli = os.path.realpath(shutil.which("docker") or "docker")
    argv = ["docker", "run", "-d", "--name", f"colab-test-{TAG}-{name}", "--hostname", name]
    argv += ["-e", f"COLAB_AUTHORIZED_KEYS={key.public_text}", "--stop-timeout", "1"]
    argv += ["-v", f"{docker_cli}:/usr/local/bin/docker:ro", "-v", f"{STANDIN / 'mount'}:/usr/local/bin/mount:ro"]
    for address in addresses:
        argv += ["-p", f"{address}:{port}:22"]
    sock = engine_socket()
    if engine:
        argv += ["-v", f"{sock}:/var/run/docker.sock"]
    cid = subprocess.run([*argv, image], check=True, capture_output=True, text=True).stdout.strip()
    box = NodeBox(name, cid, port, addresses)
    deadline = time.monotonic() + 60
    while containers.docker_exec(cid, "test", "-s", "/etc/ssh/ssh_host_ed25519_key.pub", check=False).returncode:
        assert time.monotonic() < deadline, f"{name}: no host key"
        time.sleep(0.2)
    setup = f"install -d -o {USER} -g {USER} /mnt/fortress/docker /mnt/fortress/data /mnt/fortress/cache"
    if engine:  # the node user may use the engine's socket (its group id is the host's)
        gid = os.stat(sock).st_gid
        setup += f" && groupadd -o -g {gid} hostdocker && usermod -aG hostdocker {USER}"
    containers.docker_exec(cid, "sh", "-c", setup)
    set_fortress(box, fortress_line)
    return box


def set_fortress(box: NodeBox, line: str | None) -> None:
    """What the stand-in `mount` adds on the node: the CIFS line of fortress, or nothing (not mounted)."""
    if line is None:
        containers.docker_exec(box.container, "rm", "-f", "/etc/colab-test/mounts")
    else:
        script = 'mkdir -p /etc/colab-test && printf "%s\\n" "$1" > /etc/colab-test/mounts'
        containers.docker_exec(box.container, "sh", "-c", script, "sh", line)


def compose_service(project: str, image: str, healthy: bool) -> None:
    env = {**os.environ, "COLAB_TEST_IMAGE": image, "COLAB_TEST_HEALTH": "true" if healthy else "false"}
    file = str(STANDIN / "compose.yaml")
    subprocess.run(
        ["docker", "compose", "-f", file, "-p", project, "up", "-d"], check=True, capture_output=True, env=env
    )


def wait_health(project: str, want: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        out = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.Health.Status}}", *ids], capture_output=True, text=True
        ).stdout.split()
        if out == [want]:
            return
        assert time.monotonic() < deadline, f"{project}: health {out}, want {want}"
        time.sleep(0.3)


def take_backup(source: Path, target: Path, now: str) -> None:
    inv = inventory.load(LOOPBACK)
    cfg = backup_config.make(inv, source=str(source), target=str(target), now=now)
    result = backup_runs.run(cfg, task="backup.daily", kind="daily", with_dumps=False, console=Console(quiet=True))
    assert result.report.exit_code == 0, result.report.to_json()


@pytest.fixture(scope="module")
def site(
    docker_engine: str,
    node_image: str,
    busybox_image: str,
    ssh_keypair: KeyPair,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    require_tool("ssh", "mkfs.ext4", "losetup", "mount", "umount", "rsync")
    require_root("loop-mounting the fortress and backup volumes")
    root = tmp_path_factory.mktemp("status")
    fortress, backup = Volume(root / "fortress.img", root / "fortress"), Volume(root / "backup.img", root / "backup")
    boxes: dict[str, NodeBox] = {}
    projects: list[str] = []
    try:
        fortress.create()
        backup.create()
        for folder in ("docker", "data", "cache"):
            (fortress.mount / folder).mkdir()
        (fortress.mount / "data" / "notes.txt").write_text("fortress data\n")
        take_backup(fortress.mount, backup.mount, "2024-01-01T03:15")
        take_backup(fortress.mount, backup.mount, "2024-01-03T03:15")

        cifs = CIFS
        boxes["director"] = start_node(
            "director", node_image, ssh_keypair, ["127.0.20.2", "127.0.10.20"], engine=True, fortress_line=cifs
        )
        boxes["writer"] = start_node(
            "writer", node_image, ssh_keypair, ["127.0.10.40"], engine=False, fortress_line=cifs
        )
        boxes["terminator"] = start_node(
            "terminator", node_image, ssh_keypair, ["127.0.20.6", "127.0.10.60"], engine=False, fortress_line=cifs
        )
        known_hosts = root / "known_hosts"
        lines = [
            containers.known_hosts_line(box.container, address, box.port)
            for box in boxes.values()
            for address in box.addresses
        ]
        known_hosts.write_text("".join(lines))
        for box in boxes.values():
            containers.wait_for_ssh(box.addresses[0], box.port, USER, ssh_keypair.private, known_hosts, timeout=60)
        subprocess.run(["docker", "stop", "-t", "1", boxes["terminator"].container], check=True, capture_output=True)

        services = {"edge": f"edge-{TAG}", "web": f"web-{TAG}", "sick": f"sick-{TAG}", "job": f"job-{TAG}"}
        for role, healthy in (("edge", True), ("web", True), ("sick", False)):
            compose_service(services[role], busybox_image, healthy)
            projects.append(services[role])
        for role, want in (("edge", "healthy"), ("web", "healthy"), ("sick", "unhealthy")):
            wait_health(services[role], want)
        yield Site(root, fortress, backup, boxes, known_hosts, ssh_keypair.private, services)
    finally:
        file = str(STANDIN / "compose.yaml")
        env = {**os.environ, "COLAB_TEST_IMAGE": busybox_image, "COLAB_TEST_HEALTH": "true"}
        for project in projects:
            subprocess.run(
                ["docker", "compose", "-f", file, "-p", project, "down", "-t", "1"], capture_output=True, env=env
            )
        for box in boxes.values():
            subprocess.run(["docker", "rm", "-f", box.container], capture_output=True)
        fortress.remove()
        backup.remove()


# ----------------------------------------------------------------------------------------- running


def write_inventory(
    site: Site, path: Path, nodes: list[str], services: dict[str, str], ports: dict[str, int] | None = None
) -> Path:
    """loopback.toml with only `nodes`, their SSH ports, fortress/backup on the site's volumes, `services`."""
    doc = tomlkit.parse(LOOPBACK.read_text())
    table = doc["nodes"]
    for name in list(table):  # type: ignore[union-attr]
        if name not in nodes:
            del table[name]  # type: ignore[union-attr]
    ports = {**{n: b.port for n, b in site.boxes.items()}, **(ports or {})}
    for name in nodes:
        node = table[name]  # type: ignore[index]
        node["ssh_port"] = ports.get(name, free_port("127.0.20.7", "127.0.10.70"))
        if node["os"] == "wsl":
            node["os"] = "debian"  # no Windows side in a container
    doc["fortress"]["path"] = str(site.fortress.mount)  # type: ignore[index]
    doc["fortress"]["device"] = site.fortress.device  # type: ignore[index]
    doc["fortress"]["filesystem"] = "ext4"  # type: ignore[index]
    doc["backup"]["source"] = str(site.fortress.mount)  # type: ignore[index]
    doc["backup"]["target"] = str(site.backup.mount)  # type: ignore[index]
    svc = tomlkit.table(is_super_table=True)
    for name, node in services.items():
        svc[name] = {"node": node, "compose": f"compose/{name}", "secrets_path": "/test"}
    doc["services"] = svc
    doc["routes"] = tomlkit.aot()
    path.write_text(tomlkit.dumps(doc))
    inventory.load(path)  # valid
    return path


def status(
    site: Site, inventory_path: Path, *, now: str, mdstat: str = "healthy", timeout: float = 8, json_out: bool = True
) -> tuple[int, Any, str, float]:
    env = {**site.env, ENV_MDSTAT: str(MDSTAT / f"{mdstat}.mdstat")}
    args = ["status", "--now", now, "--timeout", f"{timeout:g}", *(["--json"] if json_out else [])]
    started = time.monotonic()
    res = run_inv(*args, node="cooperator", inventory=inventory_path, env=env, columns=250)
    took = time.monotonic() - started
    data = json.loads(res.stdout) if json_out and res.stdout.strip().startswith("{") else res.stdout
    return res.returncode, data, res.stderr, took


def rows(doc: dict[str, Any]) -> dict[str, dict[str, tuple[str, str]]]:
    return {n["node"]: {c: (v["level"], v["text"]) for c, v in n["checks"].items()} for n in doc["nodes"]}


NA = ("-", "-")
OFF = ("off", "off")


def cooperator_row(site: Site, *, services: str, raid: tuple[str, str], backup: tuple[str, str]) -> dict[str, Any]:
    return {
        "mesh": ("ok", "here"),
        "lan": ("ok", "here"),
        "docker": ("ok", f"up {docker_version()}"),
        "fortress": ("ok", f"mounted {site.fortress.device}"),
        "services": ("ok", services),
        "raid": raid,
        "backup": backup,
        "free": ("ok", f"{site.fortress.free_text('fortress')}\n{site.backup.free_text('backup')}"),
    }


def docker_version() -> str:
    return containers.docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()


# ------------------------------------------------------------------------------------------- cases


def test_a_healthy_cluster_with_an_on_demand_node_off(site: Site, tmp_path: Path) -> None:
    s = site.services
    path = write_inventory(
        site,
        tmp_path / "inv.toml",
        ["cooperator", "director", "projector"],
        {s["edge"]: "cooperator", s["web"]: "director"},
    )
    code, doc, err, _ = status(site, path, now="2024-01-03T09:15")
    assert code == 0, (doc["problems"], err)
    assert rows(doc) == {
        "cooperator": cooperator_row(
            site,
            services=f"{s['edge']}: healthy",
            raid=("ok", "clean, [2/2] [UU]"),
            backup=("ok", "fortress-20240103, 6h ago, ok"),
        ),
        "director": {
            "mesh": ("ok", "up"),
            "lan": ("ok", "up"),
            "docker": ("ok", f"up {docker_version()}"),
            "fortress": ("ok", "mounted //127.0.20.1/fortress"),
            "services": ("ok", f"{s['web']}: healthy"),
            "raid": NA,
            "backup": NA,
            "free": NA,
        },
        "projector": {
            "mesh": OFF,
            "lan": OFF,
            "docker": OFF,
            "fortress": OFF,
            **dict.fromkeys(("services", "raid", "backup", "free"), NA),
        },
    }
    assert doc["problems"] == [] and doc["exit_code"] == 0
    backup = doc["nodes"][0]["checks"]["backup"]
    assert (backup["snapshot"], backup["created"], backup["age_hours"], backup["kind"]) == (
        "fortress-20240103", "2024-01-03T03:15", 6.0, "daily",
    )  # fmt: skip
    [web] = doc["nodes"][1]["services"]
    assert [(c["service"], c["state"], c["health"]) for c in web["containers"]] == [("app", "running", "healthy")]


def test_the_table_of_a_healthy_cluster(site: Site, tmp_path: Path) -> None:
    s = site.services
    path = write_inventory(site, tmp_path / "inv.toml", ["cooperator", "director"], {s["web"]: "director"})
    code, text, err, _ = status(site, path, now="2024-01-03T09:15", json_out=False)
    assert code == 0, text + err
    lines = text.splitlines()
    assert lines[0].startswith("colab cluster at ")
    row = next(line for line in lines if line.startswith("│ director"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells == ["director", "up", "up", f"up {docker_version()}", "mounted //127.0.20.1/fortress",
                     f"{s['web']}: healthy", "-", "-", "-"]  # fmt: skip
    assert lines[-1] == "all good"


def test_every_critical_case_at_once(site: Site, tmp_path: Path) -> None:
    """Backup 2 days old, RAID degraded, fortress unmounted on a client, an unhealthy service, a node down,
    an engine down under a service, a node reachable on the LAN only; the on-demand node off is fine."""
    s = site.services
    set_fortress(site.boxes["director"], None)
    try:
        path = write_inventory(
            site,
            tmp_path / "inv.toml",
            ["cooperator", "director", "writer", "projector", "terminator"],
            {s["edge"]: "cooperator", s["web"]: "director", s["sick"]: "director", s["job"]: "writer"},
        )
        code, doc, err, _ = status(site, path, now="2024-01-05T06:00", mdstat="degraded")
        table_code, text, _, _ = status(site, path, now="2024-01-05T06:00", mdstat="degraded", json_out=False)
    finally:
        set_fortress(site.boxes["director"], CIFS)
    assert code == 1, (doc, err)
    got = rows(doc)
    assert got["cooperator"]["raid"] == ("critical", "degraded, [2/1] [U_]")
    assert got["cooperator"]["backup"] == ("critical", "fortress-20240103, 2d ago, ok: older than 26h")
    assert got["director"]["fortress"] == ("critical", "not mounted at /mnt/fortress")
    assert got["director"]["services"] == ("critical", f"{s['web']}: healthy\n{s['sick']}: app running, unhealthy")
    assert got["writer"] == {
        "mesh": ("warning", "down (connection refused)"),
        "lan": ("ok", "up"),
        "docker": ("critical", "down: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                               "Is the docker daemon running?"),
        "fortress": ("ok", "mounted //127.0.20.1/fortress"),
        "services": ("unknown", "? (engine down)"),
        "raid": NA,
        "backup": NA,
        "free": NA,
    }  # fmt: skip
    assert got["terminator"] == {
        "mesh": ("critical", "down (connection refused)"),
        "lan": ("critical", "down (connection refused)"),
        "docker": ("unknown", "?"),
        "fortress": ("unknown", "?"),
        **dict.fromkeys(("services", "raid", "backup", "free"), NA),
    }
    assert set(got["projector"].values()) == {OFF, NA}
    assert [(p["node"], p["check"], p["level"]) for p in doc["problems"]] == [
        ("cooperator", "raid", "critical"),
        ("cooperator", "backup", "critical"),
        ("director", "fortress", "critical"),
        ("director", "services", "critical"),
        ("writer", "mesh", "warning"),
        ("writer", "docker", "critical"),
        ("terminator", "reach", "critical"),
    ]
    assert table_code == 1
    tail = text.splitlines()[-8:]
    assert tail == [
        "✗ cooperator raid: degraded, [2/1] [U_]",
        "✗ cooperator backup: fortress-20240103, 2d ago, ok: older than 26h",
        "✗ director fortress: not mounted at /mnt/fortress",
        f"✗ director services: {s['sick']}: app running, unhealthy",
        "! writer mesh: down (connection refused)",
        "✗ writer docker: down: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
        "daemon running?",
        "✗ terminator reach: unreachable: mesh down (connection refused); LAN down (connection refused)",
        "6 critical, 1 warning",
    ]


@pytest.mark.parametrize(
    ("mdstat", "now", "code", "raid", "backup"),
    [
        ("recovery", "2024-01-03T09:15", 2, ("warning", "recovery, 23.0%, finish 128.4min, [2/1] [U_]"), "ok"),
        ("resync", "2024-01-04T05:15", 2, ("warning", "resync, 12.6%, finish 148.3min, [2/2] [UU]"), "ok"),
        ("check-nobitmap", "2024-01-04T05:16", 1, ("ok", "check, 47.2%, finish 85.4min, [2/2] [UU]"), "critical"),
        ("inactive", "2024-01-03T09:15", 1, ("critical", "inactive"), "ok"),
    ],
)
def test_raid_and_backup_age_decide_the_exit_code(
    site: Site, tmp_path: Path, mdstat: str, now: str, code: int, raid: tuple[str, str], backup: str
) -> None:
    """26 h after the snapshot is still fine, a minute more is critical; a rebuilding RAID is a warning."""
    path = write_inventory(site, tmp_path / "inv.toml", ["cooperator"], {})
    got, doc, err, _ = status(site, path, now=now, mdstat=mdstat)
    assert got == code, (doc, err)
    checks = rows(doc)["cooperator"]
    assert checks["raid"] == raid
    assert checks["backup"][0] == backup
    assert checks["services"] == NA


def test_a_node_that_never_answers_is_a_row_not_a_hang(site: Site, tmp_path: Path) -> None:
    """terminator accepts TCP on its mesh address and never speaks SSH: its row says so after --timeout, and
    every other node's row is complete (they were asked at the same time)."""
    listener = socket.socket()
    listener.bind(("127.0.20.6", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        s = site.services
        path = write_inventory(
            site,
            tmp_path / "inv.toml",
            ["cooperator", "director", "terminator"],
            {s["web"]: "director"},
            ports={"terminator": int(listener.getsockname()[1])},
        )
        code, doc, err, took = status(site, path, now="2024-01-03T09:15", timeout=3)
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()
    assert code == 1, (doc, err)
    assert took < 3 + 3, f"took {took:.1f}s with --timeout 3"  # the deadline, plus Python's start-up
    got = rows(doc)
    assert got["terminator"] == {
        "mesh": ("ok", "up"),
        "lan": ("warning", "down (connection refused)"),
        "docker": ("critical", "no answer within 3s"),
        "fortress": ("unknown", "?"),
        **dict.fromkeys(("services", "raid", "backup", "free"), NA),
    }
    assert got["director"]["services"] == ("ok", f"{s['web']}: healthy")
    assert [(p["node"], p["check"]) for p in doc["problems"]] == [("terminator", "lan"), ("terminator", "docker")]


def test_json_is_only_data_and_the_clock_is_the_injected_one(site: Site, tmp_path: Path) -> None:
    path = write_inventory(site, tmp_path / "inv.toml", ["cooperator"], {})
    code, doc, err, _ = status(site, path, now="2024-01-03T09:15")
    assert code == 0 and err == ""
    assert doc["now"] == "2024-01-03T09:15" and doc["cluster"] == "colab"
    assert datetime.fromisoformat(doc["nodes"][0]["checks"]["backup"]["created"]) == datetime(2024, 1, 3, 3, 15)
