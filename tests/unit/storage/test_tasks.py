"""The fortress.* and raid.* Invoke tasks against the default inventory, as a user runs them (subprocess; their
plans, exactly: tests/unit/storage/cases/, one of them through the real `inv` too).

Under pytest the network guard is on (COLAB_NETGUARD=1 reaches the child): opening an SSH connection
to a default-inventory address would fail with a NetworkGuardError, so exit 0 on the dry runs also shows
that nothing was contacted.
"""

from __future__ import annotations

import json

import pytest

from tests.harness.inv import run_inv


def test_raid_plan_takes_disks_repeated_or_comma_separated() -> None:
    a, b = "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", "/dev/disk/by-id/wwn-0x5000c500a1b2c3d5"
    for args in (["--disks", a, "--disks", b], ["--disks", f"{a},{b}"]):
        res = run_inv("raid.plan", *args)
        assert res.returncode == 0, res.stderr
        assert f"--raid-devices=2 {a} {b}" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fortress.mount", "--node", "cooperator", "--dry-run"], "error: cooperator is the fortress server"),
        (["fortress.share", "--node", "director", "--dry-run"], "error: director is not the fortress server"),
        (["fortress.status", "--node", "nope", "--dry-run"], "error: inventory: unknown node 'nope'"),
        (
            ["raid.plan", "--disks", "/dev/sdb", "--disks", "/dev/sdd"],
            "error: /dev/sdb: give disks as /dev/disk/by-id/",
        ),
        (["raid.plan", "--disks", "/dev/disk/by-id/x"], "error: RAID1 needs at least two disks, got 1"),
        (["fortress.mount", "--dry-run"], "error: this machine (somewhere-else) is not a node of the inventory"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(args: list[str], message: str) -> None:
    res = run_inv(*args, node="somewhere-else")
    assert res.returncode == 1
    assert res.stderr.startswith(message), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_share_dry_run_json() -> None:
    res = run_inv("fortress.share", "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["title"] == "fortress share on cooperator"
    assert [s["status"] for s in data["steps"]] == ["planned"] * 15  # boot mount, 2 drop-ins, then the share
    assert "sudo -n smbpasswd" in res.stderr  # the plan goes to stderr when stdout carries JSON
