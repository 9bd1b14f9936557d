"""Snapshot planning: which tree the new snapshot starts from, what it links to, what it replaces."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from colab.backup.retention import Policy
from colab.backup.snapshot_plan import plan_snapshot
from colab.errors import ColabError

P = Policy(7, 4, 12)


def d(text: str) -> date:
    return date.fromisoformat(text)


def week(first: str) -> list[date]:
    return [d(first) + timedelta(n) for n in range(7)]


def test_first_snapshot_starts_empty_and_links_to_nothing() -> None:
    p = plan_snapshot(day=d("2024-01-01"), complete=[], leftovers=[], trash=[], policy=P)
    assert (p.name, p.temp, p.link_dest, p.reuse, p.replaces) == (
        "fortress-20240101",
        ".fortress-20240101.tmp",
        None,
        None,
        False,
    )


def test_no_reuse_while_nothing_expires() -> None:
    p = plan_snapshot(day=d("2024-01-05"), complete=week("2023-12-29")[:6], leftovers=[], trash=[], policy=P)
    assert p.reuse is None
    assert p.link_dest == "fortress-20240103"


def test_reuses_the_snapshot_retention_drops_once_the_new_one_exists() -> None:
    # 2024-01-01..07 (Mon..Sun, one ISO week); the 8th day pushes 2024-01-01 out of the 7 dailies. (The oldest,
    # 2023-12-31, is the weekly of 2023-W52; without it 2024-01-01 would be the oldest, kept by the monthly rule.)
    complete = [d("2023-12-31"), *week("2024-01-01")]
    p = plan_snapshot(day=d("2024-01-08"), complete=complete, leftovers=[], trash=[], policy=P)
    assert (p.reuse, p.reuse_kind, p.link_dest) == ("fortress-20240101", "expired", "fortress-20240107")


def test_an_unfinished_tree_of_the_same_day_is_continued_in_place() -> None:
    p = plan_snapshot(
        day=d("2024-01-08"),
        complete=week("2024-01-01"),
        leftovers=[".fortress-20240106.tmp", ".fortress-20240108.tmp"],
        trash=["fortress-20231201.77.0"],
        policy=P,
    )
    assert (p.reuse, p.reuse_kind) == (".fortress-20240108.tmp", "leftover")
    assert p.discard == (".fortress-20240106.tmp",)


def test_the_newest_unfinished_tree_is_continued_before_anything_else() -> None:
    p = plan_snapshot(
        day=d("2024-01-09"),
        complete=week("2024-01-01"),
        leftovers=[".fortress-20240103.tmp", ".fortress-20240108.tmp"],
        trash=[],
        policy=P,
    )
    assert (p.reuse, p.discard) == (".fortress-20240108.tmp", (".fortress-20240103.tmp",))


def test_trash_comes_before_expiring_a_snapshot() -> None:
    p = plan_snapshot(
        day=d("2024-01-08"), complete=week("2024-01-01"), leftovers=[], trash=["fortress-20231130.9.1"], policy=P
    )
    assert (p.reuse, p.reuse_kind) == (".colab-backup/trash/fortress-20231130.9.1", "trash")


def test_same_day_replaces_and_links_to_the_old_one() -> None:
    p = plan_snapshot(day=d("2024-01-07"), complete=week("2024-01-01"), leftovers=[], trash=[], policy=P)
    assert p.replaces is True
    assert p.link_dest == "fortress-20240107"
    assert p.reuse is None  # nothing expires: 7 snapshots, 7 dailies


def test_independent_copy_links_nothing_reuses_nothing() -> None:
    p = plan_snapshot(
        day=d("2024-01-08"),
        complete=week("2024-01-01"),
        leftovers=[".fortress-20240108.tmp"],
        trash=["x.1.0"],
        policy=P,
        independent=True,
    )
    assert (p.link_dest, p.reuse, p.discard) == (None, None, (".fortress-20240108.tmp",))


def test_a_day_before_the_newest_snapshot_is_refused() -> None:
    with pytest.raises(ColabError, match="fortress-20240107 is later than 2024-01-05"):
        plan_snapshot(day=d("2024-01-05"), complete=week("2024-01-01"), leftovers=[], trash=[], policy=P)


def test_the_oldest_kept_by_the_monthly_rule_is_not_reused() -> None:
    """Eight days from a fresh start: the first is monthly[oldest] (borg >= 1.2), so nothing expires yet."""
    p = plan_snapshot(day=d("2024-01-08"), complete=week("2024-01-01"), leftovers=[], trash=[], policy=P)
    assert (p.reuse, p.reuse_kind) == (None, None)
