"""The backup's own state is never reached through a symlink and never someone else's (issue 12 #3): a planted
symlink at .colab-backup/trash, meta, a dump folder or the time probe is refused with one line, and what it
points to is left exactly as it was; a target other users can write is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from colab.backup import dumps, prune, snapshots, state
from tests.conftest import require_root


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    vol = tmp_path / "vol"
    (vol / ".colab-backup").mkdir(parents=True)
    (vol / "fortress-20240101").mkdir()
    (vol / "fortress-20240101" / "kept.txt").write_text("snapshot\n")
    return vol


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder that is not the backup's: two trees that a followed trash symlink would reuse and delete."""
    other = tmp_path / "elsewhere"
    for name in ("fortress-20231201.1.0", "fortress-20231202.1.1"):
        (other / name).mkdir(parents=True)
        (other / name / "data.txt").write_text(f"{name}\n")
    return other


def listing(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() if p.is_file() else "dir" for p in sorted(root.rglob("*"))}


def test_a_trash_symlink_is_refused_by_every_trash_operation(volume: Path, elsewhere: Path) -> None:
    (volume / ".colab-backup" / "trash").symlink_to(elsewhere)
    before = listing(elsewhere)
    message = (
        f"{volume}/.colab-backup/trash is a symlink (to {elsewhere}), not a real entry: the backup keeps its state "
        "only in real folders and files that no other user can change; move it aside (it may have been put there "
        "to redirect the backup) and run again"
    )
    for call in (
        lambda: state.validate(volume),
        lambda: snapshots.trash_entries(volume),
        lambda: prune.empty_trash(volume),
        lambda: prune.to_trash(volume, "fortress-20240101"),
        lambda: prune.claim_from_trash(volume, "fortress-20231201.1.0", volume / ".fortress-20240102.tmp"),
    ):
        with pytest.raises(state.Unsafe) as e:
            call()
        assert str(e.value) == message
    assert listing(elsewhere) == before
    assert (volume / "fortress-20240101" / "kept.txt").read_text() == "snapshot\n"
    assert not (volume / ".fortress-20240102.tmp").exists()


def test_a_meta_symlink_is_neither_written_nor_read(volume: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-meta"
    other.mkdir()
    (other / "fortress-20240101.json").write_text('{"kind": "planted"}')
    (volume / ".colab-backup" / "meta").symlink_to(other)
    with pytest.raises(state.Unsafe, match=r"\.colab-backup/meta is a symlink"):
        snapshots.write_meta(volume, "fortress-20240102", {"kind": "daily"})
    assert snapshots.read_meta(volume, "fortress-20240101") == {}
    with pytest.raises(state.Unsafe):
        snapshots.drop_meta(volume, "fortress-20240101")
    assert sorted(p.name for p in other.iterdir()) == ["fortress-20240101.json"]


def test_a_meta_file_symlink_is_replaced_not_written_through(volume: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    (volume / ".colab-backup" / "meta").mkdir()
    (volume / ".colab-backup" / "meta" / "fortress-20240101.json").symlink_to(victim)
    assert snapshots.read_meta(volume, "fortress-20240101") == {}
    snapshots.write_meta(volume, "fortress-20240101", {"kind": "daily"})
    assert victim.read_text() == "precious"
    assert snapshots.read_meta(volume, "fortress-20240101") == {"kind": "daily"}
    assert not (volume / ".colab-backup" / "meta" / "fortress-20240101.json").is_symlink()


def test_the_time_probe_never_writes_through_a_planted_symlink(volume: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (volume / ".colab-backup" / f".mtime-probe.{os.getpid()}").symlink_to(victim)
    assert snapshots.keeps_nanoseconds(volume) in (True, False)
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in (volume / ".colab-backup").iterdir()) == []


def test_a_dump_folder_symlink_is_refused(volume: Path, tmp_path: Path) -> None:
    other = tmp_path / "etc"
    other.mkdir()
    (volume / "dumps").mkdir()
    (volume / "dumps" / "gitea").symlink_to(other)
    with pytest.raises(state.Unsafe, match=r"dumps/gitea is a symlink"):
        state.validate(volume)
    assert dumps.existing(volume) == []


def test_a_state_folder_of_another_user_is_refused(volume: Path) -> None:
    require_root("chown a state folder to another uid")
    trash = volume / ".colab-backup" / "trash"
    trash.mkdir()
    os.chown(trash, 65534, 65534)
    with pytest.raises(state.Unsafe, match=r"trash is owned by (nobody \(uid 65534\)|uid 65534), not by root"):
        state.validate(volume)
    os.chown(trash, 0, 0)
    trash.chmod(0o777)
    with pytest.raises(state.Unsafe, match=r"trash is writable by every user \(mode 0777\)"):
        state.validate(volume)
    trash.chmod(0o755)
    state.validate(volume)


def test_a_target_others_can_write_is_refused(volume: Path) -> None:
    volume.chmod(0o777)
    with pytest.raises(state.Unsafe) as e:
        state.check_target(volume)
    assert str(e.value).startswith(f"backup target {volume} is writable by every user (mode 0777): anyone else")
    volume.chmod(0o755)
    state.check_target(volume)


def test_a_target_of_another_user_is_refused_for_root(volume: Path) -> None:
    require_root("chown the target to another uid")
    os.chown(volume, 65534, 65534)
    with pytest.raises(state.Unsafe, match=r"is owned by .*65534.*, not by root"):
        state.check_target(volume)
