"""One run at a time: busy, wait, stale lock of a dead process taken over with a warning."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from colab.backup import lock


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_acquire_writes_pid_and_release_clears_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "lock"
    held = lock.acquire(path, "backup.daily")
    text = path.read_text()
    assert f"pid={__import__('os').getpid()}\n" in text and "task=backup.daily" in text
    assert held.took_over is None
    lock.release(held)
    assert path.read_text() == ""
    assert lock.holder(path) is None


def test_second_run_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with lock.hold(path, "backup.daily"):
        with pytest.raises(lock.Busy, match=r"backup\.daily \(pid \d+, started .*\) holds .*lock; wait for it"):
            lock.acquire(path, "backup.weekly")
        assert lock.holder(path) is not None


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    pid = dead_pid()
    path.write_text(f"pid={pid}\nstarted=2024-01-05T03:15:00\ntask=backup.daily\n")
    held = lock.acquire(path, "backup.daily")
    try:
        assert held.took_over == (
            f"took over the stale lock of backup.daily (pid {pid}, started 2024-01-05T03:15:00), "
            "which is no longer running: that run was interrupted"
        )
    finally:
        lock.release(held)


def test_wait_queues_behind_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
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
    assert said and said[0].startswith("waiting: backup.daily (pid")
    assert waited > 0.3
    assert held.took_over is None  # the holder released cleanly
