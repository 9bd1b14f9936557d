"""Deploying onto another node's engine: DOCKER_HOST=ssh://crtr@<mesh>:<port>, files over SSH.

The node is a container (colab-test/docker-node) running sshd and its own dockerd, published on the
`director` mesh address of the loopback inventory (127.0.20.2) with a random port. We run as `cooperator`,
so deploy reaches director's engine with the Docker CLI's SSH helper and puts the files in director's
fortress folder (/mnt/fortress, a Linux client's mount point) through the runner's SSH transport.

The Docker CLI's SSH helper takes no ssh options (docker/cli#1463); it reads ~/.ssh/config of the passwd
home, not $HOME. So the test puts an `ssh` first on PATH that adds `-F <test config>` (the test key, the
container's pinned host key); deploy itself runs unchanged. The runner's own SSH reads no config file under
the network guard (`-F /dev/null` comes after the shim's), so it gets the same key and options through
$COLAB_SSH_KEY and $COLAB_SSH_OPTS, as in the other SSH tests.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from colab.deploy import lock
from colab.runner import ENV_SSH_KEY, ENV_SSH_OPTS
from tests.conftest import CANARY, FakeInfisical, require_tool
from tests.harness import containers
from tests.harness.containers import KeyPair
from tests.integration.conftest import _live_output
from tests.integration.deploy_support import (
    DIND_FLAGS,
    ArgvWatch,
    TestCluster,
    build_docker_node_image,
    project_containers,
    wait_for,
    web_compose,
    write_cluster,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]

NODE = "director"
ADDRESS = "127.0.20.2"  # director's mesh address in loopback.toml


@dataclass(frozen=True)
class EngineNode:
    container: str
    port: int
    shim_dir: Path  # holds the `ssh` that adds the test's ssh config
    runner_env: dict[str, str]  # COLAB_SSH_KEY / COLAB_SSH_OPTS for the runner's own SSH

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`docker ARGS` against the node's own engine (through docker exec, not SSH)."""
        return subprocess.run(
            ["docker", "exec", self.container, "docker", *args], capture_output=True, text=True, check=check
        )


@pytest.fixture(scope="module")
def engine_node(
    docker_engine: str,
    node_image: str,
    busybox_image: str,
    ssh_keypair: KeyPair,
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EngineNode]:
    require_tool("ssh", "unshare")
    with _live_output(pytestconfig) as echo:
        image = build_docker_node_image(node_image, echo)
    name = f"colab-test-dnode-{os.getpid()}"
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--hostname", NODE, *DIND_FLAGS,
         "-e", f"COLAB_AUTHORIZED_KEYS={ssh_keypair.public_text}", "-p", f"{ADDRESS}::22", image],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        port = int(containers.docker("port", name, "22/tcp").stdout.decode().split(":")[-1])
        deadline = time.monotonic() + 60
        while containers.docker_exec(name, "test", "-s", "/etc/ssh/ssh_host_ed25519_key.pub", check=False).returncode:
            assert time.monotonic() < deadline, "the node made no host key"
            time.sleep(0.2)
        tmp = tmp_path_factory.mktemp("engine-node")
        known_hosts = tmp / "known_hosts"
        known_hosts.write_text(containers.known_hosts_line(name, ADDRESS, port))
        containers.wait_for_ssh(ADDRESS, port, "crtr", ssh_keypair.private, known_hosts, timeout=60)
        while containers.docker_exec(name, "docker", "info", check=False).returncode:
            if time.monotonic() > deadline:
                log = containers.docker_exec(name, "tail", "-20", "/var/log/dockerd.log", check=False).stdout.decode()
                pytest.fail(f"the node's dockerd did not start:\n{log}")
            time.sleep(0.5)
        saved = containers.docker("save", busybox_image).stdout  # no registry: hand the image over
        containers.docker_exec(name, "docker", "load", input=saved, timeout=120)
        config = tmp / "ssh_config"
        options = containers.ssh_options(known_hosts)
        lines = [f"Host {ADDRESS}", f"  IdentityFile {ssh_keypair.private}", "  BatchMode yes"]
        lines += [f"  {options[i + 1].replace('=', ' ', 1)}" for i in range(0, len(options), 2)]
        config.write_text("\n".join(lines) + "\n")
        shim = tmp / "bin"
        shim.mkdir()
        (shim / "ssh").write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F "{config}" "$@"\n')
        (shim / "ssh").chmod(0o755)
        runner_env = {ENV_SSH_KEY: str(ssh_keypair.private), ENV_SSH_OPTS: shlex.join(options)}
        yield EngineNode(name, port, shim, runner_env)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


@pytest.fixture
def remote_cluster(
    tmp_path: Path, engine_node: EngineNode, fake_infisical: FakeInfisical, monkeypatch: pytest.MonkeyPatch
) -> TestCluster:
    tag = f"r{os.getpid()}"
    name = f"web-{tag}"
    cluster = write_cluster(
        tmp_path, tag, {name: {"node": NODE, "secrets": ["TEST_SECRET"]}}, "10.221.0.0/24",
        client_fortress="/mnt/fortress", nodes={NODE: {"ssh_port": engine_node.port}},
    )  # fmt: skip
    cluster.compose_dir(name).joinpath("compose.yaml").write_text(web_compose())
    fake_infisical.set("/web", TEST_SECRET=CANARY)
    monkeypatch.setenv("PATH", f"{engine_node.shim_dir}{os.pathsep}{os.environ['PATH']}")
    for key, value in engine_node.runner_env.items():
        monkeypatch.setenv(key, value)
    return cluster


def test_deploy_to_another_nodes_engine_over_ssh(remote_cluster: TestCluster, engine_node: EngineNode) -> None:
    name = remote_cluster.services[0]
    with ArgvWatch(CANARY) as watch:
        first = remote_cluster.inv("deploy", "--service", name, "--json", "--wait-timeout", "60")
    assert first.returncode == 0, first.stdout + first.stderr
    assert watch.hits == [], watch.hits
    steps = {s["step"]: (s["node"], s["status"]) for s in json.loads(first.stdout)["steps"]}
    assert steps == {
        f"lock {name}": (NODE, "ok"),  # taken on the target node, over SSH
        f"recover {name}": (NODE, "ok"),
        f"files /mnt/fortress/docker/{name}": (NODE, "changed"),
        f"network {remote_cluster.network}": ("cooperator", "changed"),
        f"compose up {name}": ("cooperator", "changed"),
        f"record {name}": (NODE, "changed"),
    }
    state = containers.docker_exec(engine_node.container, "ls", "-A", f"/mnt/fortress/docker/.{name}.colab")
    assert state.stdout.decode().split() == ["current", "deployments", "lock"]  # the holder line went on release

    # the service runs on the node's engine, not here
    assert project_containers(name) == {}
    ps = engine_node.docker("ps", "--filter", f"label=com.docker.compose.project={name}", "--format",
                            "{{.ID}} {{.Status}}").stdout.split("\n")[0]  # fmt: skip
    cid, status = ps.split(" ", 1)
    assert "(healthy)" in status
    seen = engine_node.docker("exec", cid, "sh", "-c", 'echo "$TEST_SECRET"').stdout.strip()
    assert seen == CANARY
    # files and data on the node's fortress (paths of the target, not of this machine)
    listed = containers.docker_exec(engine_node.container, "cat", f"/mnt/fortress/docker/{name}/compose.yaml")
    assert listed.stdout.decode() == web_compose()
    written = containers.docker_exec(engine_node.container, "cat", f"/mnt/fortress/data/{name}/written")
    assert written.stdout.decode() == "written\n"
    assert not Path("/mnt/fortress/docker", name).exists()

    # second deploy: nothing changes
    inspect = ["inspect", "--format", "{{.Id}} {{.Created}}", cid]
    before = engine_node.docker(*inspect).stdout
    second = remote_cluster.inv("deploy", "--service", name, "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    assert {s["status"] for s in json.loads(second.stdout)["steps"]} == {"ok"}
    assert engine_node.docker(*inspect).stdout == before

    status = remote_cluster.inv("deploy.status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert [(r["node"], r["state"], r["health"]) for r in json.loads(status.stdout)] == [(NODE, "running", "healthy")]
    assert json.loads(status.stdout)[0]["deployment"].startswith("#1 (deploy, ")  # read on the node over SSH
    down = remote_cluster.inv("deploy.down", "--service", name)
    assert down.returncode == 0, down.stdout + down.stderr
    assert engine_node.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={name}").stdout == ""


def test_a_run_on_the_target_node_holds_the_lock_against_a_deploy_from_another(
    remote_cluster: TestCluster, engine_node: EngineNode
) -> None:
    """The lock lives on the target: someone changing the service on director itself (the very holder a deploy
    started there runs, as its user) stops a deploy from cooperator with who holds it, or queues it (--wait)."""
    name = remote_cluster.services[0]
    state = f"/mnt/fortress/docker/.{name}.colab"
    holder = subprocess.Popen(
        ["docker", "exec", "-i", "--user", "crtr", engine_node.container, *lock.holder_argv(state, wait=False)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("verb=deploy node=director user=crtr pid=4242 since=2024-06-01T10:00:00+02:00\n")
        holder.stdin.flush()
        assert holder.stdout.readline().startswith("locked"), holder.stderr.read() if holder.stderr else ""
        busy = remote_cluster.inv("deploy", "--service", name)
        assert busy.returncode == 1
        assert busy.stderr.strip() == (
            f"error: {name} on {NODE} is locked by deploy by crtr on director (pid 4242, since "
            "2024-06-01T10:00:00+02:00); wait for it to finish, or pass --wait to queue"
        )
        assert engine_node.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={name}").stdout == ""
        queued = remote_cluster.start("deploy", "--service", name, "--wait", "--json")
        wait_for(lambda: queued.printed(f"waiting: {name} on {NODE} is locked by deploy by crtr on director"),
                 what="the deploy from cooperator to wait for director's lock")  # fmt: skip
        holder.stdin.write("release\n")
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
        rc, out, err = queued.finish()
    finally:
        if holder.poll() is None:
            holder.kill()
    assert rc == 0, out + err
    lock_step = next(s for s in json.loads(out)["steps"] if s["step"] == f"lock {name}")
    assert lock_step["detail"].startswith("waited for deploy by crtr on director (pid 4242, ")
    assert remote_cluster.inv("deploy.down", "--service", name).returncode == 0
