"""Retention by snapshot dates, with borg's rules (pure; no file system).

Rules run in order daily, weekly (ISO weeks), monthly. Each walks the snapshots newest first and keeps the
newest snapshot of every period it has not seen yet, until it has kept its count. A period whose newest
snapshot an earlier rule already keeps is passed over without counting, and periods with no snapshot do
not exist for the rules, so they never count either. The newest snapshot is always kept.

The oldest snapshot (borg >= 1.2): when a rule runs out of snapshots before it has kept its count, it also
keeps the oldest one (`monthly[oldest]`), so a young backup history is not thinned below what the policy
promises. borg 2 (2.0.0b22, `prune_cmd.py`) does this only for the coarsest rule given, so the oldest is kept
as long as that rule still covers it; borg 1.2/1.4 (`prune_split`) lets every rule do it. `decide` follows
borg 2 by default (`oldest="coarsest"`); `oldest="every"` is borg 1.2's form, which the tests compare with
Debian's real borg 1.2. A rule with count 0 is not given (as in borg 1.x, where 0 is the default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

Oldest = Literal["coarsest", "every"]


@dataclass(frozen=True)
class Policy:
    daily: int
    weekly: int
    monthly: int


@dataclass(frozen=True)
class Decision:
    when: date
    keep: bool
    reason: str


def _day(d: date) -> str:
    return d.isoformat()


def _week(d: date) -> str:
    year, week, _ = d.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


RULES: tuple[tuple[str, Callable[[date], str]], ...] = (("daily", _day), ("weekly", _week), ("monthly", _month))


def decide(dates: Iterable[date], policy: Policy, *, oldest: Oldest = "coarsest") -> list[Decision]:
    """Keep or prune each date (newest first), with the reason for each."""
    ordered = sorted(set(dates), reverse=True)
    kept: dict[date, str] = {}
    active = [(rule, period_of, getattr(policy, rule)) for rule, period_of in RULES if getattr(policy, rule) > 0]
    for i, (rule, period_of, count) in enumerate(active):
        last: str | None = None
        n = 0
        for d in ordered:
            period = period_of(d)
            if period == last:
                continue
            last = period
            if d in kept:
                continue
            n += 1
            kept[d] = f"{rule} {n}/{count} ({period})"
            if n == count:
                break
        # Ran out of snapshots before the count: the oldest stays, for this rule (borg 2: only the coarsest).
        coarsest = i == len(active) - 1
        if n < count and (coarsest or oldest == "every") and ordered and ordered[-1] not in kept:
            kept[ordered[-1]] = f"{rule}[oldest] {n + 1}/{count} ({period_of(ordered[-1])})"
    if ordered and ordered[0] not in kept:  # unreachable with daily >= 1, but never delete the newest
        kept[ordered[0]] = "newest"
    decisions = []
    for d in ordered:
        if d in kept:
            reason = kept[d] + ("; newest" if d == ordered[0] else "")
            decisions.append(Decision(d, True, reason))
        else:
            decisions.append(Decision(d, False, _why_pruned(policy)))
    return decisions


def _why_pruned(policy: Policy) -> str:
    return (
        f"not the newest of any of the {policy.daily} daily, {policy.weekly} weekly "
        f"or {policy.monthly} monthly periods kept"
    )


def pruned(dates: Iterable[date], policy: Policy) -> list[date]:
    """The dates retention drops, newest first."""
    return [d.when for d in decide(dates, policy) if not d.keep]


def decide_partials(partials: Iterable[date], complete: Iterable[date], policy: Policy) -> list[Decision]:
    """Held-back (partial) snapshots are not counted by the rules above; each is kept until `policy.daily`
    complete snapshots newer than it exist (as long as a daily would live), then pruned. Newest first."""
    days = sorted(set(complete))
    out = []
    for d in sorted(set(partials), reverse=True):
        newer = sum(1 for c in days if c > d)
        if newer < policy.daily:
            out.append(
                Decision(d, True, f"partial, not counted; kept until {policy.daily} newer complete (now {newer})")
            )
        else:
            out.append(Decision(d, False, f"partial, not counted; {newer} newer complete snapshots exist"))
    return out
