"""Integration fixtures: the Docker engine, the locally built test images, and an SSH-reachable node.

`node_container` starts colab-test/node through pytest-docker (tests/docker/node/compose.yaml) with sshd
published on the inventory node's own loopback mesh address (127.0.20.2 for `director` in
tests/fixtures/inventories/loopback.toml) and a random host port, waits until `ssh … true` works, and
points the runner at it with $COLAB_SSH_KEY / $COLAB_SSH_OPTS for the session. `node_inventory` writes a
copy of loopback.toml whose `director` has that port, so `runner_for(inv, inv.node("director"))` reaches
the container over real SSH.

Outside CI a missing engine or tool skips these tests with the reason; with CI=true it fails them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from colab import inventory
from colab.runner import ENV_SSH_KEY, ENV_SSH_OPTS
from tests.conftest import require_tool, unavailable
from tests.harness import containers, images
from tests.harness.containers import KeyPair, NodeContainer

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK_INVENTORY = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"
NODE_NAME = "director"
NODE_USER = "crtr"


@contextlib.contextmanager
def _live_output(config: pytest.Config) -> Iterator[images.Echo]:
    """Echo build progress straight to the terminal, even while pytest captures output."""
    capman = config.pluginmanager.getplugin("capturemanager")
    started = False

    def echo(line: str) -> None:
        nonlocal started
        if not started:  # start below pytest's "test_x.py::test_name " line
            images.stderr_echo("")
            started = True
        images.stderr_echo(line)

    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        yield echo


def _build(config: pytest.Config, builder: Callable[..., str]) -> str:
    try:
        with _live_output(config) as echo:
            tag = builder(echo=echo)
        return tag
    except images.MissingToolError as e:
        require_tool(e.tool)
        raise


# ---------------------------------------------------------------------------------------------- engine


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The engine answers and compose v2 is installed; else skip (fail in CI). Returns the server version."""
    require_tool("docker")
    problem = containers.engine_problem()
    if problem:
        unavailable(problem)
    return containers.docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()


@pytest.fixture(scope="session")
def node_image(docker_engine: str, pytestconfig: pytest.Config) -> str:
    return _build(pytestconfig, images.build_node_image)


@pytest.fixture(scope="session")
def busybox_image(docker_engine: str, pytestconfig: pytest.Config) -> str:
    return _build(pytestconfig, images.build_busybox_image)


@pytest.fixture(scope="session")
def ssh_keypair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    require_tool("ssh", "ssh-keygen")
    return containers.make_keypair(tmp_path_factory.mktemp("ssh"))


# ------------------------------------------------------------------------------ pytest-docker overrides


@pytest.fixture(scope="session")
def node_address() -> str:
    """Where the node's sshd is published: the node's mesh address in the loopback inventory."""
    return str(inventory.load(LOOPBACK_INVENTORY).node(NODE_NAME).mesh)


@pytest.fixture(scope="session")
def node_compose_env(node_image: str, ssh_keypair: KeyPair, node_address: str) -> Iterator[dict[str, str]]:
    """Variables tests/docker/node/compose.yaml reads; set for the whole session (also for `down`)."""
    values = {
        "COLAB_TEST_NODE_IMAGE": node_image,
        "COLAB_TEST_NODE_HOSTNAME": NODE_NAME,
        "COLAB_TEST_AUTHORIZED_KEYS": ssh_keypair.public_text,
        "COLAB_TEST_SSH_BIND": node_address,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            mp.setenv(key, value)
        yield values


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    return "docker compose"  # v2 plugin, never docker-compose v1


@pytest.fixture(scope="session")
def docker_compose_file(node_compose_env: dict[str, str]) -> list[str]:
    return [str(containers.NODE_COMPOSE_FILE)]


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return f"colab-test-{os.getpid()}"


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["up -d --wait --wait-timeout 60"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v --remove-orphans -t 1"]


# -------------------------------------------------------------------------------------------------- node


@pytest.fixture(scope="session")
def node_container(
    request: pytest.FixtureRequest,
    docker_engine: str,
    ssh_keypair: KeyPair,
    node_address: str,
    docker_compose_file: list[str],
    docker_compose_project_name: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[NodeContainer]:
    """A running colab-test/node reachable as crtr@<mesh>:<port>; $COLAB_SSH_KEY/$COLAB_SSH_OPTS point at it."""
    files, project = docker_compose_file, docker_compose_project_name
    try:
        services = request.getfixturevalue("docker_services")
    except Exception:
        # pytest-docker only runs `down` after a successful `up`: remove what a failed `up` left behind.
        containers.compose(files, project, "down", "-v", "--remove-orphans", "-t", "1", check=False)
        raise
    port = services.port_for(containers.NODE_SERVICE, 22)
    cid = containers.compose_container_id(files, project, containers.NODE_SERVICE)
    known_hosts = tmp_path_factory.mktemp("ssh-known-hosts") / "known_hosts"
    known_hosts.write_text(containers.known_hosts_line(cid, node_address, port))
    node = NodeContainer(
        node=NODE_NAME,
        host=node_address,
        port=port,
        user=NODE_USER,
        key=ssh_keypair.private,
        known_hosts=known_hosts,
        container_id=cid,
        container_name=containers.container_name(cid),
        hostname=NODE_NAME,
        project=project,
    )
    containers.wait_for_ssh(node.host, node.port, node.user, node.key, node.known_hosts, timeout=60)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_SSH_KEY, str(node.key))
        mp.setenv(ENV_SSH_OPTS, node.ssh_opts)
        yield node


@pytest.fixture
def node_inventory(node_container: NodeContainer, tmp_path: Path) -> Path:
    """loopback.toml with `director` reached at the container's port (addresses unchanged)."""
    return node_container.write_inventory(LOOPBACK_INVENTORY, tmp_path / "inventory.toml")
