"""One rule for root: `sudo -n` unless the command already runs as root (locally: this process; over SSH: the
node's ssh_user), for storage and bootstrap alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from colab import privilege
from colab.inventory import load
from colab.runner import Runner

ROOT = Path(__file__).resolve().parents[2]
NODE = load(ROOT / "cluster.toml").node("director")


def never_connects() -> None:
    raise AssertionError("the rule must not open a connection")


@pytest.mark.parametrize(("euid", "want"), [(0, False), (1000, True)])
def test_locally_sudo_unless_this_process_is_root(monkeypatch: pytest.MonkeyPatch, euid: int, want: bool) -> None:
    monkeypatch.setattr(privilege.os, "geteuid", lambda: euid)
    assert privilege.needs_sudo(Runner("director"), NODE) is want


@pytest.mark.parametrize(("user", "want"), [("root", False), ("crtr", True)])
def test_over_ssh_sudo_unless_the_nodes_ssh_user_is_root(
    monkeypatch: pytest.MonkeyPatch, user: str, want: bool
) -> None:
    monkeypatch.setattr(privilege.os, "geteuid", lambda: 0)  # being root here says nothing about the node
    node = NODE.model_copy(update={"ssh_user": user})
    assert privilege.needs_sudo(Runner("director", transport_factory=never_connects), node) is want


def test_as_root_and_the_shell_prefix_say_the_same() -> None:
    assert privilege.as_root(True, "systemctl", "daemon-reload") == ["sudo", "-n", "systemctl", "daemon-reload"]
    assert privilege.as_root(False, "systemctl", "daemon-reload") == ["systemctl", "daemon-reload"]
    assert privilege.sudo_prefix(True) + "smbpasswd" == "sudo -n smbpasswd"
    assert privilege.sudo_prefix(False) + "smbpasswd" == "smbpasswd"
