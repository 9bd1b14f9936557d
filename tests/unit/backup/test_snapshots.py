"""Snapshot names, listing of complete snapshots, the latest link, atomic exchange."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from colab.backup import snapshots


def test_names() -> None:
    assert snapshots.name_for(date(2024, 1, 5)) == "fortress-20240105"
    assert snapshots.temp_name(date(2024, 1, 5)) == ".fortress-20240105.tmp"
    assert snapshots.date_of("fortress-20240105") == date(2024, 1, 5)
    assert snapshots.date_of("fortress-20241340") is None
    assert snapshots.date_of("fortress-latest") is None
    assert snapshots.date_of(".fortress-20240105.tmp") is None
    assert snapshots.temp_date(".fortress-20240105.tmp") == date(2024, 1, 5)
    # a folder someone named with a trailing newline is not a snapshot (`$` alone would match before it)
    assert snapshots.date_of("fortress-20240105\n") is None
    assert snapshots.temp_date(".fortress-20240105.tmp\n") is None


def test_complete_lists_only_finished_directories(tmp_path: Path) -> None:
    for name in ("fortress-20240103", "fortress-20240101", ".fortress-20240104.tmp", "fortress-20249999", "other"):
        (tmp_path / name).mkdir()
    (tmp_path / "fortress-20240102").write_text("a file, not a snapshot")
    os.symlink("fortress-20240101", tmp_path / "fortress-20240105")
    assert [s.name for s in snapshots.complete(tmp_path)] == ["fortress-20240101", "fortress-20240103"]
    assert snapshots.leftovers(tmp_path) == [".fortress-20240104.tmp"]
    assert snapshots.complete(tmp_path / "missing") == []


def test_latest_link_is_relative_and_replaced_atomically(tmp_path: Path) -> None:
    (tmp_path / "fortress-20240101").mkdir()
    (tmp_path / "fortress-20240102").mkdir()
    snapshots.set_latest(tmp_path, "fortress-20240101")
    snapshots.set_latest(tmp_path, "fortress-20240102")
    assert os.readlink(tmp_path / "fortress-latest") == "fortress-20240102"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    latest = snapshots.latest(tmp_path)
    assert latest is not None and latest.name == "fortress-20240102"


def test_resolve(tmp_path: Path) -> None:
    for name in ("fortress-20240101", "fortress-20240102"):
        (tmp_path / name).mkdir()
    snapshots.set_latest(tmp_path, "fortress-20240101")  # latest is what the link says
    assert snapshots.resolve(tmp_path, "latest").name == "fortress-20240101"
    assert snapshots.resolve(tmp_path, "2024-01-02").name == "fortress-20240102"
    assert snapshots.resolve(tmp_path, "20240102").name == "fortress-20240102"
    assert snapshots.resolve(tmp_path, "fortress-20240102").name == "fortress-20240102"
    with pytest.raises(LookupError, match=r"no snapshot '2023-01-01'.*newest: 2024-01-01, 2024-01-02"):
        snapshots.resolve(tmp_path, "2023-01-01")


def test_exchange_swaps_two_trees(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("b")
    if not snapshots.exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this file system cannot exchange atomically (the fallback is two renames)")
    assert (tmp_path / "a" / "x").read_text() == "b"
    assert (tmp_path / "b" / "x").read_text() == "a"


def test_nanosecond_probe_leaves_nothing(tmp_path: Path) -> None:
    assert snapshots.keeps_nanoseconds(tmp_path) in (True, False)
    assert list(tmp_path.iterdir()) == []


def test_meta_round_trip(tmp_path: Path) -> None:
    snapshots.write_meta(tmp_path, "fortress-20240101", {"kind": "daily", "files": 3})
    assert snapshots.read_meta(tmp_path, "fortress-20240101") == {"kind": "daily", "files": 3}
    snapshots.drop_meta(tmp_path, "fortress-20240101")
    assert snapshots.read_meta(tmp_path, "fortress-20240101") == {}
