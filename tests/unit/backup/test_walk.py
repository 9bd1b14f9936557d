"""Restore's paths, walked without following symlinks (issue 12 #4): in the snapshot a symlink on the way is
refused and the entry itself may be one; in the destination a symlink on the way is refused, missing folders are
made with the snapshot's mode (or only listed, for a dry run)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from colab.backup import snapshots, walk
from colab.errors import ColabError


@pytest.fixture
def snap(tmp_path: Path) -> snapshots.Snapshot:
    root = tmp_path / "vol" / "fortress-20240101"
    (root / "data" / "real").mkdir(parents=True)
    (root / "data" / "real").chmod(0o750)
    (root / "data" / "real" / "file.txt").write_text("in the snapshot\n")
    (tmp_path / "live-secret").mkdir()
    (tmp_path / "live-secret" / "secret.txt").write_text("live\n")
    (root / "data" / "link").symlink_to(tmp_path / "live-secret")
    return snapshots.Snapshot("fortress-20240101", date(2024, 1, 1), root)


def test_a_symlink_on_the_way_in_the_snapshot_is_refused(snap: snapshots.Snapshot, tmp_path: Path) -> None:
    with walk.descriptors() as fds, pytest.raises(ColabError) as e:
        walk.snapshot(snap, ("data", "link", "secret.txt"), fds)
    assert str(e.value) == (
        f"data/link is a symlink in fortress-20240101 (to {tmp_path}/live-secret): restore reads only what is "
        "inside the snapshot; restore data/link itself (it comes back as the symlink), or the folder it stands for"
    )


def test_the_entry_itself_may_be_a_symlink_or_a_folder(snap: snapshots.Snapshot) -> None:
    with walk.descriptors() as fds:
        link = walk.snapshot(snap, ("data", "link"), fds)
        assert (link.name, link.is_dir) == ("link", False)
        assert os.readlink(walk.fd_path(link.parent, link.name)).endswith("live-secret")
        folder = walk.snapshot(snap, ("data", "real"), fds)
        assert (folder.name, folder.is_dir) == ("", True)
        assert sorted(os.listdir(walk.fd_path(folder.parent))) == ["file.txt"]
        with pytest.raises(ColabError, match=r"^data/nope is not in fortress-20240101; see what it holds with: ls "):
            walk.snapshot(snap, ("data", "nope"), fds)
        with pytest.raises(ColabError, match=r"^data/real/file.txt is not a folder in fortress-20240101"):
            walk.snapshot(snap, ("data", "real", "file.txt", "x"), fds)


def test_a_symlink_on_the_way_in_the_destination_is_refused(snap: snapshots.Snapshot, tmp_path: Path) -> None:
    live, evil = tmp_path / "live", tmp_path / "evil"
    (live / "data").mkdir(parents=True)
    evil.mkdir()
    (live / "data" / "real").symlink_to(evil)
    with walk.descriptors() as fds:
        root = walk.snapshot_root(snap, fds)
        for make in (False, True):
            with pytest.raises(ColabError) as e:
                walk.destination(live, ("data", "real"), root, fds, make=make)
            assert str(e.value).startswith(f"{live}/data/real is a symlink (to {evil}) where data/real is a folder")
    assert list(evil.iterdir()) == []


def test_missing_folders_are_listed_or_made_with_the_snapshots_mode(snap: snapshots.Snapshot, tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    with walk.descriptors() as fds:
        root = walk.snapshot_root(snap, fds)
        fd, missing = walk.destination(live, ("data", "real"), root, fds, make=False)
        assert (fd, missing) == (None, ["data", "data/real"])
        assert list(live.iterdir()) == []
        fd, missing = walk.destination(live, ("data", "real"), root, fds, make=True)
        assert fd is not None and missing == ["data", "data/real"]
        assert os.path.samestat(os.fstat(fd), os.stat(live / "data" / "real"))
    assert (live / "data" / "real").stat().st_mode & 0o7777 == 0o750
