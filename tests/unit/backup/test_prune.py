"""Emptying the trash: an entry a killed run left `….deleting-<pid>` is deleted by the next run even when that pid
now belongs to a live process (issue 12 #7: the trash grew forever); an entry a live run is deleting (it holds
the entry's lock) is left alone; a symlink in the trash is removed, never followed."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from colab.backup import prune


@pytest.fixture
def trash(tmp_path: Path) -> Path:
    folder = tmp_path / "vol" / ".colab-backup" / "trash"
    folder.mkdir(parents=True)
    return folder


def tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_text("x")
    return root


def test_an_entry_whose_pid_was_reused_is_deleted(trash: Path) -> None:
    # pid 1 always runs: before issue 12 the entry looked "being deleted" for ever
    tree(trash / "fortress-20240101.4242.0.deleting-1")
    tree(trash / f"fortress-20240102.4242.1.deleting-{os.getppid()}")
    deleted = prune.empty_trash(trash.parent.parent)
    assert sorted(deleted) == ["fortress-20240101.4242.0", "fortress-20240102.4242.1"]
    assert list(trash.iterdir()) == []


def test_an_entry_a_live_run_is_deleting_is_left_alone(trash: Path) -> None:
    busy = tree(trash / "fortress-20240101.4242.0.deleting-4242")
    tree(trash / "fortress-20240102.4242.1")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)", str(busy)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert prune.empty_trash(trash.parent.parent) == ["fortress-20240102.4242.1"]
        assert [p.name for p in trash.iterdir()] == [busy.name]
        assert (busy / "sub" / "f.txt").read_text() == "x"
    finally:
        holder.kill()
        holder.wait()
    assert prune.empty_trash(trash.parent.parent) == ["fortress-20240101.4242.0"]
    assert list(trash.iterdir()) == []


def test_the_deleter_holds_the_entry_lock_while_rm_runs(trash: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rm inherits the lock: while it runs, another run cannot take the entry over."""
    tree(trash / "fortress-20240101.4242.0")
    seen: list[bool] = []
    real_run = subprocess.run

    def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        entry = trash / argv[-1]
        fd = os.open(entry, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(False)
        except BlockingIOError:
            seen.append(True)
        finally:
            os.close(fd)
        return real_run(argv, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(prune.subprocess, "run", run)
    assert prune.empty_trash(trash.parent.parent) == ["fortress-20240101.4242.0"]
    assert seen == [True]


def test_symlinks_in_the_trash_are_removed_not_followed(trash: Path, tmp_path: Path) -> None:
    outside = tree(tmp_path / "outside")
    (trash / "fortress-20240101.1.0").symlink_to(outside)
    (trash / "fortress-20240102.1.1.deleting-1").symlink_to(outside)
    prune.empty_trash(trash.parent.parent)
    assert list(trash.iterdir()) == []
    assert (outside / "sub" / "f.txt").read_text() == "x"
