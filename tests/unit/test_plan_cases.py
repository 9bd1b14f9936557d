"""Every plan case (`tests/unit/<area>/cases/*.txt`): inventory overrides + fake node answers → exactly what the
task prints and what the nodes ran. The format and the runner: tests/harness/plan_cases.py. One case:
`nox -s tests -- "tests/unit/test_plan_cases.py::test_plan[storage/mount-director]"`; `--update-golden` rewrites
the expected parts instead of comparing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import plan_cases
from tests.harness.inv import run_inv


@pytest.mark.parametrize("path", plan_cases.find(), ids=plan_cases.case_id)
def test_plan(path: Path, tmp_path: Path, pytestconfig: pytest.Config) -> None:
    plan_cases.check(path, tmp_path, update=pytestconfig.getoption("update_golden"))


# The same cases through the real `inv` in a child process (its own parser, imports and exit): one per area.
THROUGH_INV = [
    "bootstrap/director",
    "deploy/gitea-local",
    "storage/mount-writer",
    "lifecycle/rollout",
    "backup/reuses-what-expires",
]


@pytest.mark.parametrize("name", THROUGH_INV)
def test_the_real_inv_prints_the_same(name: str, tmp_path: Path) -> None:
    path = next(p for p in plan_cases.find() if plan_cases.case_id(p) == name)
    case = plan_cases.parse(path)
    args, inventory = plan_cases.prepare(case, tmp_path)
    res = run_inv(*args, node=case.value("here", "controller"), inventory=inventory, columns=None)
    got = plan_cases.Outcome(res.stdout, res.stderr, [], res.returncode).text()
    assert plan_cases.normalize(got, tmp_path) == case.expected.rstrip("\n")
