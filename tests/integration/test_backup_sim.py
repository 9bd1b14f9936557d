"""Retention over time with real runs: a daily every day (and the weekly every Sunday) for 400 days with
--now, then exactly which snapshots remain; the same with the machine off for five weeks.

Each day the source changes, so every snapshot is distinguishable: the ones that remain must hold what
their own day's run saw (expired trees are reused as targets, so a mix-up would show).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.integration.test_backup_support import leftovers, run_in_process, snapshot_names, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.tools]


def simulate(tmp_path: Path, first: date, last: date, off: tuple[date, date] | None = None) -> Path:
    require_tool("rsync")
    src, dst = tmp_path / "src", tmp_path / "backup"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "static.txt").write_text("never changes")
    dst.mkdir()
    inv = write_inventory(tmp_path / "inventory.toml", source=src, target=dst)
    day = first
    while day <= last:
        if off is None or not (off[0] <= day <= off[1]):
            (src / "day.txt").write_text(f"written on {day.isoformat()}")
            result = run_in_process(inv, src, dst, f"{day.isoformat()}T03:15")
            assert result.report.exit_code == 0, (day, result.report.to_json())
            if day.isoweekday() == 7:
                weekly = run_in_process(inv, src, dst, f"{day.isoformat()}T04:30", kind="weekly")
                assert weekly.report.exit_code == 0, (day, weekly.report.to_json())
        day += timedelta(days=1)
    return dst


def expect(dst: Path, names: list[str]) -> None:
    assert snapshot_names(dst) == sorted(f"fortress-{n.replace('-', '')}" for n in names)
    for n in names:
        snap = dst / f"fortress-{n.replace('-', '')}"
        assert (snap / "day.txt").read_text() == f"written on {n}"
        assert (snap / "docs" / "static.txt").read_text() == "never changes"
    assert leftovers(dst) == []


def test_400_days(tmp_path: Path) -> None:  # 12 months found: the oldest (2023-01-01) is not kept
    dst = simulate(tmp_path, date(2023, 1, 1), date(2024, 2, 4))  # Sunday 2023-01-01 … Sunday 2024-02-04
    expect(
        dst,
        [
            # 7 daily: the last seven days
            "2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04",
            # 4 weekly: the Sundays of the four ISO weeks before (the last week's is already a daily)
            "2024-01-07", "2024-01-14", "2024-01-21", "2024-01-28",
            # 12 monthly: the last day of each month before (January 2024's newest is a daily)
            "2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30", "2023-05-31", "2023-06-30",
            "2023-07-31", "2023-08-31", "2023-09-30", "2023-10-31", "2023-11-30", "2023-12-31",
        ],
    )  # fmt: skip
    static = {(dst / n / "docs" / "static.txt").stat().st_ino for n in snapshot_names(dst)}
    assert len(static) == 1  # one file on disk, linked into all 23 snapshots


def test_weeks_without_snapshots_do_not_count(tmp_path: Path) -> None:
    dst = simulate(tmp_path, date(2024, 1, 1), date(2024, 3, 31), off=(date(2024, 2, 5), date(2024, 3, 10)))
    expect(
        dst,
        [
            "2024-03-25", "2024-03-26", "2024-03-27", "2024-03-28", "2024-03-29", "2024-03-30", "2024-03-31",
            # weekly: W12, W11, then W10, W09 … W06 had no snapshot and do not count: W05, W04
            "2024-03-24", "2024-03-17", "2024-02-04", "2024-01-28",
            # monthly: March and February are kept already; January's newest; then, short of 12 months, the
            # oldest snapshot (borg >= 1.2: monthly[oldest])
            "2024-01-31", "2024-01-01",
        ],
    )  # fmt: skip
