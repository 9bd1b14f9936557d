"""The fortress.* and raid.* Invoke tasks against the default inventory, as a user runs them (subprocess).

Under pytest the network guard is on (COLAB_NETGUARD=1 reaches the child): opening an SSH connection
to a default-inventory address would fail with a NetworkGuardError, so exit 0 on the dry runs also shows
that nothing was contacted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def inv(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLAB_NODE": "somewhere-else", "COLUMNS": "200"}
    env.pop("COLAB_INVENTORY", None)
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (
            "director",
            [
                "sudo -n systemctl enable -- mnt-fortress.mount",
                "systemctl start --no-block",
                "/etc/systemd/system/docker.service.d/colab-fortress.conf",
                "colab-fortress-password.service",
            ],
        ),
        (
            "writer",
            ["systemctl start --no-block", "New-SmbMapping -LocalPath", "WSLENV=COLAB_NAS_SAMBA_PASSWORD/u"],
        ),
        ("terminator", ["security -i", "launchctl bootstrap", "launchctl kickstart"]),
    ],
)
def test_mount_dry_run_prints_the_plan(node: str, expected: list[str]) -> None:
    res = inv("fortress.mount", "--node", node, "--dry-run")
    assert res.returncode == 0, res.stderr
    for text in expected:
        assert text in res.stdout, res.stdout
    assert f"fortress mount on {node}" in res.stdout and "planned" in res.stdout
    if node == "director":  # the password is fetched on the node by its boot unit: no command here asks for it
        commands = [line for line in res.stdout.splitlines() if line.startswith("[director] $")]
        assert commands and not any("infisical" in line for line in commands)


def test_raid_plan_prints_the_commands_for_the_inventory_disks() -> None:
    res = inv("raid.plan")
    assert res.returncode == 0, res.stderr
    assert (
        "sudo -n mdadm --create /dev/md0 --level=1 --metadata=1.2 --bitmap=internal --raid-devices=2 "
        "/dev/disk/by-id/ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M1XXXXX1 "
        "/dev/disk/by-id/ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M1XXXXX2"
    ) in res.stdout
    for text in ("sudo -n mkfs.ext4 -L backup /dev/md0", "update-initramfs -u", "sudo -n mount /mnt/backup"):
        assert text in res.stdout


def test_raid_plan_takes_disks_repeated_or_comma_separated() -> None:
    a, b = "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", "/dev/disk/by-id/wwn-0x5000c500a1b2c3d5"
    for args in (["--disks", a, "--disks", b], ["--disks", f"{a},{b}"]):
        res = inv("raid.plan", *args)
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
    res = inv(*args)
    assert res.returncode == 1
    assert res.stderr.startswith(message), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_share_dry_run_json() -> None:
    res = inv("fortress.share", "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["title"] == "fortress share on cooperator"
    assert [s["status"] for s in data["steps"]] == ["planned"] * 15  # boot mount, 2 drop-ins, then the share
    assert "sudo -n smbpasswd" in res.stderr  # the plan goes to stderr when stdout carries JSON
