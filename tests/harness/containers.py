"""Drive the engine and the test containers: engine checks, `docker exec`, SSH keys and readiness.

Everything here talks only to the local Docker engine and to loopback addresses (checked with the
project's network guard before any SSH attempt).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from colab import inventory, netguard

COMPOSE_DIR = Path(__file__).resolve().parents[1] / "docker"
NODE_COMPOSE_FILE = COMPOSE_DIR / "node" / "compose.yaml"
NODE_SERVICE = "node"


def docker(
    *args: str, input: bytes | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """Run `docker ARGS…` and capture its output; raise with the command's stderr when check fails."""
    proc = subprocess.run(["docker", *args], input=input, capture_output=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip() or proc.stdout.decode("utf-8", "replace").strip()
        raise RuntimeError(f"`docker {shlex.join(args)}` failed with exit {proc.returncode}: {err}")
    return proc


def engine_endpoint() -> str:
    """The engine the docker client would talk to ($DOCKER_HOST or the current context); contacts nothing."""
    proc = docker("context", "inspect", "--format", "{{.Endpoints.docker.Host}}", check=False, timeout=20)
    return proc.stdout.decode().strip() if proc.returncode == 0 else os.environ.get("DOCKER_HOST", "")


def engine_problem(timeout: float = 20) -> str | None:
    """None when a local engine answers `docker info` and compose v2 is there, else what is wrong (one line).

    The engine must be local (a unix socket, or TCP on loopback): containers publish their ports on this
    machine's loopback addresses, and the tests may contact nothing else.
    """
    try:
        endpoint = engine_endpoint()
    except FileNotFoundError:
        return "the docker client is not installed (scripts/ci-setup installs it)"
    if endpoint and not endpoint.startswith("unix://"):
        host = urllib.parse.urlsplit(endpoint).hostname or ""
        if not netguard.is_allowed(host):
            return f"the docker client points at {endpoint}; the tests need the local engine (unset DOCKER_HOST)"
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=timeout)
    except FileNotFoundError:
        return "the docker client is not installed (scripts/ci-setup installs it)"
    except subprocess.TimeoutExpired:
        return f"`docker info` did not answer within {timeout:.0f}s"
    out = info.stdout.decode().strip()
    if info.returncode != 0 or not out:
        last = (info.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        return f"the Docker engine does not answer ({last}); start it, e.g. with scripts/ci-setup"
    compose = docker("compose", "version", "--short", check=False, timeout=timeout)
    version = compose.stdout.decode().strip().lstrip("v")
    if compose.returncode != 0 or not version.startswith("2."):
        return "Docker Compose v2 (`docker compose`) is missing (scripts/ci-setup installs it)"
    return None


def docker_exec(
    container: str,
    *argv: str,
    user: str | None = None,
    input: bytes | None = None,
    check: bool = True,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Run argv inside a running container (as root unless `user` is given)."""
    opts = ["-i"] if input is not None else []
    if user:
        opts += ["--user", user]
    return docker("exec", *opts, container, *argv, input=input, check=check, timeout=timeout)


def compose(
    files: Sequence[str | Path], project: str, *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    flags: list[str] = []
    for f in files:
        flags += ["-f", str(f)]
    return docker("compose", *flags, "-p", project, *args, check=check, timeout=timeout)


def compose_container_id(files: Sequence[str | Path], project: str, service: str) -> str:
    ids = compose(files, project, "ps", "-q", service).stdout.decode().split()
    if len(ids) != 1:
        raise RuntimeError(f"expected one container for service {service!r} in project {project!r}, found {ids}")
    return ids[0]


def container_name(container: str) -> str:
    return docker("inspect", "--format", "{{.Name}}", container).stdout.decode().strip().lstrip("/")


# ------------------------------------------------------------------------------------------------ ssh


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path

    @property
    def public_text(self) -> str:
        return self.public.read_text().strip()


def make_keypair(directory: Path, name: str = "id_ed25519", comment: str = "colab-tests") -> KeyPair:
    """A fresh passphrase-less ed25519 key pair in `directory`."""
    private = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(private)],
        check=True,
        capture_output=True,
    )
    private.chmod(0o600)
    return KeyPair(private, directory / f"{name}.pub")


def known_hosts_line(container: str, host: str, port: int, key: str = "/etc/ssh/ssh_host_ed25519_key.pub") -> str:
    """A known_hosts entry for the container's host key as reached at host:port (read with docker exec)."""
    keytype, blob = docker_exec(container, "cat", key).stdout.decode().split()[:2]
    where = host if port == 22 else f"[{host}]:{port}"
    return f"{where} {keytype} {blob}\n"


def ssh_options(known_hosts: Path) -> list[str]:
    """Options for reaching a test container: its pinned host key, only the given identity, quiet."""
    return [
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "LogLevel=ERROR",
    ]


def ssh_argv(host: str, port: int, user: str, key: Path, known_hosts: Path, *command: str) -> list[str]:
    return [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        *ssh_options(known_hosts),
        "-i",
        str(key),
        "-p",
        str(port),
        f"{user}@{host}",
        *command,
    ]


def wait_for_ssh(
    host: str, port: int, user: str, key: Path, known_hosts: Path, timeout: float = 60, interval: float = 0.5
) -> float:
    """Poll `ssh … true` until it succeeds; returns the seconds it took, raises TimeoutError otherwise."""
    netguard.ensure_allowed(host, "wait for SSH")
    started = time.monotonic()
    last = ""
    while True:
        try:
            proc = subprocess.run(
                ssh_argv(host, port, user, key, known_hosts, "true"), capture_output=True, timeout=10, check=False
            )
            if proc.returncode == 0:
                return time.monotonic() - started
            last = proc.stderr.decode("utf-8", "replace").strip()
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"SSH to {user}@{host}:{port} did not answer within {timeout:.0f}s: {last}")
        time.sleep(interval)


# ------------------------------------------------------------------------------------------ inventories


def write_inventory(source: Path, dest: Path, node: str, **fields: str | int) -> Path:
    """Copy an inventory (comments kept) with some of one node's fields replaced, e.g. ssh_port."""
    doc = tomlkit.parse(source.read_text(encoding="utf-8"))
    table = doc["nodes"][node]
    for key, value in fields.items():
        table[key] = value
    dest.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return dest


@dataclass(frozen=True)
class NodeContainer:
    """A running node container reachable over SSH on a loopback address."""

    node: str  # its name in the inventory
    host: str  # loopback address its sshd is published on (the node's mesh address)
    port: int
    user: str
    key: Path
    known_hosts: Path
    container_id: str
    container_name: str
    hostname: str
    project: str

    @property
    def ssh_opts(self) -> str:
        """Value for $COLAB_SSH_OPTS."""
        return shlex.join(ssh_options(self.known_hosts))

    def exec(
        self, *argv: str, user: str | None = None, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run argv in the container with `docker exec` (root unless `user`), bypassing SSH."""
        return docker_exec(self.container_id, *argv, user=user, input=input, check=check)

    def ssh(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run a command over SSH as the node user, the way an operator would."""
        argv = ssh_argv(self.host, self.port, self.user, self.key, self.known_hosts, *command)
        return subprocess.run(argv, capture_output=True, check=check, timeout=60)

    def write_inventory(self, source: Path, dest: Path) -> Path:
        """`source` with this node reached at host:port as user (its addresses stay as written).

        The container is published on the node's own mesh address, so the copy stays a valid loopback
        inventory and `runner_for()` (which dials mesh:ssh_port) reaches the container.
        """
        write_inventory(source, dest, self.node, ssh_port=self.port, ssh_user=self.user)
        mesh = str(inventory.load(dest).node(self.node).mesh)
        if mesh != self.host:
            raise ValueError(f"{source}: node {self.node} has mesh {mesh}, but the container listens on {self.host}")
        return dest
