"""One run at a time: busy, wait, stale lock of a dead process taken over with a warning; a lock file (or its
folder) that is a symlink, a hard link or someone else's is refused without touching what it points to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from colab.backup import lock, state
from tests.conftest import require_root


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_acquire_writes_who_holds_it_and_release_clears_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLAB_NODE", "cooperator")
    path = tmp_path / ".colab-backup" / "lock"
    held = lock.acquire(tmp_path, "backup.daily")
    text = path.read_text()
    assert re.fullmatch(rf"task=backup\.daily user=\S+ node=cooperator pid={os.getpid()} since=\S+\n", text), text
    assert held.took_over is None
    lock.release(held)
    assert path.read_text() == ""
    assert lock.holder(path) is None


def test_second_run_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / ".colab-backup" / "lock"
    with lock.hold(tmp_path, "backup.daily"):
        with pytest.raises(
            lock.Busy, match=r"lock is locked by backup\.daily by \S+ on \S+ \(pid \d+, since .*\); wait"
        ):
            lock.acquire(tmp_path, "backup.weekly")
        assert lock.holder(path) is not None


@pytest.mark.parametrize(
    ("left", "named"),
    [
        ("task=backup.daily user=root node=cooperator pid={pid} since=2024-01-05T03:15:00+01:00\n",
         "backup.daily by root on cooperator (pid {pid}, since 2024-01-05T03:15:00+01:00)"),
        # what an earlier version left: one key a line, `started`
        ("pid={pid}\nstarted=2024-01-05T03:15:00\ntask=backup.daily\n",
         "backup.daily (pid {pid}, since 2024-01-05T03:15:00)"),
    ],
)  # fmt: skip
def test_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path: Path, left: str, named: str) -> None:
    path = tmp_path / ".colab-backup" / "lock"
    path.parent.mkdir()
    pid = dead_pid()
    path.write_text(left.format(pid=pid))
    held = lock.acquire(tmp_path, "backup.daily")
    try:
        assert held.took_over == (
            f"took over the stale lock of {named.format(pid=pid)}, which is no longer running: that run was interrupted"
        )
    finally:
        lock.release(held)


def test_wait_queues_behind_the_holder(tmp_path: Path) -> None:
    path = tmp_path
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys,time; from colab.backup import lock; "
         "h = lock.acquire(__import__('pathlib').Path(sys.argv[1]), 'backup.daily'); "
         "print('held', flush=True); time.sleep(0.8); lock.release(h)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(lock.Busy):
        lock.acquire(path, "backup.weekly")
    said: list[str] = []
    started = time.monotonic()
    held = lock.acquire(path, "backup.weekly", wait=True, on_wait=said.append)
    waited = time.monotonic() - started
    lock.release(held)
    holder.wait(timeout=10)
    assert said and said[0].startswith(f"waiting: {path}/.colab-backup/lock is locked by backup.daily by ")
    assert waited > 0.3
    assert held.took_over is None  # the holder released cleanly


def test_a_lock_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    """Issue 12 #3: with .colab-backup/lock a symlink, the run truncated the file it pointed to."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "vol" / ".colab-backup").mkdir(parents=True)
    (tmp_path / "vol" / ".colab-backup" / "lock").symlink_to(victim)
    with pytest.raises(state.Unsafe) as e:
        lock.acquire(tmp_path / "vol", "backup.daily")
    assert str(e.value) == (
        f"{tmp_path}/vol/.colab-backup/lock is a symlink (to {victim}), not a real entry: the backup keeps its "
        "state only in real folders and files that no other user can change; move it aside (it may have been put "
        "there to redirect the backup) and run again"
    )
    assert victim.read_text() == "precious\n"


def test_a_dangling_lock_symlink_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / ".colab-backup").mkdir()
    (tmp_path / ".colab-backup" / "lock").symlink_to(tmp_path / "made-by-root")
    with pytest.raises(state.Unsafe, match="is a symlink"):
        lock.acquire(tmp_path, "backup.daily")
    assert not (tmp_path / "made-by-root").exists()


def test_a_state_folder_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / ".colab-backup").symlink_to(elsewhere)
    with pytest.raises(state.Unsafe, match=r"vol/\.colab-backup is a symlink \(to .*elsewhere\)"):
        lock.acquire(tmp_path / "vol", "backup.daily")
    assert list(elsewhere.iterdir()) == []


def test_a_hard_linked_lock_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "vol" / ".colab-backup").mkdir(parents=True)
    os.link(victim, tmp_path / "vol" / ".colab-backup" / "lock")
    with pytest.raises(state.Unsafe, match="has 2 hard links"):
        lock.acquire(tmp_path / "vol", "backup.daily")
    assert victim.read_text() == "precious\n"


def test_a_lock_of_another_user_or_writable_by_others_is_refused(tmp_path: Path) -> None:
    require_root("chown the lock to another uid")
    path = tmp_path / ".colab-backup" / "lock"
    path.parent.mkdir()
    path.write_text("")
    os.chown(path, 65534, 65534)
    with pytest.raises(state.Unsafe, match=r"lock is owned by (nobody \(uid 65534\)|uid 65534), not by root"):
        lock.acquire(tmp_path, "backup.daily")
    os.chown(path, 0, 0)
    path.chmod(0o666)
    with pytest.raises(state.Unsafe, match=r"lock is writable by every user \(mode 0666\)"):
        lock.acquire(tmp_path, "backup.daily")
    path.chmod(0o644)
    lock.release(lock.acquire(tmp_path, "backup.daily"))


def test_holder_does_not_follow_a_symlink(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.write_text("pid=1\ntask=secret\n")
    (tmp_path / "lock").symlink_to(other)
    assert lock.holder(tmp_path / "lock") is None
