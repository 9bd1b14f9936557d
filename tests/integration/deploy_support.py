"""Helpers for the deploy integration tests: a test inventory in tmp, test services, argv sampling, cleanup."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from tests.harness import images

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"
BUSYBOX = "colab-test/busybox:latest"

# A small long-running service: busybox httpd with a health check, the secret in its environment, a file
# written into its data volume, a log line to find.
WEB_COMPOSE = """\
services:
  app:
    image: {image}
    command:
      - sh
      - -c
      - echo written > /data/written && echo web-started && mkdir -p /www && echo ok > /www/health
        && exec httpd -f -p 8080 -h /www
    environment:
      TEST_SECRET: ${{TEST_SECRET:?TEST_SECRET must come from Infisical}}
    volumes:
      - ${{COLAB_DATA_DIR:?set by inv deploy}}:/data
    restart: unless-stopped
    stop_grace_period: 1s
    networks:
      internal: {{}}
      cluster:
        aliases: ["${{COLAB_SERVICE:?set by inv deploy}}"]
    healthcheck:
      test: [{health}]
      interval: 1s
      timeout: 2s
      retries: 2
    deploy:
      resources:
        limits: {{ cpus: "0.5", memory: 64M }}

networks:
  internal:
    internal: true
  cluster:
    external: true
    name: ${{COLAB_CLUSTER_NETWORK:?set by inv deploy}}
"""
HEALTHY = '"CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"'
UNHEALTHY = '"CMD", "sh", "-c", "echo unhealthy-marker; exit 1"'


def web_compose(image: str = BUSYBOX, health: str = HEALTHY) -> str:
    return WEB_COMPOSE.format(image=image, health=health)


@dataclass
class TestCluster:
    __test__ = False  # not a test class

    """A loopback inventory in tmp: fortress folders in tmp, a private cluster network, test services."""

    root: Path
    inventory: Path
    network: str
    subnet: str
    services: list[str] = field(default_factory=list)

    @property
    def server_fortress(self) -> Path:
        return self.root / "fortress-server"

    @property
    def client_fortress(self) -> Path:
        return self.root / "fortress-client"

    def compose_dir(self, service: str) -> Path:
        return self.root / "compose" / service


def write_cluster(
    root: Path,
    tag: str,
    services: dict[str, dict[str, object]],
    subnet: str,
    *,
    client_fortress: str | None = None,
    nodes: dict[str, dict[str, object]] | None = None,
) -> TestCluster:
    """Copy loopback.toml with its fortress in `root`, a network of its own and exactly `services`.

    Each service gets a compose folder `root/compose/<name>` (filled in by the caller). `client_fortress`
    overrides where Linux clients mount fortress; `nodes` overrides node fields (e.g. ssh_port).
    """
    doc = tomlkit.parse(LOOPBACK.read_text(encoding="utf-8"))
    network = f"colab-test-{tag}"
    doc["docker"]["cluster_network"] = network  # type: ignore[index]
    doc["docker"]["cluster_subnet"] = subnet  # type: ignore[index]
    doc["fortress"]["path"] = str(root / "fortress-server")  # type: ignore[index]
    doc["fortress"]["mounts"]["linux"] = client_fortress or str(root / "fortress-client")  # type: ignore[index]
    for node, fields in (nodes or {}).items():
        for key, value in fields.items():
            doc["nodes"][node][key] = value  # type: ignore[index]
    table = tomlkit.table(is_super_table=True)
    for name, fields in services.items():
        (root / "compose" / name).mkdir(parents=True, exist_ok=True)
        svc = tomlkit.table()
        svc.update({"compose": str(root / "compose" / name), "secrets_path": "/web", **fields})
        table[name] = svc
    doc["services"] = table
    path = root / "inventory.toml"
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return TestCluster(root, path, network, subnet, list(services))


def project_containers(project: str, *, docker_host: str = "") -> dict[str, tuple[str, str, str]]:
    """Compose project's containers on an engine: name → (id, created, state)."""
    env = {**os.environ, "DOCKER_HOST": docker_host} if docker_host else None
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.split()  # fmt: skip
    if not ids:
        return {}
    out = subprocess.run(
        ["docker", "inspect", "--format", "{{.Name}} {{.Id}} {{.Created}} {{.State.Status}}", *ids],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    found = {}
    for line in out.splitlines():
        name, cid, created, state = line.split()
        found[name.lstrip("/")] = (cid, created, state)
    return found


def remove_project(project: str, network: str | None = None, *, docker_host: str = "") -> None:
    env = {**os.environ, "DOCKER_HOST": docker_host} if docker_host else None
    ids = list(project_containers(project, docker_host=docker_host).values())
    if ids:
        subprocess.run(["docker", "rm", "-f", "-v", *(i[0] for i in ids)], capture_output=True, env=env)
    nets = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True, text=True, env=env,
    ).stdout.split()  # fmt: skip
    if network:
        nets.append(network)
    for net in nets:
        subprocess.run(["docker", "network", "rm", net], capture_output=True, env=env)


class ArgvWatch:
    """Samples every process's argv (/proc/*/cmdline) in a thread; records any that holds `needle`."""

    def __init__(self, needle: str, interval: float = 0.002) -> None:
        self.needle = needle.encode()
        self.interval = interval
        self.hits: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = str(os.getpid())
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or pid == me:
                    continue
                with contextlib.suppress(OSError):
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        argv = fh.read()
                    if self.needle in argv:
                        self.hits.append(argv.replace(b"\0", b" ").decode("utf-8", "replace"))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def files_containing(needle: str, roots: list[Path], since: float) -> Iterator[Path]:
    """Files under `roots` modified at or after `since` whose bytes contain `needle`."""
    data = needle.encode()
    for root in roots:
        if root.is_file():
            if root.stat().st_mtime >= since and data in root.read_bytes():
                yield root
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in (".git", ".nox", ".venv", "node_modules")]
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                    if st.st_mtime < since or not path.is_file():
                        continue
                    if data in path.read_bytes():
                        yield path
                except OSError:
                    continue


# ------------------------------------------------------------------------------------ a node with an engine

DOCKER_NODE_CONTEXT = ROOT / "tests" / "docker" / "docker-node"
DOCKER_NODE_TAG = "colab-test/docker-node:bookworm"
# Every capability but SYS_RESOURCE (this machine's engine cannot grant it, so --privileged fails here),
# no seccomp/AppArmor, all devices: what dockerd needs inside a container.
DIND_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
]  # fmt: skip


def build_docker_node_image(base: str, echo: images.Echo) -> str:
    """colab-test/node plus docker.io (tests/docker/docker-node/), cached by its recipe like the others."""
    recipe = images._recipe(images._tree_digest(DOCKER_NODE_CONTEXT), images.image_id(base))
    if images._is_current(DOCKER_NODE_TAG, recipe, echo):
        return DOCKER_NODE_TAG
    with images._build_lock(DOCKER_NODE_TAG):
        if not images._is_current(DOCKER_NODE_TAG, recipe, echo):
            images._docker_build(DOCKER_NODE_CONTEXT, DOCKER_NODE_TAG, recipe, echo, {"BASE": base})
    return DOCKER_NODE_TAG
