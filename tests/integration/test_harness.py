"""The harness end to end: a real node container over real SSH, driven by the project's runner and steps.

- file steps converge in one run and report nothing changed on the second (Molecule's idempotence check);
- a Secret given in env= reaches the remote command's environment but never any argv on the node, and the
  runner's history and results show *** instead;
- the SSH transport refuses the real cluster's addresses before anything is spawned or sent.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from colab import runner as runner_mod
from colab.errors import NetworkGuardError
from colab.file_steps import directory_step, file_step
from colab.inventory import DEFAULT_INVENTORY, load
from colab.runner import MASK, Runner, Secret, SshTransport, runner_for, this_node
from colab.steps import Status, run_steps
from tests.harness.containers import NodeContainer, docker

pytestmark = pytest.mark.integration

CONTENT = "# written by the colab test harness\nname = 'director'\nunicode = 'grüße ✓'\n\ttabs and  spaces  \n"


def ssh_runner(node: NodeContainer, inventory_path: Path) -> Runner:
    inv = load(inventory_path)
    assert this_node() != node.node, "this machine calls itself 'director'; set COLAB_NODE to something else"
    runner = runner_for(inv, inv.node(node.node))
    assert runner.transport_factory is not None, "runner_for chose the local transport"
    return runner


@pytest.mark.docker
def test_file_steps_over_ssh_converge_then_report_nothing_changed(
    node_container: NodeContainer, node_inventory: Path
) -> None:
    base = f"/home/crtr/harness-{secrets.token_hex(4)}"
    path = f"{base}/conf/app.conf"
    steps = [directory_step(base, "750"), directory_step(f"{base}/conf"), file_step(path, CONTENT, "640")]
    runner = ssh_runner(node_container, node_inventory)
    try:
        first = run_steps("first run", steps, runner)
        assert [o.status for o in first.outcomes] == [Status.CHANGED] * 3, first.to_json()
        assert first.exit_code == 0

        second = run_steps("second run", steps, runner)
        assert [o.status for o in second.outcomes] == [Status.OK] * 3, second.to_json()
        assert second.changed == 0
        assert second.exit_code == 0
    finally:
        runner.close()

    assert node_container.exec("cat", path).stdout == CONTENT.encode()
    listing = node_container.exec("stat", "-c", "%a %U %F", base, f"{base}/conf", path).stdout.decode()
    assert listing.splitlines() == ["750 crtr directory", "755 crtr directory", "640 crtr regular file"]
    node_container.exec("rm", "-rf", base)


# Runs on the node with $CANARY set by the runner. $1 is the canary's sha256 (not the canary), $2 a marker
# that is deliberately in argv so the scan can prove it sees argv at all. Only builtins touch $CANARY: the
# pattern reaches grep through a process substitution fed by printf, never through grep's argv.
CANARY_PROBE = r"""
have=$(printf %s "$CANARY" | sha256sum | cut -d' ' -f1)
[ "$have" = "$1" ] && echo "env: match" || echo "env: MISMATCH"
leaks=$(grep -a -l -s -F -f <(printf '%s\n' "$CANARY") /proc/[0-9]*/cmdline)
echo "canary in argv: ${leaks:-none}"
control=$(grep -a -l -s -F -f <(printf '%s\n' "$2") /proc/[0-9]*/cmdline)
echo "marker in argv: ${control:-none}"
echo "echoed: $CANARY"
"""


@pytest.mark.docker
def test_secret_in_env_reaches_remote_environment_but_no_argv(
    node_container: NodeContainer, node_inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"canary-{secrets.token_hex(12)}"
    marker = f"marker-{secrets.token_hex(6)}"
    digest = hashlib.sha256(canary.encode()).hexdigest()
    # Every local process started meanwhile (the ssh clients): their argv carries the remote command line.
    spawned: list[list[str]] = []
    real_init = subprocess.Popen.__init__

    def recording_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        spawned.append([str(a) for a in args] if isinstance(args, list | tuple) else [str(args)])
        real_init(self, args, *rest, **kwargs)

    runner = ssh_runner(node_container, node_inventory)
    monkeypatch.setattr(subprocess.Popen, "__init__", recording_init)
    try:
        result = runner.run("bash", "-c", CANARY_PROBE, "probe", digest, marker, env={"CANARY": Secret(canary)})
    finally:
        monkeypatch.undo()
        runner.close()

    assert any(Path(argv[0]).name == "ssh" for argv in spawned), spawned
    assert not [argv for argv in spawned if canary in " ".join(argv)], "the secret was on a local ssh argv"

    lines = result.stdout.splitlines()
    assert "env: match" in lines, result
    assert "canary in argv: none" in lines, result
    marker_line = next(line for line in lines if line.startswith("marker in argv: "))
    assert marker_line != "marker in argv: none", "the /proc scan did not see the probe's own argv"
    assert f"echoed: {MASK}" in lines, "the runner must mask the secret in captured output"
    assert canary not in result.stdout + result.stderr
    assert runner.history, "the runner records what it ran"
    assert all(canary not in entry for entry in runner.history)
    assert f"CANARY={MASK}" in runner.history[-1]
    # and nothing of it is left on the node: no file mentions it (the run wrote none)
    left = node_container.exec("sh", "-c", 'grep -r -l -s -F "$1" /home /tmp /run || true', "sh", canary)
    assert left.stdout == b""


def test_ssh_to_the_real_cluster_is_refused_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    spawned: list[Any] = []

    def no_ssh(*args: Any, **kwargs: Any) -> Any:
        spawned.append(args)
        raise AssertionError("an ssh client was started")

    def no_process(*args: Any, **kwargs: Any) -> Any:
        spawned.append(args)
        raise AssertionError("a process was started")

    inv = load(DEFAULT_INVENTORY)  # the production inventory: 100.64.x mesh addresses
    node = inv.node("director")
    host = str(node.mesh)
    assert not host.startswith("127.")
    monkeypatch.setattr(runner_mod, "SshMachine", no_ssh)
    monkeypatch.setattr(subprocess, "Popen", no_process)

    with pytest.raises(NetworkGuardError, match=host.replace(".", r"\.")):
        SshTransport(host, node.ssh_user, node.ssh_port)
    runner = runner_for(inv, node)
    with pytest.raises(NetworkGuardError):
        runner.run("true")
    with pytest.raises(NetworkGuardError):
        runner_for(inv, node, via="lan").run("true")
    assert spawned == []


@pytest.mark.docker
def test_busybox_image_runs_its_applets(busybox_image: str) -> None:
    argv = ["run", "--rm", "--network", "none", busybox_image, "sh", "-c", "id -un; ls /bin | wc -l; test -d /tmp"]
    out = docker(*argv).stdout.decode().split()
    assert out[0] == "root"
    assert int(out[1]) > 100  # applet links
