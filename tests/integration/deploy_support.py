"""Helpers for the deploy integration tests: a test inventory in tmp, test services, argv sampling, cleanup."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

from tests.harness import images
from tests.harness.inv import run_inv, start_inv

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

    def fortress_untouched(self) -> bool:
        """The server's fortress holds its folders and nothing in them: no deploy wrote anything."""
        return all(not any(folder.iterdir()) for folder in self.server_fortress.iterdir())

    def compose_dir(self, service: str) -> Path:
        return self.root / "compose" / service

    def inv(
        self, *args: str, timeout: float = 180, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`inv ARGS` with this cluster's inventory, run as if on cooperator (the node its services are on)."""
        return run_inv(*args, node="cooperator", inventory=self.inventory, timeout=timeout, env=env)

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> Running:
        """The same, left running while the test acts (see Running)."""
        return Running(start_inv(*args, node="cooperator", inventory=self.inventory, env=env))


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
    for folder in doc["fortress"]["folders"]:  # type: ignore[index,union-attr]
        (root / "fortress-server" / str(folder)).mkdir(parents=True, exist_ok=True)  # as `inv fortress.share` does
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
DOCKER_NODE_TAG = "colab-test/docker-node:trixie"
# Every capability but SYS_RESOURCE (this machine's engine cannot grant it, so --privileged fails here),
# no seccomp/AppArmor, all devices: what dockerd needs inside a container.
DIND_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
]  # fmt: skip


def build_docker_node_image(base: str, echo: images.Echo) -> str:
    """colab-test/node plus docker.io (tests/docker/docker-node/), cached by its recipe like the others."""
    return images.context_image(DOCKER_NODE_TAG, DOCKER_NODE_CONTEXT, base, echo=echo)


# ------------------------------------------------------------------------------ faults at known points

# Shims put first on PATH of a deploy under test. With COLAB_TEST_STOP naming their stage, each writes its pid
# to $COLAB_TEST_MARKS/<stage> at a known point and stops itself (SIGSTOP) until continued: `sync` just
# before tar unpacks, `swap` right after the live folder was renamed to .<name>.colab-old. Otherwise they
# only run the real tool.
SHIMS = {
    "tar": """#!/bin/sh
if [ "${{COLAB_TEST_STOP:-}}" = sync ]; then
  case " $* " in *" -x "*) echo $$ > "$COLAB_TEST_MARKS/sync"; kill -STOP $$ ;; esac
fi
exec {real} "$@"
""",
    "mv": """#!/bin/sh
{real} "$@" || exit $?
if [ "${{COLAB_TEST_STOP:-}}" = swap ]; then
  case "$2" in *.colab-old) echo $$ > "$COLAB_TEST_MARKS/swap"; kill -STOP $$ ;; esac
fi
""",
}


def write_shims(folder: Path) -> Path:
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in SHIMS.items():
        real = shutil.which(name)
        assert real, name
        path = folder / name
        path.write_text(text.format(real=real))
        path.chmod(0o755)
    return folder


def wait_for(predicate: Callable[[], object], timeout: float = 60, what: str = "condition") -> None:
    """Poll `predicate` every 20 ms until it is true; fail the test after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def marker(marks: Path, stage: str) -> int | None:
    """The pid a shim wrote when it reached `stage` (None before)."""
    path = marks / stage
    text = path.read_text() if path.exists() else ""
    return int(text) if text.endswith("\n") else None


class Running:
    """An `inv` started in a process group of its own, its output collected line by line as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc  # from start_inv: in a session of its own, stdout and stderr on pipes
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def printed(self, text: str) -> bool:
        return any(text in line for line in self.out + self.err)

    def signal_group(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        rc = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=10)
        return rc, "".join(self.out), "".join(self.err)


class EngineProxy:
    """A Unix socket in front of the Docker engine that can hold every request after the first one matching
    `hold_after` (a regex on the request line): a deterministic point inside `docker compose up`, e.g. right
    after Compose renamed the old container during a recreate. `held` is set once that request went through;
    `release()` lets everything pass again, `close()` drops what is held. Responses are copied untouched."""

    def __init__(self, path: Path, hold_after: str, upstream: str = "/var/run/docker.sock") -> None:
        import re
        import socket

        self.path, self.upstream = path, upstream
        self.pattern = re.compile(hold_after)
        self.held = threading.Event()
        self._closed = False
        self._go = threading.Event()
        self._go.set()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def release(self) -> None:
        self._go.set()

    def close(self) -> None:
        """Stop: requests still held are dropped, never sent (their client may be dead by now)."""
        self._closed = True
        self._go.set()
        with contextlib.suppress(OSError):
            self._server.close()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self.upstream)
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._copy, args=(server, client), daemon=True).start()

    @staticmethod
    def _copy(src: Any, dst: Any) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(1)

    def _requests(self, client: Any, server: Any) -> None:
        reader = client.makefile("rb")
        try:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                self._go.wait()
                if self._closed:
                    return
                server.sendall(head)
                request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (h.partition(":") for h in head.decode("latin-1").split("\r\n")[1:] if h)
                }
                if "upgrade" in headers.get("connection", "").lower():
                    self._copy(client, server)  # a hijacked stream (attach, exec): bytes from now on
                    return
                if "content-length" in headers:
                    server.sendall(reader.read(int(headers["content-length"])))
                elif "chunked" in headers.get("transfer-encoding", "").lower():
                    while True:
                        size_line = reader.readline()
                        server.sendall(size_line)
                        size = int(size_line.split(b";")[0].strip() or b"0", 16)
                        server.sendall(reader.read(size + 2))
                        if size == 0:
                            break
                if self.pattern.search(request_line) and not self.held.is_set():
                    self._go.clear()
                    self.held.set()
        except OSError:
            return
