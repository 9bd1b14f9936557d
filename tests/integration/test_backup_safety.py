"""Issue 12 #3, #4 and #7, end to end: `inv backup.*` as cron runs it (a child process, no terminal), real rsync on
real trees, symlinks made for real.

- #3 a trash or lock planted as a symlink stops the run with one line; the folder or file it points to is
  exactly as it was;
- #4 restore never reads through a symlink of the snapshot nor writes through one in the destination; a symlink
  asked for is restored as a symlink; inside a restored tree a symlink where the snapshot has a folder is
  replaced, not followed;
- #7 a trash entry left `….deleting-<pid>` whose pid is alive again is deleted; a snapshot taken while most of
  the source vanished (a tree moved away mid-run: rsync exit 24) is held back as fortress-partial-…, not
  promoted, not counted, exit 2 with how much vanished; the next run links to the last complete snapshot.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.harness.inv import start_inv
from tests.integration.test_backup_support import (
    cron_inv,
    daily_args,
    make_tree,
    manifest,
    snapshot_names,
    write_inventory,
)

pytestmark = [pytest.mark.integration, pytest.mark.tools]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    require_tool("rsync")
    src, dst = tmp_path / "fortress", tmp_path / "backup"
    make_tree(src, dirs=3, files=10, size=256)
    dst.mkdir()
    inv = write_inventory(tmp_path / "inventory.toml", source=src, target=dst)
    return src, dst, inv


def ok(res: subprocess.CompletedProcess[str], code: int = 0) -> None:
    assert res.returncode == code, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    assert "Traceback" not in res.stdout + res.stderr


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    ok(res, 1)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


# ------------------------------------------------------------------------------------------- #3 state


def test_a_trash_symlink_stops_the_daily_and_the_folder_it_points_to_is_untouched(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """Before: the daily reused one folder of the symlink's target and deleted another."""
    src, dst, inv = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    elsewhere = tmp_path / "elsewhere"
    for name in ("fortress-20231201.1.0", "fortress-20231202.1.1"):
        make_tree(elsewhere / name, dirs=1, files=2, size=64)
    before = manifest(elsewhere)
    trash = dst / ".colab-backup" / "trash"
    if trash.exists():
        trash.rmdir()
    trash.symlink_to(elsewhere)
    res = cron_inv(inv, *daily_args(src, dst, "2024-01-02T03:15"))
    line = one_line_error(res)
    assert line.startswith(f"error: {trash} is a symlink (to {elsewhere}), not a real entry: ")
    assert manifest(elsewhere) == before
    assert snapshot_names(dst) == ["fortress-20240101"] and not list(dst.glob(".fortress-*"))
    ok(cron_inv(inv, "backup.prune", "--target", str(dst)), 1)
    assert manifest(elsewhere) == before
    trash.unlink()
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-02T03:15")))


def test_a_lock_symlink_stops_the_daily_and_its_target_keeps_its_content(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """Before: the file the lock pointed to was truncated."""
    src, dst, inv = setup
    victim = tmp_path / "victim.conf"
    victim.write_text("precious=1\n")
    (dst / ".colab-backup").mkdir()
    (dst / ".colab-backup" / "lock").symlink_to(victim)
    for args in (daily_args(src, dst, "2024-01-01T03:15"), ["backup.prune", "--target", str(dst)]):
        line = one_line_error(cron_inv(inv, *args))
        assert f"{dst}/.colab-backup/lock is a symlink (to {victim})" in line
    assert victim.read_text() == "precious=1\n"
    assert snapshot_names(dst) == []


# ---------------------------------------------------------------------------------------- #7 trash pid


def test_a_deleting_entry_whose_pid_runs_again_is_deleted_by_the_next_daily(setup: tuple[Path, Path, Path]) -> None:
    src, dst, inv = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    trash = dst / ".colab-backup" / "trash"
    trash.mkdir(exist_ok=True)
    left = trash / "fortress-20231231.4242.0.deleting-1"  # pid 1 is always alive
    make_tree(left, dirs=2, files=3, size=64)
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-02T03:15")))
    assert list(trash.iterdir()) == []


# --------------------------------------------------------------------------------------------- #4 restore


@pytest.fixture
def linked(setup: tuple[Path, Path, Path], tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """A snapshot holding data/link -> a live folder outside fortress (a secret in it), and data/real/ a folder."""
    src, dst, inv = setup
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("live secret\n")
    (src / "data" / "real").mkdir(parents=True)
    (src / "data" / "real" / "file.txt").write_text("from the snapshot\n")
    (src / "data" / "link").symlink_to(outside)
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    return src, dst, inv, outside


def restore(inv: Path, src: Path, dst: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cron_inv(inv, "backup.restore", "--source", str(src), "--target", str(dst), *args)


def test_restore_does_not_read_through_a_symlink_in_the_snapshot(
    linked: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    """Before: --path data/link/secret.txt restored the live file the symlink led to."""
    src, dst, inv, outside = linked
    into = tmp_path / "restored"
    for extra in ([], ["--dry-run"]):
        line = one_line_error(restore(inv, src, dst, "--path", "data/link/secret.txt", "--into", str(into), *extra))
        assert line == (
            f"error: data/link is a symlink in fortress-20240101 (to {outside}): restore reads only what is inside "
            "the snapshot; restore data/link itself (it comes back as the symlink), or the folder it stands for"
        )
    assert not into.exists()


def test_a_symlink_is_restored_as_a_symlink(linked: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    src, dst, inv, outside = linked
    into = tmp_path / "restored"
    ok(restore(inv, src, dst, "--path", "data/link", "--into", str(into)))
    assert (into / "data" / "link").is_symlink() and os.readlink(into / "data" / "link") == str(outside)
    assert sorted(p.name for p in (into / "data").iterdir()) == ["link"]
    everything = tmp_path / "everything"
    ok(restore(inv, src, dst, "--into", str(everything)))
    assert os.readlink(everything / "data" / "link") == str(outside)
    assert (everything / "data" / "real" / "file.txt").read_text() == "from the snapshot\n"


def test_in_place_restore_refuses_a_live_parent_that_became_a_symlink(
    linked: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    """Before: --in-place wrote through the symlink, outside fortress."""
    src, dst, inv, _ = linked
    evil = tmp_path / "evil"
    evil.mkdir()
    (src / "data" / "real" / "file.txt").unlink()
    (src / "data" / "real").rmdir()
    (src / "data" / "real").symlink_to(evil)
    for extra in (["--dry-run"], []):
        line = one_line_error(
            restore(inv, src, dst, "--path", "data/real/file.txt", "--in-place", "--yes", *extra),
        )
        assert line == (
            f"error: {src}/data/real is a symlink (to {evil}) where data/real is a folder in the snapshot: restoring "
            "through it would write outside the destination; move it aside, or restore --into a new folder"
        )
    assert list(evil.iterdir()) == []
    (src / "data" / "real").unlink()
    ok(restore(inv, src, dst, "--path", "data/real/file.txt", "--in-place", "--yes"))
    assert (src / "data" / "real" / "file.txt").read_text() == "from the snapshot\n"
    assert (src / "data" / "real").stat().st_mode & 0o7777 == 0o755  # made with the snapshot folder's mode


def test_in_place_restore_of_a_folder_replaces_inner_symlinks_without_following_them(
    linked: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    src, dst, inv, _ = linked
    evil = tmp_path / "evil"
    evil.mkdir()
    (src / "data" / "real" / "file.txt").unlink()
    (src / "data" / "real").rmdir()
    (src / "data" / "real").symlink_to(evil)
    ok(restore(inv, src, dst, "--path", "data", "--in-place", "--yes"))
    assert list(evil.iterdir()) == []
    assert not (src / "data" / "real").is_symlink()
    assert (src / "data" / "real" / "file.txt").read_text() == "from the snapshot\n"


# ---------------------------------------------------------------------------------------- #7 vanished


def _rsync_writing_into(folder: Path) -> int:
    """The pid of the rsync whose destination is `folder`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] == b"rsync" and f"{folder}/".encode() in argv:
            return int(entry.name)
    raise LookupError(folder)


def test_a_source_that_vanishes_during_the_run_is_held_back(tmp_path: Path) -> None:
    """A tree moved away while rsync runs (exit 24): the snapshot is kept as fortress-partial-…, fortress-latest and
    retention keep to the complete ones, exit 2 says how much vanished; the next run links to the complete one.
    rsync is paused (SIGSTOP) while it copies a big first file, so the move happens before it reaches the rest."""
    require_tool("rsync")
    src, dst, away = tmp_path / "fortress", tmp_path / "backup", tmp_path / "moved-away"
    make_tree(src, dirs=40, files=100, size=16)  # more entries than rsync lists ahead (about 1,000)
    big = src / "aaa-big.bin"  # sorts first: rsync copies it before it lists the folders' contents
    with big.open("wb") as f:
        f.truncate(192 * 1024 * 1024)
    dst.mkdir()
    away.mkdir()
    inv = write_inventory(tmp_path / "inventory.toml", source=src, target=dst)
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    os.utime(big)  # changed: day 2 copies it again, which gives the time to move the folders
    temp = dst / ".fortress-20240102.tmp"
    proc = start_inv(*daily_args(src, dst, "2024-01-02T03:15", "--json"), node="cooperator", inventory=inv)
    deadline = time.monotonic() + 60
    while not (temp.is_dir() and any(p.name.startswith(".aaa-big.bin.") for p in temp.iterdir())):
        assert time.monotonic() < deadline and proc.poll() is None, "rsync never started on the big file"
        time.sleep(0.001)
    group = os.getpgid(_rsync_writing_into(temp))
    os.killpg(group, signal.SIGSTOP)
    try:
        for d in sorted(src.glob("d0*"))[5:]:  # 35 of 40 folders: 3,500 of 4,001 files
            d.rename(away / d.name)
    finally:
        os.killpg(group, signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err
    step = next(s for s in json.loads(out)["steps"] if s["step"] == "snapshot fortress-20240102")
    assert step["status"] == "warning"
    assert "rsync exit 24: some source files vanished while copying" in step["detail"]
    assert "of the files of fortress-20240101 are missing (" in step["detail"]
    assert "The snapshot is kept as fortress-partial-20240102, not made fortress-latest" in step["detail"]
    assert snapshot_names(dst) == ["fortress-20240101"]
    assert os.readlink(dst / "fortress-latest") == "fortress-20240101"
    assert (dst / "fortress-partial-20240102" / "aaa-big.bin").is_file()
    listed = json.loads(
        cron_inv(inv, "backup.list", "--target", str(dst), "--json", "--now", "2024-01-02T09:00").stdout
    )
    kinds = {b["name"]: (b["kind"], b["latest"]) for b in listed["backups"]}
    assert kinds == {"fortress-20240101": ("daily", True), "fortress-partial-20240102": ("partial", False)}
    verdicts = json.loads(cron_inv(inv, "backup.prune", "--target", str(dst), "--dry-run", "--json").stdout)
    reasons = {v["name"]: v["reason"] for v in verdicts["retention"]}
    assert reasons["fortress-20240101"].startswith("daily 1/7")  # the partial took no daily slot
    assert reasons["fortress-partial-20240102"] == "partial, not counted; kept until 7 newer complete (now 0)"
    for d in away.iterdir():
        d.rename(src / d.name)
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-03T03:15")))
    assert os.readlink(dst / "fortress-latest") == "fortress-20240103"
    same = "d039/f0000.bin"  # unchanged, missing from the partial: linked to the complete day 1
    assert (dst / "fortress-20240103" / same).stat().st_ino == (dst / "fortress-20240101" / same).stat().st_ino
