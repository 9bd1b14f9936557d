"""The bootstrap plan: for every node of the default inventory, `--dry-run` prints exactly the expected
commands for its OS family, contacts nothing, and `--steps` picks groups."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.bootstrap import GROUPS, order
from colab.bootstrap.run import bootstrap
from colab.errors import ColabError
from colab.runner import Runner
from colab.steps import Report, Status, run_steps
from colab.storage import fortress_share, mounts
from colab.storage.samba import SambaHost

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"
INV = inventory.load(ROOT / "cluster.toml")
NODES = ["cooperator", "director", "writer", "projector", "terminator"]


def never_dial(host: str, port: int, timeout: float) -> bool:
    raise AssertionError(f"a dry run dialled {host}:{port}")


def dry_run(node: str, steps: str | None = None, here: str = "controller") -> tuple[list[str], Report]:
    buf = io.StringIO()
    console = Console(file=buf, width=10000)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLAB_NODE", here)
        report = bootstrap(INV, node, steps=steps, dry_run=True, console=console, dial=never_dial)
    return [line for line in buf.getvalue().splitlines() if line.startswith("[")], report


@pytest.mark.parametrize("node", NODES)
def test_dry_run_plan_is_exactly_the_fixture(node: str) -> None:
    lines, report = dry_run(node, "mesh,install,chezmoi,venv,verify")
    assert lines == (FIXTURES / f"plan-{node}.txt").read_text().splitlines()
    assert report.exit_code == 0 and {o.status for o in report.outcomes} == {Status.PLANNED}


@pytest.mark.parametrize("node", NODES)
def test_the_fortress_group_is_the_storage_modules_plan(node: str) -> None:
    lines, _ = dry_run(node, "fortress")
    n = INV.nodes[node]
    buf = io.StringIO()
    r = Runner(node, dry_run=True, console=Console(file=buf, width=10000))
    if node == INV.fortress.server:
        storage = fortress_share.steps(INV, SambaHost(), True)
    else:
        storage = mounts.mount_steps(INV, n, n.os != "macos")
    run_steps("storage", storage, r)
    want = [line for line in buf.getvalue().splitlines() if line.startswith("[")]
    check = (  # a Debian client's boot unit reads the password with the machine identity: only the CLI is needed
        f"[{node}] # check: the Infisical CLI is installed (the boot unit reads the password with the machine identity)"
        if n.os == "debian" and node != INV.fortress.server
        else f"[{node}] # check: Infisical has COLAB_NAS_SAMBA_PASSWORD at /samba (names only)"
    )
    assert lines[lines.index(check) + 1 :] == want
    assert want  # the storage steps print something for every node


def commands(node: str) -> list[str]:
    lines, _ = dry_run(node)
    return [line.split(" $ ", 1)[1] for line in lines if " $ " in line]


def test_plans_follow_the_os_family() -> None:
    apt = "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends"
    apt_docker = f"{apt} docker.io docker-compose"
    cockpit = "cockpit-file-sharing cockpit-identities"
    for node in NODES:
        cmds = commands(node)
        text = "\n".join(cmds)
        os_family = INV.nodes[node].os
        assert f"--auth-key=file:/dev/stdin --hostname={node} <<< ***" in text
        init = f"chezmoi --no-tty --source {INV.nodes[node].repo} init --apply https://git.ism.la/rtr/colab.git"
        assert text.count(init) == 1 and text.count("chezmoi --no-tty") == 1
        if os_family == "debian":
            assert apt_docker in cmds and "sudo -n usermod -aG docker crtr" in cmds
        else:
            assert "docker.io" not in text
        if os_family == "macos":
            assert "apt-get" not in text and "brew install --cask docker-desktop" in text
            assert "brew install chezmoi mise git" in text
        else:
            assert "brew" not in text and "apt-get install -y -q --no-install-recommends mise" in text
        assert (cockpit in text) == (node == INV.fortress.server)
        assert ("cifs-utils" in text) == (node != INV.fortress.server and os_family != "macos")


def test_steps_picks_groups_in_bootstrap_order() -> None:
    _, report = dry_run("director", "verify,chezmoi")
    assert [o.step.split(":")[0] for o in report.outcomes] == ["prerequisite"] * 2 + ["chezmoi"] + ["verify"] * 5
    # without the mesh group, curl/ca-certificates/git come with the install group
    _, report = dry_run("director", "install")
    assert report.outcomes[2].step == "install: apt curl ca-certificates git"
    _, report = dry_run("director", "mesh,install")
    assert [o.step for o in report.outcomes].count("install: apt curl ca-certificates git") == 0
    assert order.parse_steps(None) == list(GROUPS) == order.parse_steps(" ")


def test_unknown_steps_are_one_clear_error() -> None:
    with pytest.raises(ColabError, match=r"^unknown step\(s\) nope, x in --steps; choose from mesh, install"):
        order.parse_steps("mesh,nope,x")


def test_on_the_node_itself_the_plan_runs_locally() -> None:
    lines, _ = dry_run("director", "install", here="director")
    assert lines[0] == "[director] # bootstrap director (debian) here, as this user (commands run locally)"
    sudo = os.geteuid() != 0
    assert any(line.startswith("[director] $ sudo -n ") for line in lines) == sudo


def test_on_demand_nodes_are_flagged_in_the_plan() -> None:
    lines, report = dry_run("projector", "verify")
    assert "[projector] # projector is on demand: if neither answers, the run stops there with exit 1" in lines
    assert report.title == "bootstrap projector (wsl, on demand)"
