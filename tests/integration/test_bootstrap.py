"""`inv bootstrap --node director` over real SSH against a Debian node container (Molecule-style).

The node is colab-test/bootstrap-node (tests/docker/bootstrap-node/): colab-test/node with git, curl and
cifs-utils, hostname `director`, sshd published on director's mesh address in the loopback inventory
(127.0.20.2) with a random port. What cannot run in a container runs against stand-ins that record what
they were asked (argv, uid, names of the environment) in /var/log/colab-standins/calls.jsonl:
`tailscale` (mesh join; it checks the pre-auth key it reads from --auth-key=file:/dev/stdin by sha256),
`systemctl` (no systemd; its start of the fortress mount checks the node's machine identity, as the boot unit
would log in with it), `mount` (no kernel CIFS: it adds the share to the mount table once the mount unit was
started), `apt-get` (its install of docker.io puts a `docker` stand-in in
place). chezmoi and mise are the host's real binaries; the repository chezmoi clones is the rendered tree
of the test inventory plus the project (pyproject.toml, src/, tasks/), a git repository in the container
(file:///srv/colab.git), and it clones it into director's checkout (`nodes.director.repo`, /home/crtr/colab),
where the mise tasks run `inv`. The venv step makes the checkout's virtualenv for real with the node's own
Debian python3 (the checkout's `scripts/venv`: python3 -m venv, pip install --require-hashes of uv.lock's pins,
the checkout editable) with no network: pip reads /etc/pip.conf (no index, find-links /opt/wheelhouse), and the
wheelhouse (tests/harness/wheelhouse.py) holds the lock's files plus a newer decoy of one pinned package.

Converge with the key missing in Infisical (fails at the mesh join, the rest skipped), then with it
(continues), then once more: nothing changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit

from colab import inventory
from colab.checkout_venv import canonical
from colab.render import chezmoi_source, disk, mise_tasks
from colab.render.tree import render_tree
from tests.conftest import CANARY, STANDINS, FakeInfisical, require_tool, unavailable
from tests.harness import containers, images, wheelhouse
from tests.harness.containers import KeyPair
from tests.harness.inv import run_inv
from tests.harness.project_copy import copy_project, git
from tests.integration.conftest import LOOPBACK_INVENTORY, _live_output
from tests.integration.deploy_support import ArgvWatch

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = ROOT / "tests" / "docker" / "bootstrap-node"
TAG = "colab-test/bootstrap-node:trixie"
NODE = "director"
USER = "crtr"
HOME = f"/home/{USER}"
CHECKOUT = f"{HOME}/colab"  # nodes.director.repo in the loopback inventory: chezmoi's source on the node
REPO_URL = "file:///srv/colab.git"
FORTRESS_PASSWORD = "fortress-test-password-3b8c"  # the node's own test vault; not the canary
IDENTITY_SECRET = "machine-identity-secret-5d2e"  # the node's Universal Auth client secret (root-only there)
CALLS = "/var/log/colab-standins/calls.jsonl"
# Probes that change nothing; the rest of the stand-in log is compared exactly.
READ_ONLY = (["ip", "-4"], ["is-active"], ["is-enabled"], ["compose", "version"], ["info"])
VENV = f"{CHECKOUT}/.venv"
VENV_STEP = f"venv: virtualenv {VENV} (from {CHECKOUT}/uv.lock)"
# what scripts/venv and `inv` need


def wheels_for(image: str) -> Path:
    """The wheelhouse for the node image's own python3 (version and machine asked of the image)."""
    probe = "import platform, sys; print(f'{sys.version_info[0]}.{sys.version_info[1]} {platform.machine()}')"
    out = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python3", image, "-c", probe],
                         capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    version, machine = out.stdout.split()
    try:
        return wheelhouse.build(version, machine)
    except wheelhouse.WheelhouseError as e:
        unavailable(str(e))


def build_image(base: str, echo: images.Echo) -> str:
    return images.context_image(TAG, CONTEXT, base, echo=echo)


@dataclass(frozen=True)
class Node:
    container: str
    port: int
    inventory: Path
    tree: dict[str, bytes]
    inv: inventory.Inventory

    def exec(self, *argv: str, user: str | None = None, check: bool = True) -> str:
        out = containers.docker_exec(self.container, *argv, user=user, check=check, timeout=120)
        return out.stdout.decode()

    def calls(self) -> list[dict[str, object]]:
        text = self.exec("sh", "-c", f"cat {CALLS} 2>/dev/null || true")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def bootstrap(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`inv bootstrap --node <this node> --json ARGS`, run as if on cooperator (this node is reached over SSH)."""
        return run_inv("bootstrap", "--node", NODE, "--json", *args, node="cooperator", inventory=self.inventory,
                       timeout=300)  # fmt: skip


def _changes(calls: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """(command, argv, uid) of every call that is not a read-only probe; mount listings excluded."""
    out = []
    for c in calls:
        argv = c["argv"]
        assert isinstance(argv, list)
        if c["cmd"] == "mount" or any(argv[: len(p)] == p for p in READ_ONLY):
            continue
        if c["cmd"] == "systemctl" and argv[:1] in (["is-active"], ["is-enabled"], ["show"]):
            continue
        out.append((c["cmd"], " ".join(argv), c["uid"]))
    return out


def _write_inventory(dest: Path, port: int) -> Path:
    doc = tomlkit.parse(LOOPBACK_INVENTORY.read_text(encoding="utf-8"))
    doc["cluster"]["repo_url"] = REPO_URL  # type: ignore[index]
    doc["nodes"][NODE]["ssh_port"] = port  # type: ignore[index]
    doc["nodes"][NODE]["ssh_user"] = USER  # type: ignore[index]
    dest.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return dest


def _git_repo(tree: dict[str, bytes], dest: Path) -> None:
    disk.write_tree(tree, dest)
    copy_project(dest)  # the project itself: what the checkout's virtualenv installs
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "rendered test inventory")


@pytest.fixture(scope="module")
def node(
    docker_engine: str,
    node_image: str,
    ssh_keypair: KeyPair,
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Node]:
    require_tool("ssh", "git", "chezmoi", "mise")
    with _live_output(pytestconfig) as echo:
        image = build_image(node_image, echo)
    wheels = wheels_for(image)
    address = str(inventory.load(LOOPBACK_INVENTORY).node(NODE).mesh)
    name = f"colab-test-bootstrap-{os.getpid()}"
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--hostname", NODE,
         "-e", f"COLAB_AUTHORIZED_KEYS={ssh_keypair.public_text}", "-p", f"{address}::22", image],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        port = int(containers.docker("port", name, "22/tcp").stdout.decode().split(":")[-1])
        tmp = tmp_path_factory.mktemp("bootstrap")
        inv_path = _write_inventory(tmp / "inventory.toml", port)
        inv = inventory.load(inv_path)
        tree = render_tree(inv)
        repo = tmp / "repo"
        _git_repo(tree, repo)
        # the real chezmoi and mise, the Infisical stand-in, the repository chezmoi clones
        mise_bin = Path(shutil.which("mise") or "").resolve()
        chezmoi_bin = Path(shutil.which("chezmoi") or "").resolve()
        containers.docker("cp", str(chezmoi_bin), f"{name}:/usr/local/bin/chezmoi")
        containers.docker("cp", str(mise_bin), f"{name}:/usr/local/bin/mise")
        containers.docker("cp", str(STANDINS / "infisical"), f"{name}:/opt/colab-standins/infisical")
        containers.docker("cp", str(repo), f"{name}:/srv/colab.git")
        containers.docker("cp", f"{wheels}/.", f"{name}:/opt/wheelhouse")
        vault = {"project": inv.infisical.project_id, "envs": {inv.infisical.environment: {
            inv.fortress.password_path: {inv.fortress.users["crtr"]: FORTRESS_PASSWORD}}}}  # fmt: skip
        setup = (
            'printf "%s" "$1" > /etc/colab-test/vault.json && chmod 0644 /etc/colab-test/vault.json && '
            'printf "%s\\n" "$2" > /etc/colab-test/authkey.sha256 && '
            'printf "%s\\n" "$3" > /etc/colab-test/identity.sha256 && '
            "install -d -m 0700 /etc/colab/infisical && (umask 077; echo id-director > /etc/colab/infisical/client-id; "
            'printf "%s\\n" "$5" > /etc/colab/infisical/client-secret) && '
            'printf "%s\\n" "$4" > /etc/colab-test/mesh-ip && chown -R crtr:crtr /srv/colab.git && '
            "chmod 0755 /usr/local/bin/chezmoi /usr/local/bin/mise /opt/colab-standins/infisical && "
            "chmod -R a+rX /opt/wheelhouse"
        )
        containers.docker_exec(
            name, "sh", "-c", setup, "sh", json.dumps(vault), hashlib.sha256(CANARY.encode()).hexdigest(),
            hashlib.sha256(IDENTITY_SECRET.encode()).hexdigest(), address, IDENTITY_SECRET,
        )  # fmt: skip
        known_hosts = tmp / "known_hosts"
        deadline = time.monotonic() + 60
        while containers.docker_exec(name, "test", "-s", "/etc/ssh/ssh_host_ed25519_key.pub", check=False).returncode:
            assert time.monotonic() < deadline, "the node made no host key"
            time.sleep(0.2)
        known_hosts.write_text(containers.known_hosts_line(name, address, port))
        containers.wait_for_ssh(address, port, USER, ssh_keypair.private, known_hosts, timeout=60)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("COLAB_SSH_KEY", str(ssh_keypair.private))
            mp.setenv("COLAB_SSH_OPTS", shlex.join(containers.ssh_options(known_hosts)))
            yield Node(name, port, inv_path, tree, inv)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


def mise_run(node: Node, *args: str) -> str:
    """`mise run ARGS` as the node's user, offline, with a fake `inv` first on PATH that says where it ran
    (once the checkout has its virtualenv, the tasks run that one's inv instead)."""
    fake = "mkdir -p /tmp/fake-inv && printf '#!/bin/sh\\necho \"fake-inv $* @ $(pwd)\"\\n' > /tmp/fake-inv/inv"
    run = "chmod 0755 /tmp/fake-inv/inv && cd / && PATH=/tmp/fake-inv:$PATH MISE_OFFLINE=1 MISE_TASK_RUN_AUTO_INSTALL=0"
    return node.exec("sh", "-lc", f"{fake} && {run} mise run {shlex.join(args)} 2>&1", user=USER)


def installed(node: Node) -> dict[str, str]:
    """What pip says is in the node's virtualenv (canonical name -> version), but pip and the checkout."""
    listing = json.loads(node.exec(f"{VENV}/bin/python", "-m", "pip", "list", "--format=json", user=USER))
    skip = {"pip", "colab"}
    return {canonical(p["name"]): p["version"] for p in listing if canonical(p["name"]) not in skip}


def locked() -> dict[str, str]:
    return {canonical(p.name): p.version for p in wheelhouse.node_pins()}


def statuses(res: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {s["step"]: s["status"] for s in json.loads(res.stdout)["steps"]}


def test_bootstrap_converges_over_ssh_then_changes_nothing(node: Node, fake_infisical: FakeInfisical) -> None:
    inv = node.inv
    key_path, key_name = inv.networks.headscale_key_path, inv.networks.headscale_key_name

    # 1. The pre-auth key is not in Infisical: the mesh join fails with the fix, everything after is skipped.
    fake_infisical.set(key_path, inv.infisical.environment, OTHER="x")
    first = node.bootstrap()
    assert first.returncode == 1, first.stdout + first.stderr
    steps = json.loads(first.stdout)["steps"]
    failed = [s for s in steps if s["status"] == "failed"]
    assert [s["step"] for s in failed] == [f"mesh: joined {inv.networks.headscale_url} as 127.0.20.2"]
    assert f"missing secret(s) {key_name} at Infisical path {key_path}" in failed[0]["detail"]
    after = steps[steps.index(failed[0]) + 1 :]
    assert after and {s["status"] for s in after} == {"skipped"}
    assert _changes(node.calls()) == [("systemctl", "enable --now tailscaled", 0)]

    # 2. With the key: continues where it stopped.
    fake_infisical.set(key_path, inv.infisical.environment, **{key_name: CANARY})
    with ArgvWatch(CANARY) as watch:
        second = node.bootstrap()
    assert second.returncode == 0, second.stdout + second.stderr
    assert watch.samples > 10 and watch.hits == []
    got = statuses(second)
    changed = {step for step, status in got.items() if status == "changed"}
    assert changed == {
        "mesh: joined https://hs.ism.la as 127.0.20.2",
        "install: docker engine (docker.io, docker-compose)",
        "install: docker enabled and running",
        f"install: {USER} in the docker group",
        "fortress: file /usr/local/lib/colab/fortress-password",
        "fortress: file /etc/systemd/system/colab-fortress-password.service",
        "fortress: file /etc/systemd/system/mnt-fortress.mount",
        "fortress: file /etc/systemd/system/docker.service.d/colab-fortress.conf",
        "fortress: mnt-fortress.mount enabled at boot",
        "fortress: mounted //127.0.20.1/fortress at /mnt/fortress",
        f"chezmoi: chezmoi --source {CHECKOUT} init --apply {REPO_URL}",
        VENV_STEP,
    }, got
    assert {status for step, status in got.items() if step not in changed} == {"ok"}, got

    calls = node.calls()
    assert _changes(calls) == [
        ("systemctl", "enable --now tailscaled", 0),
        ("tailscale", "up --reset --login-server=https://hs.ism.la --auth-key=file:/dev/stdin --hostname=director", 0),
        ("apt-get", "update -q", 0),
        ("apt-get", "install -y -q --no-install-recommends docker.io docker-compose", 0),
        ("systemctl", "enable --now docker", 0),
        *[("systemctl", "daemon-reload", 0)] * 4,  # after each boot-mount file
        ("systemctl", "enable -- mnt-fortress.mount", 0),
        ("systemctl", "start --no-block -- mnt-fortress.mount", 0),  # as a boot does: the boot unit fetches
    ]
    up = next(c for c in calls if c["cmd"] == "tailscale" and c["argv"][0] == "up")  # type: ignore[index]
    assert up["key_ok"] is True  # the key arrived on stdin, intact
    started = next(c for c in calls if c["cmd"] == "systemctl" and c["argv"][:1] == ["start"])  # type: ignore[index]
    assert started["identity_ok"] is True and started["uid"] == 0  # root, with the node's machine identity
    install = next(c for c in calls if c["cmd"] == "apt-get" and "install" in c["argv"])  # type: ignore[operator]
    assert "DEBIAN_FRONTEND" in install["env"]  # type: ignore[operator]

    # what chezmoi put there: every file of this node, byte for byte, and the daemon settings in /etc
    sources = chezmoi_source.node_sources(node.tree, NODE)
    for src, data in sources.items():
        target = chezmoi_source.target_path(src)
        if src.startswith(("run_", "modify_")) or "/run_" in src:
            continue
        assert node.exec("cat", f"{HOME}/{target}").encode() == data, target
    daemon = sources["dot_config/colab/docker/daemon.json"]
    assert node.exec("cat", "/etc/docker/daemon.json").encode() == daemon
    assert json.loads(daemon)["log-opts"] == {"max-file": "3", "max-size": "10m"}
    assert ". " in node.exec("cat", f"{HOME}/.bashrc") and ".config/colab/env.sh" in node.exec("cat", f"{HOME}/.bashrc")
    assert USER in node.exec("getent", "group", "docker")
    # the checkout is chezmoi's source: cloned at nodes.director.repo, owned by the node's user, and the
    # config makes a plain chezmoi use it; nothing in chezmoi's default folder
    assert node.exec("git", "-C", CHECKOUT, "remote", "get-url", "origin", user=USER).strip() == REPO_URL
    assert node.exec("stat", "-c", "%U", f"{CHECKOUT}/.git").strip() == USER
    assert node.exec("cat", f"{CHECKOUT}/mise.toml").encode() == node.tree["mise.toml"]  # the repo, not only chezmoi/
    assert node.exec("cat", f"{CHECKOUT}/.chezmoiroot") == "chezmoi\n"
    assert f'sourceDir = "{CHECKOUT}"' in node.exec("cat", f"{HOME}/.config/chezmoi/chezmoi.toml")
    assert node.exec("sh", "-c", f"test -e {HOME}/.local/share/chezmoi; echo $?").strip() == "1"
    # the mise tasks, as the node's user sees them, run `inv` in the checkout
    listed = json.loads(node.exec("sh", "-lc", "cd / && MISE_OFFLINE=1 mise tasks ls --json", user=USER))
    assert sorted(t["name"] for t in listed) == sorted(t.name for t in mise_tasks.all_node_tasks(inv, inv.node(NODE)))
    assert {t["dir"] for t in listed} == {CHECKOUT}
    svc = next(iter(inv.services))
    assert f"$ inv deploy --service {svc}" in mise_run(node, "-n", f"deploy:{svc}")
    # the checkout's virtualenv, made for real: owned by the node's user, its inv and colab work, exactly the
    # lock's pins installed (not the newer decoy the wheelhouse also offers); and the tasks run its inv, not the
    # (fake) one first on PATH: `--help` after the task's own arguments makes the real inv load tasks/
    # (importing colab) and print that task's usage
    assert node.exec("stat", "-c", "%U", f"{VENV}/bin/python").strip() == USER
    assert node.exec(f"{VENV}/bin/inv", "--version", user=USER).startswith("Invoke ")
    where = node.exec(f"{VENV}/bin/python", "-c", "import colab; print(colab.__file__)", user=USER).strip()
    assert where == f"{CHECKOUT}/src/colab/__init__.py"  # editable: the checkout's code
    assert installed(node) == locked()
    decoy, newest = wheelhouse.DECOY
    assert installed(node)[decoy] != newest  # the registry offered a newer one: the lock's pin won
    for task, name in ((f"deploy:{svc}", "deploy"), ("bootstrap", "bootstrap")):
        out = mise_run(node, task, "--", "--help")
        assert f"Usage: inv[oke] [--core-opts] {name}.{name} [--options]" in out and "fake-inv" not in out, out
    # no secret on the node's disks or in what the stand-ins recorded, none in our output
    found = node.exec("sh", "-c", f"grep -rlsF -- '{CANARY}' /etc /home /root /srv /tmp /var /opt /run || true")
    assert found == ""
    assert CANARY not in json.dumps(calls) and CANARY not in second.stdout + second.stderr

    # 3. Once more: nothing changes, and nothing is asked of the stand-ins but probes.
    before = len(calls)
    third = node.bootstrap()
    assert third.returncode == 0, third.stdout + third.stderr
    assert set(statuses(third).values()) == {"ok"}, statuses(third)
    assert _changes(node.calls()[before:]) == []
    # a plain chezmoi on the node (no --source, no COLAB_NODE): the checkout, and nothing to do
    plain = "cd / && unset COLAB_NODE; chezmoi --no-tty source-path && chezmoi --no-tty verify && echo verified"
    assert node.exec("sh", "-lc", plain, user=USER).splitlines() == [f"{CHECKOUT}/chezmoi", "verified"]

    # 4. uv.lock changes (a `chezmoi update` pulled new pins): the venv step installs again, then is ok;
    # nothing else changes
    node.exec("sh", "-c", f"printf '\\n# changed\\n' >> {CHECKOUT}/uv.lock", user=USER)
    fourth = node.bootstrap("--steps", "venv,verify")
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
    assert {s: st for s, st in statuses(fourth).items() if st != "ok"} == {VENV_STEP: "changed"}
    assert node.exec("python3", f"{CHECKOUT}/scripts/venv", "--check", user=USER) == ""
    assert set(statuses(node.bootstrap("--steps", "venv")).values()) == {"ok"}


def test_dry_run_against_the_node_contacts_nothing(node: Node) -> None:
    before = len(node.calls())
    res = node.bootstrap("--dry-run")
    assert res.returncode == 0, res.stderr
    assert set(statuses(res).values()) == {"planned"}
    assert len(node.calls()) == before
