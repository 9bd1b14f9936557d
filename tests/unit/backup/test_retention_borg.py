"""Retention against borg's documented rules, restated here independently, on many random date sets.

The restatement follows borg's documentation, not our code: for each rule in order, take the newest snapshot of
every period (periods newest first), pass over those an earlier rule keeps, keep the first `count`; a rule left
short keeps the oldest snapshot too — only the coarsest rule given (borg 2: "the oldest archive is kept as long
as the coarsest retention rule covers it"), or every rule (borg 1.2/1.4, `oldest="every"`). The same comparison
against Debian's real borg 1.2 is in tests/integration/test_retention_borg.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from colab.backup.retention import Oldest, Policy, decide

PERIODS: dict[str, Callable[[date], object]] = {
    "daily": lambda x: x,
    "weekly": lambda x: x.isocalendar()[:2],
    "monthly": lambda x: (x.year, x.month),
}


def borg_rules(dates: set[date], counts: dict[str, int], oldest: Oldest) -> dict[date, str]:
    """date → the rule that keeps it (e.g. `monthly[oldest]`); dates not in the result are pruned."""
    rules = [(name, counts[name]) for name in PERIODS if counts[name] > 0]
    keep: dict[date, str] = {}
    for i, (name, count) in enumerate(rules):
        newest_of: dict[object, date] = {}
        for x in sorted(dates, reverse=True):
            newest_of.setdefault(PERIODS[name](x), x)
        mine = [x for x in newest_of.values() if x not in keep][:count]
        keep.update(dict.fromkeys(mine, name))
        if len(mine) < count and (oldest == "every" or i == len(rules) - 1) and min(dates) not in keep:
            keep[min(dates)] = f"{name}[oldest]"
    return keep


date_sets = st.lists(
    st.tuples(st.integers(0, 900), st.integers(1, 6)),  # a cluster: its first day and how many days in a row
    min_size=1,
    max_size=12,
).map(lambda clusters: {date(2023, 1, 1) + timedelta(start + k) for start, n in clusters for k in range(n)})
counts = st.fixed_dictionaries({"daily": st.integers(1, 8), "weekly": st.integers(0, 6), "monthly": st.integers(0, 13)})


@settings(max_examples=400, deadline=None)
@given(dates=date_sets, counts=counts, oldest=st.sampled_from(["coarsest", "every"]))
def test_decisions_match_borgs_rules(dates: set[date], counts: dict[str, int], oldest: Oldest) -> None:
    expected = borg_rules(dates, counts, oldest)
    got = decide(dates, Policy(counts["daily"], counts["weekly"], counts["monthly"]), oldest=oldest)
    assert {x.when: x.reason.split(" ")[0] for x in got if x.keep} == expected
