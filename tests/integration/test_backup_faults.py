"""Faults: kill -9 during rsync, a target volume that fills up, two runs at once, no room for a full copy.

After every fault: the snapshots that existed are untouched (same content, modes and inodes), no final
name holds a partial snapshot, fortress-latest still points at a complete one, and the next run succeeds.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from colab.backup import lock as backup_lock
from tests.conftest import require_root, require_tool, unavailable
from tests.harness.inv import start_inv
from tests.integration.test_backup_support import (
    cron_inv,
    daily_args,
    differences,
    leftovers,
    make_tree,
    manifest,
    run_in_process,
    snapshot_names,
    write_inventory,
)

pytestmark = [pytest.mark.integration, pytest.mark.tools]

DAY1, DAY2, DAY3 = "2024-01-01T03:15", "2024-01-02T03:15", "2024-01-03T03:15"


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Day 1's source and day 2's: half of the 15,000 files rewritten, enough for rsync to take a while."""
    require_tool("rsync")
    root = tmp_path_factory.mktemp("trees")
    one, two = root / "one", root / "two"
    make_tree(one, dirs=150, files=100, size=4096, seed=1)
    subprocess.run(["cp", "-a", f"{one}/.", str(two)], check=True)
    make_tree(two, dirs=75, files=100, size=4096, seed=2)  # d000…d074 rewritten
    return one, two


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    target = tmp_path / "backup"
    target.mkdir()
    return target


def start(inventory_path: Path, *args: str) -> subprocess.Popen[str]:
    return start_inv(*args, node="cooperator", inventory=inventory_path)


def rsync_child(pid: int) -> int | None:
    """The rsync the backup process started, once it runs."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/comm").read_text().strip() == "rsync":
                return int(child)
    return None


def wait_for_rsync(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rsync_child(proc.pid)
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before rsync started: {proc.communicate()}")
        time.sleep(0.005)
    raise AssertionError("rsync did not start")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for_progress(proc: subprocess.Popen[str], path: Path, timeout: float = 60) -> None:
    """Until rsync has got as far as creating `path` (it walks the folders in order)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before rsync reached {path.name}")
        time.sleep(0.002)
    raise AssertionError(f"rsync did not reach {path.name}")


@pytest.mark.parametrize(
    ("victim", "until", "next_day"),
    [
        ("backup", None, DAY2),  # as soon as rsync starts; the next run is the same day
        ("backup", "d040", DAY2),  # in the folders being rewritten
        ("backup", "d110", DAY3),  # in the unchanged folders; the next run is the next day
        ("group", "d060", DAY2),  # the whole process group, as when cron or systemd kills everything
        ("rsync", "d060", DAY2),  # rsync alone: the run sees the failure itself
    ],
)
def test_kill_9_during_rsync(
    trees: tuple[Path, Path], volume: Path, tmp_path: Path, victim: str, until: str | None, next_day: str
) -> None:
    one, two = trees
    inv = write_inventory(tmp_path / "inventory.toml", source=one, target=volume)
    assert run_in_process(inv, one, volume, DAY1).report.exit_code == 0
    before = manifest(volume / "fortress-20240101")

    proc = start(inv, *daily_args(two, volume, DAY2))
    rsync_pid = wait_for_rsync(proc)
    if until:
        wait_for_progress(proc, volume / ".fortress-20240102.tmp" / until)
    assert alive(rsync_pid), "rsync finished before the kill; make the tree bigger"
    if victim == "backup":
        os.kill(proc.pid, signal.SIGKILL)
    elif victim == "group":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.kill(rsync_pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert backup_lock.wait_free(volume / ".colab-backup" / "lock", timeout=20), "rsync kept running"

    if victim == "rsync":
        assert proc.returncode == 1, err
        assert "rsync was killed by signal 9 (SIGKILL); no new snapshot" in out
        assert leftovers(volume) == []  # the unfinished tree went to the trash and was deleted
    else:
        assert proc.returncode == -signal.SIGKILL
    assert snapshot_names(volume) == ["fortress-20240101"]  # nothing partial under a final name
    assert os.readlink(volume / "fortress-latest") == "fortress-20240101"
    assert manifest(volume / "fortress-20240101") == before

    res = cron_inv(inv, *daily_args(two, volume, next_day))
    name = "fortress-" + next_day[:10].replace("-", "")
    if victim == "rsync":
        assert res.returncode == 0, res.stdout + res.stderr
    else:
        assert res.returncode == 2, res.stdout + res.stderr  # finished, with a warning about the killed run
        assert re.search(r"took over the stale lock of backup\.daily by \S+ on \S+ \(pid \d+, since ", res.stderr)
        assert "continuing the unfinished .fortress-20240102.tmp" in res.stdout
    assert snapshot_names(volume) == ["fortress-20240101", name]
    assert differences(two, volume / name) == []
    assert manifest(volume / "fortress-20240101") == before
    assert leftovers(volume) == []
    unchanged = "d149/f0099.bin"
    assert (volume / name / unchanged).stat().st_ino == (volume / "fortress-20240101" / unchanged).stat().st_ino


def test_sigterm_stops_cleanly(trees: tuple[Path, Path], volume: Path, tmp_path: Path) -> None:
    """SIGTERM (systemd stop, a timeout) unwinds: rsync stopped, lock released, the tree kept for the next run."""
    one, two = trees
    inv = write_inventory(tmp_path / "inventory.toml", source=one, target=volume)
    assert run_in_process(inv, one, volume, DAY1).report.exit_code == 0
    before = manifest(volume / "fortress-20240101")
    proc = start(inv, *daily_args(two, volume, DAY2))
    rsync_pid = wait_for_rsync(proc)
    wait_for_progress(proc, volume / ".fortress-20240102.tmp" / "d030")
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert err.strip().splitlines()[-1] == (
        "error: stopped by signal 15; the next run continues from the unfinished snapshot"
    )
    assert "Traceback" not in err
    assert not alive(rsync_pid)
    assert backup_lock.holder(volume / ".colab-backup" / "lock") is None
    assert (volume / ".colab-backup" / "lock").read_text() == ""  # released cleanly: nothing stale
    assert snapshot_names(volume) == ["fortress-20240101"]
    assert manifest(volume / "fortress-20240101") == before
    res = cron_inv(inv, *daily_args(two, volume, DAY2))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "continuing the unfinished .fortress-20240102.tmp" in res.stdout
    assert differences(two, volume / "fortress-20240102") == []
    assert leftovers(volume) == []


def test_two_runs_at_once(trees: tuple[Path, Path], volume: Path, tmp_path: Path) -> None:
    one, two = trees
    inv = write_inventory(tmp_path / "inventory.toml", source=one, target=volume)
    assert run_in_process(inv, one, volume, DAY1).report.exit_code == 0
    first = start(inv, *daily_args(two, volume, DAY2))
    # Freeze the first run's rsync so it holds the lock for as long as the test needs, however fast
    # the machine: otherwise it may finish before the queued run even asks for the lock.
    rsync_group = os.getpgid(wait_for_rsync(first))
    os.killpg(rsync_group, signal.SIGSTOP)
    try:
        second = cron_inv(inv, *daily_args(two, volume, DAY2))
        assert second.returncode == 1
        holder = rf"backup\.daily by \S+ on \S+ \(pid {first.pid}, since \S+\)"
        assert re.match(
            rf"error: {re.escape(str(volume))}/\.colab-backup/lock is locked by {holder}; "
            r"wait for it to finish, or pass --wait to queue behind it$",
            second.stderr,
            re.MULTILINE,
        ), second.stderr
        queued = start(inv, *daily_args(two, volume, DAY3, "--wait"))
        assert queued.stderr is not None
        waiting = queued.stderr.readline()  # blocks until the queued run reports that it waits
        assert re.search(rf"waiting: .*/lock is locked by {holder}", waiting), waiting
        assert queued.poll() is None  # still queued behind the frozen run
    finally:
        os.killpg(rsync_group, signal.SIGCONT)
    out1, err1 = first.communicate(timeout=120)
    out3, err3 = queued.communicate(timeout=120)
    assert first.returncode == 0, out1 + err1
    assert queued.returncode == 0, out3 + err3
    assert snapshot_names(volume) == ["fortress-20240101", "fortress-20240102", "fortress-20240103"]
    assert differences(two, volume / "fortress-20240103") == []
    assert leftovers(volume) == []


# ------------------------------------------------------------------------------------- a small volume


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 32 MB ext4 file system on a loop device, mounted; always unmounted and detached afterwards."""
    require_tool("losetup", "mkfs.ext4", "mount", "umount")
    require_root("loop devices")
    image, mnt = tmp_path / "volume.img", tmp_path / "mnt"
    mnt.mkdir()
    with image.open("wb") as fh:
        fh.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if loop.returncode != 0:
        unavailable(f"no loop device available: {loop.stderr.strip()}")
    device = loop.stdout.strip()
    try:
        subprocess.run(["mount", device, str(mnt)], check=True)
        try:
            yield mnt
        finally:
            subprocess.run(["umount", str(mnt)], check=False)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def test_target_fills_up(small_volume: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, dirs=2, files=20, size=100_000, seed=3)  # 4 MB
    inv = write_inventory(tmp_path / "inventory.toml", source=src, target=small_volume)
    assert cron_inv(inv, *daily_args(src, small_volume, DAY1)).returncode == 0
    before = manifest(small_volume / "fortress-20240101")
    free_before = os.statvfs(small_volume).f_bavail
    make_tree(src / "big", dirs=4, files=10, size=1_000_000, seed=4)  # 40 MB more: does not fit
    res = cron_inv(inv, *daily_args(src, small_volume, DAY2))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "the target volume is full (rsync exit 11: no space left on device)" in " ".join(res.stdout.split())
    assert "Traceback" not in res.stdout + res.stderr
    assert snapshot_names(small_volume) == ["fortress-20240101"]
    assert manifest(small_volume / "fortress-20240101") == before
    assert leftovers(small_volume) == []
    assert os.readlink(small_volume / "fortress-latest") == "fortress-20240101"
    assert os.statvfs(small_volume).f_bavail >= free_before - 64  # the partial copy's space came back
    subprocess.run(["rm", "-rf", str(src / "big")], check=True)
    (src / "small-change.txt").write_text("fits")
    assert cron_inv(inv, *daily_args(src, small_volume, DAY2)).returncode == 0
    assert differences(src, small_volume / "fortress-20240102") == []


def test_full_copy_needs_room(small_volume: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, dirs=2, files=10, size=1_000_000, seed=5)  # 20 MB: one copy fits, two do not
    inv = write_inventory(tmp_path / "inventory.toml", source=src, target=small_volume, full_copy=True)
    assert cron_inv(inv, *daily_args(src, small_volume, DAY1)).returncode == 0
    state = manifest(small_volume)
    weekly = ["backup.weekly", "--source", str(src), "--target", str(small_volume), "--now", "2024-01-07T04:30"]
    res = cron_inv(inv, *weekly, "--json")
    assert res.returncode == 1, res.stdout + res.stderr
    step = json.loads(res.stdout)["steps"][-1]
    assert (step["step"], step["status"]) == ("snapshot fortress-20240107", "failed")
    assert re.match(
        rf"not enough room on {small_volume} for an independent full copy: it needs 20\.\d MB plus a reserve, "
        r"\d+\.\d MB is free;",
        step["detail"],
    )
    assert step["detail"].endswith(
        "nothing was written. Prune older snapshots (inv backup.prune) or set backup.full_copy = false"
    )
    assert manifest(small_volume) == state


def test_full_copy_shares_no_file_with_older_snapshots(tmp_path: Path) -> None:
    require_tool("rsync")
    src, dst = tmp_path / "src", tmp_path / "backup"
    make_tree(src, dirs=2, files=10, size=1000, seed=6)
    dst.mkdir()
    inv = write_inventory(tmp_path / "inventory.toml", source=src, target=dst, full_copy=True)
    assert cron_inv(inv, *daily_args(src, dst, DAY1)).returncode == 0
    weekly = ["backup.weekly", "--source", str(src), "--target", str(dst), "--now", "2024-01-07T04:30"]
    res = cron_inv(inv, *weekly)
    assert res.returncode == 0, res.stdout + res.stderr
    old, new = manifest(dst / "fortress-20240101"), manifest(dst / "fortress-20240107")
    assert {k: v[0] for k, v in old.items()} == {k: v[0] for k, v in new.items()}
    assert not ({v[2] for v in old.values()} & {v[2] for v in new.values()})  # no inode in common
    assert '"kind": "full copy"' in (dst / ".colab-backup" / "meta" / "fortress-20240107.json").read_text()
