"""fortress.status / fortress.unmount / fortress.mount on a node reached over real SSH (runner_for).

The node is the harness's colab-test/node container (Debian, sshd, sudo), published as `director` on its
loopback mesh address. It has no CIFS client, no systemd and no Infisical CLI, so what can be checked is
that the probes run there (its mount table, not ours), the answers are right, and the errors are clear.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.steps import Status
from colab.storage import commands

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]


@pytest.fixture
def remote(node_inventory: Path, monkeypatch: pytest.MonkeyPatch) -> inventory.Inventory:
    monkeypatch.setenv("COLAB_NODE", "somewhere-else")  # director is not "here": SSH it is
    return inventory.load(node_inventory)


def test_status_over_ssh_reads_the_nodes_mount_table(remote: inventory.Inventory) -> None:
    st = commands.fortress_status(remote, "director", console=Console(file=io.StringIO()))
    assert (st.role, st.mounted, st.exit_code) == ("systemd", False, 1)
    assert st.problems == ["fortress is not mounted at /mnt/fortress on director"]


def test_unmount_over_ssh_is_ok_when_nothing_is_mounted(remote: inventory.Inventory) -> None:
    report = commands.unmount(remote, "director", console=Console(file=io.StringIO()))
    assert [(o.step, o.status) for o in report.outcomes] == [
        ("unmounted /mnt/fortress (Docker stops with it)", Status.OK)
    ]


def test_mount_over_ssh_stops_with_a_clear_error_before_changing_anything(remote: inventory.Inventory) -> None:
    """No systemd there: the first step says so, nothing is installed (the boot mount needs systemd; no password
    is asked of this machine's Infisical for a Linux client: the node's boot unit fetches it)."""
    report = commands.mount(remote, "director", console=Console(file=io.StringIO()))
    first, *rest = report.outcomes
    assert (first.step, first.status, first.detail) == (
        "systemd running",
        Status.FAILED,
        "systemd is not running on director; fortress mounts through systemd units",
    )
    assert rest and {o.status for o in rest} == {Status.SKIPPED} and report.exit_code == 1
