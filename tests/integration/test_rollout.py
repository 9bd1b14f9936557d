"""`inv rollout` over real SSH against two Debian node containers set up as bootstrap leaves a node.

Both containers are colab-test/bootstrap-node (tests/docker/bootstrap-node/, as in test_bootstrap.py): the node's
user `crtr` has a checkout of the test repository at `nodes.<node>.repo` (/home/crtr/colab, cloned from
file:///srv/colab.git inside the container), made chezmoi's source by a real `chezmoi init --apply --source`, and
the wheelhouse pip installs the checkout's virtualenv from with no network. The repository is the rendered test
inventory plus the project (`pyproject.toml`, `uv.lock`, `scripts/venv`, `src/`, `tasks/`) and its `cluster.toml`,
in two commits: A, and B, which changes a file chezmoi gives each node. Both checkouts start at A.

director is behind by a commit; builder (a third Debian node of the test inventory) cannot apply: its
`~/.config/colab` belongs to root. `inv rollout --nodes director,builder,writer --commit B`: director is fast-
forwarded, applied, its virtualenv installed from the lock and B recorded; builder's checkout moves, its apply
fails, and the run stops there (writer is not tried) with the summary. Fixed, a second run finishes builder and
finds director up to date; a third changes nothing. An on-demand node that does not answer is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit

from colab import inventory
from colab.render import chezmoi_source, disk
from colab.render.tree import render_tree
from tests.conftest import STANDINS, require_tool
from tests.harness import containers
from tests.harness.containers import KeyPair
from tests.harness.inv import run_inv
from tests.harness.project_copy import copy_project, git
from tests.integration.conftest import LOOPBACK_INVENTORY, _live_output
from tests.integration.test_bootstrap import IDENTITY_SECRET, build_image, wheels_for

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]
USER = "crtr"
HOME = f"/home/{USER}"
CHECKOUT = f"{HOME}/colab"
REPO_URL = "file:///srv/colab.git"
NODES = {"director": "127.0.20.2", "builder": "127.0.20.3"}
ENV_SH = "dot_config/colab/env.sh"


@dataclass(frozen=True)
class Cluster:
    inventory: Path
    names: dict[str, str]  # node -> container
    a: str
    b: str

    def exec(self, node: str, *argv: str, user: str | None = USER, check: bool = True) -> str:
        out = containers.docker_exec(self.names[node], *argv, user=user, check=check, timeout=300)
        return out.stdout.decode()

    def head(self, node: str) -> str:
        return self.exec(node, "git", "-C", CHECKOUT, "rev-parse", "HEAD").strip()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inventory(dest: Path, ports: dict[str, int]) -> Path:
    """loopback.toml with a third Debian node, builder, right after director; the containers' SSH ports."""
    doc = tomlkit.parse(LOOPBACK_INVENTORY.read_text(encoding="utf-8"))
    doc["cluster"]["repo_url"] = REPO_URL  # type: ignore[index]
    nodes = doc["nodes"]
    builder = tomlkit.table()
    builder.update({**nodes["director"], "lan": "127.0.10.30", "mesh": NODES["builder"]})  # type: ignore[index, dict-item]
    ordered = tomlkit.table(is_super_table=True)
    for name in list(nodes):  # type: ignore[union-attr]
        ordered[name] = nodes[name]  # type: ignore[index]
        if name == "director":
            ordered["builder"] = builder
    doc["nodes"] = ordered
    for node, port in ports.items():
        doc["nodes"][node]["ssh_port"] = port  # type: ignore[index]
    doc["nodes"]["projector"]["ssh_port"] = closed_port()  # type: ignore[index]  # on demand, off
    dest.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return dest


def _repo(inv_path: Path, dest: Path) -> tuple[str, str]:
    """The test repository: commit A (rendered tree, project, cluster.toml), then B (each node's env.sh changed)."""
    tree = render_tree(inventory.load(inv_path))
    disk.write_tree(tree, dest)
    copy_project(dest)  # the project itself: what the checkout's virtualenv installs
    shutil.copy2(inv_path, dest / "cluster.toml")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "A")
    a = git(dest, "rev-parse", "HEAD")
    for node in NODES:
        env_sh = dest / chezmoi_source.NODES_PREFIX / node / ENV_SH
        env_sh.write_text(env_sh.read_text() + "# rollout B\n")
    git(dest, "commit", "-q", "-am", "B: a changed env.sh on every node")
    return a, git(dest, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def cluster(
    docker_engine: str,
    node_image: str,
    ssh_keypair: KeyPair,
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    require_tool("ssh", "git", "chezmoi", "mise")
    with _live_output(pytestconfig) as echo:
        image = build_image(node_image, echo)
    wheels = wheels_for(image)
    names = {node: f"colab-test-rollout-{node}-{os.getpid()}" for node in NODES}
    try:
        ports = {}
        for node, address in NODES.items():
            subprocess.run(
                ["docker", "run", "-d", "--name", names[node], "--hostname", node,
                 "-e", f"COLAB_AUTHORIZED_KEYS={ssh_keypair.public_text}", "-p", f"{address}::22", image],
                check=True, capture_output=True,
            )  # fmt: skip
            ports[node] = int(containers.docker("port", names[node], "22/tcp").stdout.decode().split(":")[-1])
        tmp = tmp_path_factory.mktemp("rollout")
        inv_path = _inventory(tmp / "inventory.toml", ports)
        a, b = _repo(inv_path, tmp / "repo")
        chezmoi_bin = Path(shutil.which("chezmoi") or "").resolve()
        mise_bin = Path(shutil.which("mise") or "").resolve()
        known_hosts = tmp / "known_hosts"
        lines = []
        for node, address in NODES.items():
            name = names[node]
            containers.docker("cp", str(chezmoi_bin), f"{name}:/usr/local/bin/chezmoi")
            containers.docker("cp", str(mise_bin), f"{name}:/usr/local/bin/mise")
            containers.docker("cp", str(STANDINS / "infisical"), f"{name}:/opt/colab-standins/infisical")
            containers.docker("cp", str(tmp / "repo"), f"{name}:/srv/colab.git")
            containers.docker("cp", f"{wheels}/.", f"{name}:/opt/wheelhouse")
            containers.docker_exec(
                name, "sh", "-c",
                "chown -R crtr:crtr /srv/colab.git && chmod 0755 /usr/local/bin/chezmoi /usr/local/bin/mise "
                "/opt/colab-standins/infisical && chmod -R a+rX /opt/wheelhouse && "
                "printf '{}' > /etc/colab-test/vault.json && "
                # the machine identity the boot mount logs in with (issue 14), as test_bootstrap gives its node
                'printf "%s\\n" "$1" > /etc/colab-test/identity.sha256 && install -d -m 0700 /etc/colab/infisical && '
                '(umask 077; echo "id-$2" > /etc/colab/infisical/client-id; '
                'printf "%s\\n" "$3" > /etc/colab/infisical/client-secret)',
                "sh", hashlib.sha256(IDENTITY_SECRET.encode()).hexdigest(), node, IDENTITY_SECRET,
            )  # fmt: skip
            # what bootstrap's chezmoi step leaves: the checkout (here at A) as chezmoi's source, applied
            setup = (
                f"git clone -q {REPO_URL} {CHECKOUT} && git -C {CHECKOUT} reset -q --hard {a} && "
                f"COLAB_NODE={node} chezmoi --no-tty --source {CHECKOUT} init --apply {REPO_URL}"
            )
            containers.docker_exec(name, "sh", "-c", setup, user=USER, timeout=300)
            deadline = time.monotonic() + 60
            while containers.docker_exec(
                name, "test", "-s", "/etc/ssh/ssh_host_ed25519_key.pub", check=False
            ).returncode:
                assert time.monotonic() < deadline, "the node made no host key"
                time.sleep(0.2)
            lines.append(containers.known_hosts_line(name, address, ports[node]))
        known_hosts.write_text("".join(lines))
        for node, address in NODES.items():
            containers.wait_for_ssh(address, ports[node], USER, ssh_keypair.private, known_hosts, timeout=60)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("COLAB_SSH_KEY", str(ssh_keypair.private))
            mp.setenv("COLAB_SSH_OPTS", shlex.join(containers.ssh_options(known_hosts)))
            yield Cluster(inv_path, names, a, b)
    finally:
        for name in names.values():
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


def inv_rollout(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """`inv rollout --commit B --json ARGS` from a machine that is none of the nodes."""
    return run_inv("rollout", "--commit", cluster.b, "--json", *args, inventory=cluster.inventory, timeout=900)


def results(res: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, str, str]]:
    return {n["node"]: (n["result"], n["before"], n["after"]) for n in json.loads(res.stdout)["nodes"]}


def steps(res: subprocess.CompletedProcess[str], node: str) -> dict[str, str]:
    return {s["step"]: s["status"] for s in json.loads(res.stdout)["steps"] if s["node"] == node}


def test_rollout_updates_the_node_behind_and_stops_at_the_one_that_cannot_apply(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    venv_step = f"virtualenv {CHECKOUT}/.venv (from {CHECKOUT}/uv.lock)"
    # builder cannot write its ~/.config/colab (root's): chezmoi apply fails there
    cluster.exec("builder", "chown", "-R", "root:root", f"{HOME}/.config/colab", user="root")
    assert (cluster.head("director"), cluster.head("builder")) == (a, a)

    first = inv_rollout(cluster, "--nodes", "director,builder,writer")
    assert first.returncode == 1, first.stdout + first.stderr
    assert results(first) == {
        "director": ("updated", a, b),
        "builder": ("failed", a, b),
        "writer": ("not rolled out", "", ""),
    }
    assert steps(first, "director") == {
        f"checkout {CHECKOUT} at {b[:12]}": "changed",
        "chezmoi apply": "changed",
        venv_step: "changed",
        f"recorded {b[:12]}": "ok",  # no service of director changed: nothing redeployed, B recorded
    }
    assert steps(first, "builder") == {f"checkout {CHECKOUT} at {b[:12]}": "changed", "chezmoi apply": "failed"}
    failed = next(s for s in json.loads(first.stdout)["steps"] if s["status"] == "failed")
    assert "chezmoi --no-tty --source /home/crtr/colab apply` failed" in failed["detail"]
    assert steps(first, "writer") == {"rollout": "skipped"}
    # director: at B, B's files applied, its virtualenv from the lock, B recorded for the next run
    assert cluster.head("director") == b
    assert cluster.exec("director", "tail", "-n", "1", f"{HOME}/.config/colab/env.sh") == "# rollout B\n"
    assert cluster.exec("director", f"{CHECKOUT}/.venv/bin/inv", "--version").startswith("Invoke ")
    assert cluster.exec("director", "python3", f"{CHECKOUT}/scripts/venv", "--check") == ""
    assert cluster.exec("director", "cat", f"{CHECKOUT}/.git/colab-deployed") == b + "\n"
    # builder: its checkout moved to B, the apply did not happen, nothing recorded
    assert cluster.head("builder") == b
    assert "# rollout B" not in cluster.exec("builder", "cat", f"{HOME}/.config/colab/env.sh")
    assert cluster.exec("builder", "test", "-e", f"{CHECKOUT}/.git/colab-deployed", check=False) == ""

    # builder fixed: the next run finds director up to date and finishes builder where it stopped
    cluster.exec("builder", "chown", "-R", f"{USER}:{USER}", f"{HOME}/.config/colab", user="root")
    second = inv_rollout(cluster, "--nodes", "director,builder")
    assert second.returncode == 0, second.stdout + second.stderr
    assert results(second) == {"director": ("up to date", b, b), "builder": ("updated", b, b)}
    assert set(steps(second, "director").values()) == {"ok"}
    assert steps(second, "builder") == {
        f"checkout {CHECKOUT} at {b[:12]}": "ok",
        "chezmoi apply": "changed",
        venv_step: "changed",
        f"recorded {b[:12]}": "ok",
    }
    assert cluster.exec("builder", "tail", "-n", "1", f"{HOME}/.config/colab/env.sh") == "# rollout B\n"

    # and once more: nothing changes anywhere
    third = inv_rollout(cluster, "--nodes", "director,builder")
    assert third.returncode == 0, third.stdout + third.stderr
    assert {s["status"] for s in json.loads(third.stdout)["steps"]} == {"ok"}


def test_an_on_demand_node_that_is_off_is_skipped(cluster: Cluster) -> None:
    res = inv_rollout(cluster, "--nodes", "projector")
    assert res.returncode == 0, res.stdout + res.stderr
    assert results(res) == {"projector": ("skipped", "", "")}
    assert "projector is on demand and offline" in json.loads(res.stdout)["steps"][0]["detail"]


def test_a_dry_run_shows_each_nodes_plan_and_touches_nothing(cluster: Cluster) -> None:
    before = {node: cluster.exec(node, "git", "-C", CHECKOUT, "reflog", "--format=%H") for node in NODES}
    res = run_inv(
        "rollout", "--commit", cluster.b, "--dry-run", "--nodes", "director,builder",
        inventory=cluster.inventory, columns=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    for node in NODES:
        assert f"[{node}] $ git -C {CHECKOUT} merge --ff-only --quiet {cluster.b}" in res.stdout
        assert cluster.exec(node, "git", "-C", CHECKOUT, "reflog", "--format=%H") == before[node]
