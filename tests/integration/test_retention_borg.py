"""Retention decided by Debian's real borg (1.2) and by us, on random date sets: the same snapshots kept, each
by the same rule.

Each random series becomes a borg repository of empty archives whose timestamps are faked (`borg create
--timestamp`, noon UTC, TZ=UTC so borg's local time is the date); `borg prune --dry-run --list` with random
--keep-daily/--keep-weekly/--keep-monthly says what it keeps and by which rule (`weekly[oldest] #2`). borg 1.2
lets every rule that ran short keep the oldest archive; our default follows borg 2, where only the coarsest rule
does, so the comparison is with `decide(..., oldest="every")` (the rest of the rules is shared). borg 2's form is
checked against a restatement of its documentation in tests/unit/backup/test_retention_borg.py.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest

from colab.backup.retention import Policy, decide
from tests.conftest import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.tools]

SHAPES = ((6, 40), (10, 120), (16, 400), (24, 700))  # (days, over how many days): short and long histories
POLICIES = 10
LINE = re.compile(
    r"^(?:Keeping archive \(rule: (?P<rule>[a-z\[\]]+) #\d+\)|Would prune):\s+s-(?P<day>\d{4}-\d{2}-\d{2})"
)


def random_dates(rnd: random.Random, size: int, span: int) -> list[date]:
    """About `size` days in clusters (runs of days, same weeks, same months) spread over `span` days."""
    days: set[date] = set()
    start = date(2023, 1, 1) + timedelta(rnd.randint(0, 365))
    while len(days) < size:
        first = start + timedelta(rnd.randint(0, span))
        days.update(first + timedelta(k * rnd.choice((1, 1, 2, 3))) for k in range(rnd.randint(1, 4)))
    return sorted(days)


def borg(env: dict[str, str], *args: str) -> str:
    res = subprocess.run(["borg", *args], env=env, capture_output=True, text=True, check=False, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout + res.stderr


def make_repo(base: Path, dates: list[date]) -> tuple[dict[str, str], Path]:
    env = {
        "PATH": os.environ["PATH"],
        "TZ": "UTC",
        "HOME": str(base),
        "BORG_BASE_DIR": str(base / "borg-home"),
        "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
        "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
    }
    repo, empty = base / "repo", base / "empty"
    empty.mkdir(parents=True)
    borg(env, "init", "--encryption=none", str(repo))
    for day in dates:
        borg(env, "create", "--timestamp", f"{day.isoformat()}T12:00:00", f"{repo}::s-{day.isoformat()}", str(empty))
    return env, repo


def borg_prune(env: dict[str, str], repo: Path, policy: Policy) -> dict[date, str | None]:
    """date → borg's rule keeping it (None: pruned)."""
    keep = [f"--keep-{rule}={n}" for rule, n in vars(policy).items() if n > 0]
    out = borg(env, "prune", "--dry-run", "--list", *keep, str(repo))
    found: dict[date, str | None] = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            found[date.fromisoformat(m["day"])] = m["rule"]
    return found


def test_our_retention_matches_real_borg_on_random_date_sets(tmp_path: Path) -> None:
    require_tool("borg")
    rnd = random.Random(16)
    series = [random_dates(rnd, size, span) for size, span in SHAPES]
    with ThreadPoolExecutor(max_workers=2) as pool:
        repos = list(pool.map(lambda i: make_repo(tmp_path / f"s{i}", series[i]), range(len(SHAPES))))
    cases = [
        (i, Policy(rnd.randint(1, 7), rnd.randint(0, 8), rnd.randint(0, 13)))
        for i in range(len(SHAPES))
        for _ in range(POLICIES)
    ]

    def compare(case: tuple[int, Policy]) -> tuple[int, Policy, dict[date, str | None], dict[date, str | None]]:
        i, policy = case
        theirs = borg_prune(*repos[i], policy)
        ours = {x.when: (x.reason.split(" ")[0] if x.keep else None) for x in decide(series[i], policy, oldest="every")}
        return i, policy, theirs, ours

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(compare, cases))
    rules_seen: set[str] = set()
    for i, policy, theirs, ours in results:
        assert set(theirs) == set(series[i]), "borg listed other archives than were made"
        assert ours == theirs, (policy, series[i])
        rules_seen |= {rule for rule in theirs.values() if rule}
    # the cases reached every rule, and the oldest kept by a finer rule than the coarsest (borg 1.2's form)
    assert {"daily", "weekly", "monthly", "monthly[oldest]", "weekly[oldest]"} <= rules_seen, rules_seen
