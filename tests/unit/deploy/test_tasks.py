"""The Invoke layer: `inv deploy --service NAME` is the collection's default task (its plan printed by the real `inv`:
tests/unit/test_plan_cases.py); errors are one line."""

from __future__ import annotations

from tests.harness.inv import run_inv


def test_the_same_task_is_reachable_as_deploy_deploy_and_via_pull() -> None:
    assert run_inv("deploy.deploy", "--service", "caddy", "--dry-run", node="cooperator").returncode == 0
    pulled = run_inv("deploy.pull", "--service", "caddy", "--dry-run", node="cooperator")
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
        res = run_inv(*args, node="cooperator", columns=2000)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        assert res.stderr.startswith(message), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_a_real_run_against_the_default_inventory_is_refused_before_contacting_anything() -> None:
    res = run_inv("deploy", "--service", "gitea", node="director")
    assert res.returncode == 1
    assert "refusing to use the Docker engine of cooperator to 100.64.0.1" in res.stderr
