"""deploy (the collection's default: `inv deploy --service NAME`), deploy.pull, .rollback, .down, .status, .logs."""

import sys

from invoke import task
from rich.prompt import Confirm

from colab import deploy as dep
from colab.cli import HELP, conclude, err, finish, load_inventory, out, progress, user_errors
from colab.deploy import status as dep_status
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


def _confirm():
    """A terminal prompt, or None when there is no terminal to ask on."""
    if sys.stdin.isatty():
        return lambda question: Confirm.ask(question, default=False, console=err())
    return None


def _need(service):
    if not service:
        raise ColabError("--service NAME is required (a service from the inventory, e.g. --service gitea)")
    return service


def _deploy(service, node, yes, dry_run, wait_timeout, inventory, json, pull, wait, rollback):
    inv = load_inventory(inventory)
    report = dep.deploy(
        inv,
        _need(service),
        node=node,
        yes=yes,
        confirm=_confirm(),
        dry_run=dry_run,
        wait_timeout=int(wait_timeout),
        pull=pull,
        wait=wait,
        rollback_on_failure=rollback,
        console=progress(json),
    )
    conclude(report, json)


DEPLOY_HELP = {
    **SERVICE_HELP,
    "wait_timeout": f"seconds to wait for health checks (default {dep.DEFAULT_WAIT_TIMEOUT})",
    "rollback": "when the new version is not healthy, bring back the one that ran (default); "
    "--no-rollback keeps the failed one for debugging",
}


@task(default=True, help=DEPLOY_HELP)
@user_errors
def deploy(
    c,
    service=None,
    node=None,
    yes=False,
    dry_run=False,
    wait_timeout=dep.DEFAULT_WAIT_TIMEOUT,
    wait=False,
    rollback=True,
    inventory=None,
    json=False,
):
    """Deploy a service on its node with secrets injected by Infisical (`inv deploy --service gitea`)."""
    _deploy(service, node, yes, dry_run, wait_timeout, inventory, json, False, wait, rollback)


@task(help=DEPLOY_HELP)
@user_errors
def pull(
    c,
    service=None,
    node=None,
    yes=False,
    dry_run=False,
    wait_timeout=dep.DEFAULT_WAIT_TIMEOUT,
    wait=False,
    rollback=True,
    inventory=None,
    json=False,
):
    """Pull the service's newer images, then deploy (recreating what changed)."""
    _deploy(service, node, yes, dry_run, wait_timeout, inventory, json, True, wait, rollback)


@task(help={**SERVICE_HELP, "wait_timeout": DEPLOY_HELP["wait_timeout"]}, name="rollback")
@user_errors
def rollback_(
    c,
    service=None,
    node=None,
    yes=False,
    dry_run=False,
    wait_timeout=dep.DEFAULT_WAIT_TIMEOUT,
    wait=False,
    inventory=None,
    json=False,
):
    """Go back one recorded deployment (its files and the image ids it ran); `deploy.status` shows which runs."""
    inv = load_inventory(inventory)
    report = dep.roll_back(
        inv,
        _need(service),
        node=node,
        yes=yes,
        confirm=_confirm(),
        dry_run=dry_run,
        wait=wait,
        wait_timeout=int(wait_timeout),
        console=progress(json),
    )
    conclude(report, json)


@task(help=SERVICE_HELP)
@user_errors
def down(c, service=None, node=None, yes=False, dry_run=False, wait=False, inventory=None, json=False):
    """Stop and remove the service's containers (its data on fortress stays)."""
    inv = load_inventory(inventory)
    report = dep.down(
        inv, _need(service), node=node, yes=yes, confirm=_confirm(), dry_run=dry_run, wait=wait, console=progress(json)
    )
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
def status(c, service=None, inventory=None, json=False):
    """Every service: node, containers, state, health, image (exit 1 when one is down or unhealthy)."""
    inv = load_inventory(inventory)
    rows = dep_status.collect(inv, list(service or []) or None)
    if json:
        print(dep_status.to_json(rows))
    else:
        out().print(dep_status.table(rows))
    finish(dep_status.exit_code(rows))


@task(
    help={
        "service": SERVICE_HELP["service"],
        "node": "read them on this node instead of the inventory's",
        "tail": "how many lines per container (default 100)",
        "inventory": HELP["inventory"],
    }
)
@user_errors
def logs(c, service=None, node=None, tail=100, inventory=None):
    """The service's last log lines, all containers, with timestamps."""
    inv = load_inventory(inventory)
    sys.stdout.write(dep.logs(inv, _need(service), node=node, tail=int(tail)))
