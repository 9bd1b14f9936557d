"""Retention with borg's rules: fixtures of snapshot dates → exactly which are kept, and why.

Two cases changed with issue 16 (they encoded the rules before borg 1.2): checked against borg's documentation
("the oldest archive is kept as long as the coarsest retention rule covers it"), the monthly rule, short of its
count, keeps the oldest snapshot ("monthly[oldest]")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from colab.backup.retention import Policy, decide, decide_partials, pruned


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> list[date]:
    start, end = d(first), d(last)
    return [start + timedelta(n) for n in range((end - start).days + 1)]


CASES = [
    pytest.param(
        days("2024-01-01", "2024-01-10"),
        Policy(7, 4, 12),
        # monthly finds only January, kept by a daily: short of 12, it keeps the oldest (2024-01-01)
        ["2024-01-02", "2024-01-03"],
        id="ten-days-seven-dailies",
    ),
    pytest.param(
        # A calendar-based scheme would drop Nov and Oct; periods without snapshots do not count.
        [d(x) for x in ("2024-03-20", "2024-03-19", "2024-02-10", "2023-12-25", "2023-11-01")]
        + [d("2023-10-01"), d("2023-09-15")],
        Policy(2, 2, 2),
        ["2023-09-15"],
        id="gaps-do-not-count",
    ),
    pytest.param(
        # 2020-12-28 … 2021-01-03 is ISO week 2020-W53: one week across the new year.
        [d(x) for x in ("2021-01-04", "2021-01-03", "2020-12-31", "2020-12-28", "2020-12-27")],
        Policy(1, 2, 1),
        ["2020-12-28"],
        id="iso-week-across-new-year",
    ),
    pytest.param([d("2024-05-05")], Policy(1, 1, 1), [], id="single-snapshot"),
    pytest.param([], Policy(7, 4, 12), [], id="nothing"),
    pytest.param(
        # Two snapshots per week for six weeks, weekly only counts weeks not already covered by dailies.
        [
            d(x)
            for x in (
                "2024-02-11",
                "2024-02-08",
                "2024-02-04",
                "2024-02-01",
                "2024-01-28",
                "2024-01-25",
                "2024-01-21",
                "2024-01-18",
                "2024-01-14",
                "2024-01-11",
                "2024-01-07",
                "2024-01-04",
            )
        ],
        Policy(2, 3, 1),
        # kept: Feb 11 and 8 (daily), Feb 4, Jan 28, Jan 21 (weekly); monthly finds only months already kept,
        # so, short of its one, it keeps the oldest (Jan 4: monthly[oldest])
        ["2024-02-01", "2024-01-25", "2024-01-18", "2024-01-14", "2024-01-11", "2024-01-07"],
        id="weekly-skips-weeks-kept-by-daily",
    ),
]


@pytest.mark.parametrize(("dates", "policy", "expected_pruned"), CASES)
def test_pruned(dates: list[date], policy: Policy, expected_pruned: list[str]) -> None:
    assert sorted(p.isoformat() for p in pruned(dates, policy)) == sorted(expected_pruned)


def test_reasons_name_rule_count_and_period() -> None:
    dates = [d(x) for x in ("2024-03-20", "2024-03-19", "2024-02-10", "2023-12-25", "2023-11-01", "2023-09-15")]
    got = {x.when.isoformat(): (x.keep, x.reason) for x in decide(dates, Policy(2, 2, 2))}
    assert got == {
        "2024-03-20": (True, "daily 1/2 (2024-03-20); newest"),
        "2024-03-19": (True, "daily 2/2 (2024-03-19)"),
        "2024-02-10": (True, "weekly 1/2 (2024-W06)"),
        "2023-12-25": (True, "weekly 2/2 (2023-W52)"),
        "2023-11-01": (True, "monthly 1/2 (2023-11)"),
        "2023-09-15": (True, "monthly 2/2 (2023-09)"),
    }


def test_decisions_are_newest_first_and_cover_every_date() -> None:
    dates = days("2023-01-01", "2023-03-31")
    out = decide(reversed(dates), Policy(7, 4, 12))
    assert [x.when for x in out] == sorted(dates, reverse=True)
    assert out[0].keep and "newest" in out[0].reason


def test_newest_is_kept_even_when_all_counts_are_zero() -> None:
    out = decide([d("2024-01-01"), d("2024-01-02")], Policy(0, 0, 0))
    assert [(x.when.isoformat(), x.keep) for x in out] == [("2024-01-02", True), ("2024-01-01", False)]


def test_year_of_daily_snapshots_keeps_7_4_12() -> None:
    """400 days ending Sunday 2024-02-04: the newest of the last 7 days, of 4 more ISO weeks, of 12 more months."""
    kept = sorted(x.when.isoformat() for x in decide(days("2023-01-01", "2024-02-04"), Policy(7, 4, 12)) if x.keep)
    assert kept == [
        "2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30", "2023-05-31", "2023-06-30",
        "2023-07-31", "2023-08-31", "2023-09-30", "2023-10-31", "2023-11-30", "2023-12-31",
        "2024-01-07", "2024-01-14", "2024-01-21", "2024-01-28",
        "2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04",
    ]  # fmt: skip


def test_partial_snapshots_are_not_counted_and_live_as_long_as_a_daily() -> None:
    """Held-back snapshots (issue 12 #7) take no daily slot; each goes once `daily` complete ones are newer."""
    complete = days("2024-01-01", "2024-01-10")
    partials = [d("2024-01-02"), d("2024-01-05"), d("2024-01-10")]
    out = decide_partials(partials, complete, Policy(7, 4, 12))
    assert [(x.when.isoformat(), x.keep, x.reason) for x in out] == [
        ("2024-01-10", True, "partial, not counted; kept until 7 newer complete (now 0)"),
        ("2024-01-05", True, "partial, not counted; kept until 7 newer complete (now 5)"),
        ("2024-01-02", False, "partial, not counted; 8 newer complete snapshots exist"),
    ]
    # the complete snapshots' own verdicts do not see the partials at all (01-01 is monthly[oldest])
    assert pruned(complete, Policy(7, 4, 12)) == [d("2024-01-03"), d("2024-01-02")]


def test_fresh_start_keeps_the_first_snapshot_for_a_year() -> None:
    """Issue 16: one snapshot a day from a fresh start with 7/4/12 — borg keeps the very first one until the
    monthly rule has found 12 months of its own (2025-01-07 here), not one week."""
    first = d("2024-01-01")
    for last in (d("2024-01-08"), d("2024-06-30"), d("2025-01-06")):
        out = {x.when: x for x in decide(days("2024-01-01", last.isoformat()), Policy(7, 4, 12))}
        assert out[first].keep and out[first].reason.startswith("monthly[oldest] "), last
    out = {x.when: x for x in decide(days("2024-01-01", "2025-01-06"), Policy(7, 4, 12))}
    assert out[first].reason == "monthly[oldest] 12/12 (2024-01)"
    out = {x.when: x for x in decide(days("2024-01-01", "2025-01-07"), Policy(7, 4, 12))}
    assert not out[first].keep


def test_only_the_coarsest_rule_keeps_the_oldest_as_in_borg_2() -> None:
    """borg 2 keeps the oldest only while the coarsest rule (monthly) has room; borg 1.2 lets any rule that ran
    short keep it (here the weekly one). `oldest="every"` is borg 1.2's form (compared with real borg 1.2)."""
    dates = [d(x) for x in ("2024-03-12", "2024-03-02", "2024-02-29", "2024-02-26")]
    borg2 = {x.when.isoformat(): (x.keep, x.reason) for x in decide(dates, Policy(1, 2, 1))}
    assert borg2["2024-02-29"] == (True, "monthly 1/1 (2024-02)")
    assert borg2["2024-02-26"][0] is False  # monthly is full
    borg12 = {x.when.isoformat(): (x.keep, x.reason) for x in decide(dates, Policy(1, 2, 1), oldest="every")}
    assert borg12["2024-02-26"] == (True, "weekly[oldest] 2/2 (2024-W09)")


def test_a_rule_of_count_zero_is_not_the_coarsest() -> None:
    """With monthly 0 (not given), weekly is the coarsest rule and keeps the oldest."""
    out = {x.when.isoformat(): x.reason for x in decide(days("2024-01-01", "2024-01-10"), Policy(7, 4, 0)) if x.keep}
    assert out["2024-01-01"] == "weekly[oldest] 1/4 (2024-W01)"


def test_dry_run_table_shows_the_oldest_rule_verbatim() -> None:
    """`[oldest]` is text, not a rich style tag (it vanished from `prune --dry-run` before this was escaped)."""
    from io import StringIO

    from rich.console import Console

    from colab.backup.output import retention_table
    from colab.backup.prune import Verdict

    buf = StringIO()
    table = retention_table([Verdict("fortress-20240101", "snapshot", True, "monthly[oldest] 1/12 (2024-01)")], "t")
    Console(file=buf, width=200).print(table)
    assert "monthly[oldest] 1/12 (2024-01)" in buf.getvalue()
