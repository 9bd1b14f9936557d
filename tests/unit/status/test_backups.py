"""The backup probe: a backup volume laid out as colab.backup makes it, read by the real SCRIPT (sh), judged
at an injected time. Exact checks for fresh, old (> 26 h), none, missing, unfinished, running and partial."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from colab.backup import snapshots
from colab.runner import Runner
from colab.status import backups
from colab.status.model import Level


def volume(
    tmp_path: Path, *days: str, latest: str | None = None, meta: dict[str, dict[str, object]] | None = None
) -> Path:
    t = tmp_path / "backup"
    (t / snapshots.STATE).mkdir(parents=True)
    for day in days:
        (t / f"fortress-{day}" / "docker").mkdir(parents=True)
    if latest or days:
        snapshots.set_latest(t, f"fortress-{latest or days[-1]}")
    for name, record in (meta or {}).items():
        snapshots.write_meta(t, name, record)
    return t


def judge(t: Path, now: str) -> tuple[Level, str]:
    check, space = backups.probe(Runner(node="cooperator"), str(t), datetime.fromisoformat(now), timeout=30)
    assert space.level in (Level.OK, Level.WARN) and space.text.startswith("backup ")  # df of the real folder
    return check.level, check.text


def record(created: str, rsync_exit: int = 0) -> dict[str, object]:
    return {"kind": "daily", "created": created, "rsync_exit": rsync_exit, "files": 3, "size": 12}


@pytest.fixture
def two(tmp_path: Path) -> Path:
    return volume(
        tmp_path,
        "20240101",
        "20240103",
        meta={"fortress-20240101": record("2024-01-01T03:15"), "fortress-20240103": record("2024-01-03T03:15")},
    )


@pytest.mark.parametrize(
    ("now", "level", "text"),
    [
        ("2024-01-03T10:00", Level.OK, "fortress-20240103, 7h ago, ok"),
        ("2024-01-04T05:15", Level.OK, "fortress-20240103, 26h ago, ok"),  # 26 h exactly: still fine
        ("2024-01-04T05:16", Level.CRIT, "fortress-20240103, 26h ago, ok: older than 26h"),
        ("2024-01-05T10:00", Level.CRIT, "fortress-20240103, 2d ago, ok: older than 26h"),
    ],
)
def test_age_of_the_newest_snapshot(two: Path, now: str, level: Level, text: str) -> None:
    assert judge(two, now) == (level, text)


def test_data_for_scripts(two: Path) -> None:
    check, space = backups.probe(Runner(node="x"), str(two), datetime(2024, 1, 3, 10), timeout=30)
    assert check.data == {
        "target": str(two),
        "snapshot": "fortress-20240103",
        "created": "2024-01-03T03:15",
        "age_hours": 6.8,
        "result": "ok",
        "kind": "daily",
        "running": "",
    }
    st = os.statvfs(two)
    assert space.data["total"] == st.f_blocks * st.f_frsize
    assert abs(space.data["free"] - st.f_bavail * st.f_frsize) < 64 * 1024 * 1024  # the disk is shared


def test_latest_link_wins_over_the_newest_name(tmp_path: Path) -> None:
    t = volume(
        tmp_path,
        "20240101",
        "20240103",
        latest="20240101",
        meta={"fortress-20240101": record("2024-01-01T03:15"), "fortress-20240103": record("2024-01-03T03:15")},
    )
    assert judge(t, "2024-01-01T12:00") == (Level.OK, "fortress-20240101, 9h ago, ok")


def test_without_a_record_the_date_of_the_name_counts_from_midnight(tmp_path: Path) -> None:
    t = volume(tmp_path, "20240103")
    assert judge(t, "2024-01-03T10:00") == (Level.OK, "fortress-20240103, 10h ago, ok")


def test_rsync_partial_transfer_is_a_warning(tmp_path: Path) -> None:
    t = volume(tmp_path, "20240103", meta={"fortress-20240103": record("2024-01-03T03:15", 24)})
    assert judge(t, "2024-01-03T10:00") == (Level.WARN, "fortress-20240103, 7h ago, partial (rsync 24)")


def test_a_night_whose_dumps_failed_is_not_ok(tmp_path: Path) -> None:
    failed = {**record("2024-01-03T03:15"), "dumps": {"failed": ["gitea/gitea"], "changed": ["wiki/wiki"]}}
    t = volume(tmp_path, "20240103", meta={"fortress-20240103": failed})
    assert judge(t, "2024-01-03T10:00") == (
        Level.WARN, "fortress-20240103, 7h ago, snapshot ok, dumps failed: gitea/gitea"
    )  # fmt: skip
    fine = {**record("2024-01-03T03:15"), "dumps": {"changed": ["gitea/gitea"]}}
    snapshots.write_meta(t, "fortress-20240103", fine)
    assert judge(t, "2024-01-03T10:00") == (Level.OK, "fortress-20240103, 7h ago, ok")


def test_an_unfinished_run_is_a_warning_unless_it_is_still_running(two: Path) -> None:
    (two / ".fortress-20240104.tmp" / "docker").mkdir(parents=True)
    assert judge(two, "2024-01-04T05:00") == (
        Level.WARN,
        "fortress-20240103, 26h ago, ok; an unfinished run left .fortress-20240104.tmp",
    )
    holder = f"task=backup.daily user=root node=cooperator pid={os.getpid()} since=2024-01-04T03:15:00+01:00\n"
    (two / snapshots.STATE / "lock").write_text(holder)
    assert judge(two, "2024-01-04T05:00") == (
        Level.OK,
        f"fortress-20240103, 26h ago, ok; a run is in progress (pid {os.getpid()})",
    )


def test_an_old_unfinished_tree_is_not_news(two: Path) -> None:
    (two / ".fortress-20240102.tmp").mkdir()  # older than the newest snapshot: that run was superseded
    assert judge(two, "2024-01-03T10:00") == (Level.OK, "fortress-20240103, 7h ago, ok")


def test_no_backup_at_all(tmp_path: Path) -> None:
    empty = tmp_path / "mnt"
    empty.mkdir()
    assert judge(empty, "2024-01-03T10:00") == (Level.CRIT, f"no backup in {empty} (is the backup volume mounted?)")
    (empty / snapshots.STATE).mkdir()
    assert judge(empty, "2024-01-03T10:00") == (Level.CRIT, f"no backup in {empty}")


def test_a_missing_volume(tmp_path: Path) -> None:
    check, space = backups.probe(Runner(node="x"), str(tmp_path / "nope"), datetime(2024, 1, 3), timeout=30)
    assert (check.level, check.text) == (Level.CRIT, f"no backup volume at {tmp_path / 'nope'}")
    assert (space.level, space.text) == (Level.UNKNOWN, "backup: ?")


def test_parse_ignores_what_is_not_a_snapshot() -> None:
    text = "\n".join(
        [
            "@snapshots",
            "fortress-20240103",
            "fortress-2024010",
            "@latest",
            "fortress-20240103",
            "@partial",
            ".fortress-20240104.tmp",
            ".fortress-x.tmp",
            "@state",
            "present",
            "@running",
            "@meta",
            json.dumps({"created": "2024-01-03T03:15", "rsync_exit": 0}, indent=2),
            "@df",
            "Filesystem     1024-blocks    Used Available Capacity Mounted on",
            "/dev/md0        1921724676 1200 1823000000       1% /mnt/backup",
        ]
    )
    vol = backups.parse(text, "/mnt/backup")
    assert (vol.snapshots, vol.latest, vol.partial, vol.state, vol.running) == (
        ["fortress-20240103"],
        "fortress-20240103",
        [".fortress-20240104.tmp"],
        True,
        "",
    )
    assert vol.meta == {"created": "2024-01-03T03:15", "rsync_exit": 0}
    assert vol.space is not None and (vol.space.total, vol.space.free) == (1921724676 * 1024, 1823000000 * 1024)
