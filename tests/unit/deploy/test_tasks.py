"""The Invoke layer: `inv deploy --service NAME` is the collection's default task; errors are one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"


def inv(*args: str, node: str = "cooperator") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLAB_NODE": node, "COLUMNS": "2000"}
    env.pop("COLAB_INVENTORY", None)
    return subprocess.run(["inv", *args], cwd=ROOT, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def test_inv_deploy_dry_run_prints_the_plan_for_the_default_inventory() -> None:
    res = inv("deploy", "--service", "gitea", "--dry-run")
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stdout.replace(str(ROOT), "{repo}").splitlines() if line.startswith(("#", "["))]
    expected = (FIXTURES / "gitea-local.txt").read_text().splitlines()
    hashed = [i for i, line in enumerate(expected) if "{hash}" in line]
    assert len(lines) == len(expected)
    for i, (got, want) in enumerate(zip(lines, expected, strict=True)):
        if i in hashed:
            before, _, after = want.partition("{hash}")
            assert got.startswith(before) and got.endswith(after)
        else:
            assert got == want
    assert "compose up gitea" in res.stdout and "planned" in res.stdout


def test_the_same_task_is_reachable_as_deploy_deploy_and_via_pull() -> None:
    assert inv("deploy.deploy", "--service", "caddy", "--dry-run").returncode == 0
    pulled = inv("deploy.pull", "--service", "caddy", "--dry-run")
    assert pulled.returncode == 0 and " pull --quiet" in pulled.stdout


def test_user_errors_are_one_line_with_exit_1() -> None:
    for args, message in (
        (("deploy",), "error: --service NAME is required (a service from the inventory, e.g. --service gitea)"),
        (("deploy", "--service", "nope", "--dry-run"), "error: inventory: unknown service 'nope'; known services:"),
        (
            ("deploy", "--service", "gitea", "--node", "director"),
            "error: gitea is placed on cooperator by the inventory; deploying it on director needs confirmation: "
            "add --yes (no terminal to ask on)",
        ),
        (
            ("deploy", "--service", "gitea", "--wait-timeout", "0", "--dry-run"),
            "error: --wait-timeout must be at least 1 second",
        ),
    ):
        res = inv(*args)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        assert res.stderr.startswith(message), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_a_real_run_against_the_default_inventory_is_refused_before_contacting_anything() -> None:
    res = inv("deploy", "--service", "gitea", node="director")
    assert res.returncode == 1
    assert "refusing to use the Docker engine of cooperator to 100.64.0.1" in res.stderr
