"""Prerequisites before any bootstrap step acts: every missing one listed in the same run (one line each, with
the fix), no step run after that; no SSH means nothing else on the node is asked; all met, the steps go on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colab.bootstrap import prerequisites
from colab.bootstrap import run as bootstrap_run
from colab.bootstrap.context import Ctx
from colab.errors import ColabError
from colab.runner import Runner
from colab.steps import Report, Status
from tests.conftest import CANARY, FakeInfisical
from tests.unit.bootstrap.test_steps import INV, FakeNode

MUTATING = ("apt-get", "tailscale up", "usermod", "systemctl enable", "chezmoi", "install -d")


def run_on(fake: FakeNode, monkeypatch: pytest.MonkeyPatch, node: str = "director", steps: str | None = None) -> Report:
    monkeypatch.setenv("COLAB_NODE", "controller")
    monkeypatch.setattr(
        bootstrap_run, "runner_for", lambda inv, n, **kw: Runner(n.name, transport_factory=lambda: fake)
    )
    return bootstrap_run.bootstrap(INV, node, steps=steps, dial=lambda host, port, timeout: True)


def no_infisical_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert not (Path("/usr/bin/infisical").exists() or Path("/bin/infisical").exists())


def test_every_missing_prerequisite_is_listed_at_once_and_no_step_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_infisical_here(monkeypatch, tmp_path)
    fake = (
        FakeNode()
        .on(r"^sudo -n true$", code=1, err="sudo: a password is required")
        .on(r"tailscale ip -4", code=1, err="not logged in")
        .on(r"command -v", out="infisical\n")  # the node's `have_command`: infisical missing there
    )
    report = run_on(fake, monkeypatch)
    failed = [(o.node, o.step, o.detail) for o in report.outcomes if o.status == Status.FAILED]
    assert [(n, s) for n, s, _ in failed] == [
        ("director", "prerequisite: passwordless sudo for crtr"),
        ("local", "prerequisite: infisical on this machine (pre-auth key)"),
        ("director", "prerequisite: infisical ready on the node"),
    ]
    sudo, here, node = (d for _, _, d in failed)
    assert sudo.startswith("crtr on director has no passwordless sudo (sudo: a password is required); bootstrap")
    assert "echo 'crtr ALL=(ALL) NOPASSWD: ALL' | sudo tee /etc/sudoers.d/colab" in sudo
    assert here.startswith("the Infisical CLI is not installed on this machine: the mesh step reads Headscale's")
    assert node.startswith("the Infisical CLI is not installed on director: fortress is mounted with the password")
    assert report.outcomes[0].step == "prerequisite: ssh as crtr with a key"
    rest = [o for o in report.outcomes if not o.step.startswith("prerequisite: ")]
    assert rest and {(o.status, o.detail) for o in rest} == {(Status.SKIPPED, prerequisites.SKIPPED)}
    assert report.exit_code == 1
    asked = [" ".join(argv) for argv, _, _ in fake.calls]
    assert not [a for a in asked if any(m in a for m in MUTATING)]  # checks only read


def test_no_ssh_login_is_one_line_and_nothing_else_is_asked_of_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNode().on(r"^true$", code=255, err="crtr@100.64.0.2: Permission denied (publickey).")
    report = run_on(fake, monkeypatch)
    first, second = report.outcomes[:2]
    assert first.status == Status.FAILED
    assert first.detail == (
        "crtr@director did not accept this machine's SSH login (crtr@100.64.0.2: Permission denied (publickey).): "
        "give it your key (`ssh-copy-id -p 22 crtr@192.168.254.20`) and check `ssh -p 22 crtr@192.168.254.20 "
        "true` works without a password"
    )
    assert (second.step, second.status) == ("prerequisite: the others", Status.SKIPPED)
    assert [argv for argv, _, _ in fake.calls] == [["true"]]
    assert report.exit_code == 1


def test_all_met_then_the_steps_run(monkeypatch: pytest.MonkeyPatch, fake_infisical: FakeInfisical) -> None:
    fake = (
        FakeNode()
        .on(r"tailscale ip -4", out="100.64.0.2\n")
        .on(r"command -v", out="")
        .on(
            r"^infisical export .*--path /samba", out=json.dumps([{"key": "COLAB_NAS_SAMBA_PASSWORD", "value": CANARY}])
        )
    )
    report = run_on(fake, monkeypatch, steps="mesh,fortress")
    pre = [o for o in report.outcomes if o.step.startswith("prerequisite: ")]
    assert [(o.step, o.status) for o in pre] == [
        ("prerequisite: ssh as crtr with a key", Status.OK),
        ("prerequisite: passwordless sudo for crtr", Status.OK),
        ("prerequisite: infisical on this machine (pre-auth key)", Status.OK),  # joined already: no key read
        ("prerequisite: infisical ready on the node", Status.OK),
    ]
    assert any(o.step.startswith("mesh: ") and o.status != Status.SKIPPED for o in report.outcomes)
    assert all(CANARY not in o.detail for o in report.outcomes)


def test_which_checks_follow_the_groups_and_the_node() -> None:
    def names(node: str, chosen: list[str], remote: bool = True, sudo: bool = True) -> list[str]:
        ctx = Ctx(INV, INV.nodes[node], sudo, Runner("local"))
        return [c.step.name for c in prerequisites.checks(ctx, Runner(node), chosen, remote)]

    assert names("director", ["install"]) == ["ssh as crtr with a key", "passwordless sudo for crtr"]
    assert names("director", ["install"], remote=False, sudo=False) == []
    assert names("director", ["fortress"])[-1] == "infisical ready on the node"
    assert names("cooperator", ["backup"])[-1] == "infisical for root (database dumps)"  # it dumps databases
    assert "infisical for root (database dumps)" not in names("director", ["backup"])


def test_a_root_check_on_the_backup_node_uses_the_cron_path(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNode().on(r"command -v infisical", code=1)
    r = Runner("cooperator", transport_factory=lambda: fake)
    ctx = Ctx(INV, INV.nodes["cooperator"], True, Runner("local"))
    step = prerequisites.checks(ctx, r, ["backup"], remote=True)[-1].step
    with pytest.raises(ColabError, match=r"^root on cooperator has no Infisical CLI on the backup cron's PATH"):
        step.check(r)
    assert fake.calls[-1][0][:4] == ["sudo", "-n", "env", f"PATH={prerequisites.ROOT_PATH}"]
