"""RAID guards on real loop devices (the kernel here has no md driver, so no array is ever created).

The probes are the real ones (`wipefs`, `blkid -p`, `lsblk`, `blockdev`, `mdadm --examine`, sysfs holders)
run by a local runner; loop devices stand in for the disks, which is why the tests pass
--allow-kernel-names (udev's /dev/disk/by-id links do not exist for them here).
"""

from __future__ import annotations

import io
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.runner import Runner
from colab.steps import Status, run_steps
from colab.storage import commands, raid
from tests.conftest import INVENTORIES, require_root, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.tools]

MiB = 1024 * 1024


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """make(size_mib) -> a fresh loop device over a sparse file; all detached afterwards."""
    require_tool("losetup", "wipefs", "blkid", "blockdev", "lsblk", "mdadm", "mkfs.ext4")
    require_root("loop devices")
    made: list[str] = []

    def make(size_mib: int) -> str:
        image = tmp_path / f"disk{len(made)}.img"
        with image.open("wb") as fh:
            fh.truncate(size_mib * MiB)
        dev = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True)
        made.append(dev.stdout.strip())
        return made[-1]

    mounted: list[str] = []
    make.mounted = mounted  # type: ignore[attr-defined]
    try:
        yield make
    finally:
        for target in mounted:
            subprocess.run(["umount", target], check=False)
        for dev in made:
            subprocess.run(["losetup", "-d", dev], check=False)


def local() -> Runner:
    return Runner("cooperator", console=Console(file=io.StringIO()))


def guards(disks: list[str], wipe: bool = False) -> list[str]:
    found = raid.probe_disks(local(), disks, sudo=False)
    return raid.guard_problems(found, allow_kernel_names=True, wipe=wipe)


def test_a_clean_pair_is_accepted_and_planned(loops: Callable[[int], str]) -> None:
    a, b = loops(64), loops(64)
    found = raid.probe_disks(local(), [a, b], sudo=False)
    assert [(d.exists, d.block, d.size, d.mounts, d.holders, d.signatures) for d in found] == [
        (True, True, 64 * MiB, [], [], [])
    ] * 2
    assert raid.guard_problems(found, allow_kernel_names=True) == []
    plan = raid.plan_from(inventory.load(INVENTORIES / "loopback.toml"), [a, b], allow_kernel_names=True)
    r = Runner("cooperator", dry_run=True, console=Console(file=io.StringIO()))
    report = run_steps("plan", [raid.array_step(plan, sudo=False)], r)
    assert report.outcomes[0].status == Status.PLANNED
    assert r.history == [f"mdadm --create /dev/md0 --level=1 --metadata=1.2 --bitmap=internal --raid-devices=2 {a} {b}"]


def test_a_file_system_on_one_disk_is_refused_unless_wiping(loops: Callable[[int], str]) -> None:
    a, b = loops(64), loops(64)
    subprocess.run(["mkfs.ext4", "-q", "-F", a], check=True)
    problems = guards([a, b])
    assert len(problems) == 1
    assert problems[0].startswith(f"{a} carries ext4 0x438")
    assert problems[0].endswith("pass --wipe to erase it (destroys what is on it)")
    assert guards([a, b], wipe=True) == []


def test_a_partition_table_is_a_signature_too(loops: Callable[[int], str], tmp_path: Path) -> None:
    a, b = loops(64), loops(64)
    with open(b, "r+b") as disk:  # a DOS partition table: one Linux partition, boot signature
        disk.seek(446)
        disk.write(bytes([0, 0, 0, 0, 0x83, 0, 0, 0]) + struct.pack("<II", 2048, 100000))
        disk.seek(510)
        disk.write(b"\x55\xaa")
    problems = guards([a, b])
    assert len(problems) == 1 and f"{b} carries dos 0x1fe" in problems[0], problems


def test_a_mounted_disk_is_refused_even_with_wipe(loops: Callable[[int], str], tmp_path: Path) -> None:
    a, b = loops(64), loops(64)
    subprocess.run(["mkfs.ext4", "-q", "-F", b], check=True)
    target = tmp_path / "mnt"
    target.mkdir()
    subprocess.run(["mount", b, str(target)], check=True)
    loops.mounted.append(str(target))  # type: ignore[attr-defined]
    problems = guards([a, b], wipe=True)
    assert problems == [f"{b} is in use: mounted at {target}; unmount it (--wipe does not help)"]


def test_sizes_must_be_within_one_percent(loops: Callable[[int], str]) -> None:
    a, b, c = loops(100), loops(80), loops(101)
    problems = guards([a, b])
    assert len(problems) == 1 and problems[0].startswith("disk sizes differ by 25.0%"), problems
    assert guards([a, c]) == []  # 1.0 %: still fine


def test_names_kernel_names_and_the_same_disk_twice(loops: Callable[[int], str], tmp_path: Path) -> None:
    a, b = loops(64), loops(64)
    found = raid.probe_disks(local(), [a, b], sudo=False)
    why = "give disks as /dev/disk/by-id/… (kernel names like sdb can swap across boots), or pass --allow-kernel-names"
    assert raid.guard_problems(found) == [f"{a}: {why}", f"{b}: {why}"]
    alias = tmp_path / "alias"
    alias.symlink_to(a)
    assert guards([a, str(alias)]) == [f"two of the names are the same disk ({a}, {a})"]
    assert guards([a, str(tmp_path / "missing")]) == [f"{tmp_path / 'missing'} does not exist"]


def test_raid_plan_probe_runs_the_guards_through_the_task_code(
    loops: Callable[[int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = loops(64), loops(64)
    subprocess.run(["mkfs.ext4", "-q", "-F", b], check=True)
    monkeypatch.setenv("COLAB_NODE", "cooperator")  # the RAID node is this machine: a local runner
    inv = inventory.load(INVENTORIES / "loopback.toml")
    out = io.StringIO()
    report, problems = commands.raid_plan(inv, [a, b], allow_kernel_names=True, probe=True, console=Console(file=out))
    assert len(problems) == 1 and problems[0].startswith(f"{b} carries ext4")
    assert f"--raid-devices=2 {a} {b}" in out.getvalue()  # the plan is printed all the same
    assert {o.status for o in report.outcomes} == {Status.PLANNED}
    _, none = commands.raid_plan(inv, [a, b], allow_kernel_names=True, wipe=True, probe=True, console=Console(file=out))
    assert none == []
    assert subprocess.run(["blkid", "-p", b], capture_output=True).returncode == 0  # probing wiped nothing
