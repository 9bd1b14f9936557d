"""The bootstrap plan besides its cases (tests/unit/bootstrap/cases/: every node's whole `--dry-run`, exactly): the
rules every plan follows per OS family, `--steps` picking groups, the plan on the node itself."""

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
from colab.steps import Report

ROOT = Path(__file__).resolve().parents[3]
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
