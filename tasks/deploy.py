"""deploy (the collection's default: `inv deploy --service NAME`), deploy.pull, .rollback, .down, .status, .logs."""

from __future__ import annotations

import sys

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, conclude, finish, load_inventory, out, progress, user_errors
from colab.deploy import DEFAULT_WAIT_TIMEOUT
from colab.errors import ColabError

SERVICE_HELP = {
    "service": "service name from the inventory ([services.NAME])",
    "node": "deploy on this node instead of the inventory's (needs --yes or a confirmation)",
    "yes": "confirm deploying on another node than the inventory's without asking",
    "wait": "when another run is changing the service, wait for it instead of stopping",
    "inventory": HELP["inventory"],
    "dry_run": HELP["dry_run"],
    "json": HELP["json"],
}
DEPLOY_HELP = {
    **SERVICE_HELP,
    "wait_timeout": f"seconds to wait for health checks (default {DEFAULT_WAIT_TIMEOUT})",
    "rollback": "when the new version is not healthy, bring back the one that ran (default); "
    "--no-rollback keeps the failed one for debugging",
}


def _need(service: str | None) -> str:
    if not service:
        raise ColabError("--service NAME is required (a service from the inventory, e.g. --service gitea)")
    return service


def _deploy(
    service: str | None,
    node: str | None,
    yes: bool,
    dry_run: bool,
    wait_timeout: int,
    inventory: str | None,
    json: bool,
    pull: bool,
    wait: bool,
    rollback: bool,
) -> None:
    from colab import confirm
    from colab.deploy import run

    report = run.deploy(
        load_inventory(inventory), _need(service),
        node=node, yes=yes, confirm=confirm.asker(), dry_run=dry_run, wait_timeout=int(wait_timeout), pull=pull,
        wait=wait, rollback_on_failure=rollback, console=progress(json),
    )  # fmt: skip
    conclude(report, json)


@task(default=True, help=DEPLOY_HELP)
@user_errors
def deploy(
    c: Context,
    service: str | None = None,
    node: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    wait_timeout: int = DEFAULT_WAIT_TIMEOUT,
    wait: bool = False,
    rollback: bool = True,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Deploy a service on its node with secrets injected by Infisical (`inv deploy --service gitea`)."""
    _deploy(service, node, yes, dry_run, wait_timeout, inventory, json, False, wait, rollback)


@task(help=DEPLOY_HELP)
@user_errors
def pull(
    c: Context,
    service: str | None = None,
    node: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    wait_timeout: int = DEFAULT_WAIT_TIMEOUT,
    wait: bool = False,
    rollback: bool = True,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Pull the service's newer images, then deploy (recreating what changed)."""
    _deploy(service, node, yes, dry_run, wait_timeout, inventory, json, True, wait, rollback)


@task(help={**SERVICE_HELP, "wait_timeout": DEPLOY_HELP["wait_timeout"]}, name="rollback")
@user_errors
def rollback_(
    c: Context,
    service: str | None = None,
    node: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    wait_timeout: int = DEFAULT_WAIT_TIMEOUT,
    wait: bool = False,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Go back one recorded deployment (its files and the image ids it ran); `deploy.status` shows which runs."""
    from colab import confirm
    from colab.deploy import rollback

    report = rollback.by_hand(
        load_inventory(inventory), _need(service),
        node=node, yes=yes, confirm=confirm.asker(), dry_run=dry_run, wait=wait, wait_timeout=int(wait_timeout),
        console=progress(json),
    )  # fmt: skip
    conclude(report, json)


@task(help=SERVICE_HELP)
@user_errors
def down(
    c: Context,
    service: str | None = None,
    node: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    wait: bool = False,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Stop and remove the service's containers (its data on fortress stays)."""
    from colab import confirm
    from colab.deploy import run

    report = run.down(
        load_inventory(inventory), _need(service),
        node=node, yes=yes, confirm=confirm.asker(), dry_run=dry_run, wait=wait, console=progress(json),
    )  # fmt: skip
    conclude(report, json)


@task(
    help={
        "service": "only this service (default: every service in the inventory)",
        "inventory": HELP["inventory"],
        "json": HELP["json"],
    },
    iterable=["service"],
)
@user_errors
def status(c: Context, service: list[str] | None = None, inventory: str | None = None, json: bool = False) -> None:
    """Every service: node, containers, state, health, image (exit 1 when one is down or unhealthy)."""
    from colab.deploy import running

    rows = running.collect(load_inventory(inventory), list(service or []) or None)
    if json:
        print(running.to_json(rows))
    else:
        out().print(running.table(rows))
    finish(running.exit_code(rows))


@task(
    help={
        "service": SERVICE_HELP["service"],
        "node": "read them on this node instead of the inventory's",
        "tail": "how many lines per container (default 100)",
        "inventory": HELP["inventory"],
    }
)
@user_errors
def logs(
    c: Context, service: str | None = None, node: str | None = None, tail: int = 100, inventory: str | None = None
) -> None:
    """The service's last log lines, all containers, with timestamps."""
    from colab.deploy import run

    sys.stdout.write(run.logs(load_inventory(inventory), _need(service), node=node, tail=int(tail)))
