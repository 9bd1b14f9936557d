"""rollout: every node's checkout to this checkout's commit, chezmoi apply, the venv, the changed services."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, finish, load_inventory, out, progress, user_errors


@task(
    help={
        "nodes": "comma-separated nodes, in inventory order (default: every node)",
        "commit": "roll out this revision instead of this checkout's HEAD (a full sha the nodes' remote has)",
        "dry_run": HELP["dry_run"] + "; contacts nothing",
        "json": HELP["json"],
        "inventory": HELP["inventory"],
    }
)
@user_errors
def rollout(
    c: Context,
    nodes: str | None = None,
    commit: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    inventory: str | None = None,
) -> None:
    """Bring every node to this commit: git fetch + merge --ff-only, chezmoi apply, the venv from the lock,
    then redeploy the services whose files changed; one node at a time, stopping at the first failure."""
    from colab.lifecycle import rollout as rollouts
    from colab.steps import print_report

    inv = load_inventory(inventory)
    result = rollouts.rollout(inv, nodes=nodes, commit=commit, dry_run=dry_run, console=progress(json))
    if json:
        print(result.to_json())
    else:
        print_report(result.report, out())
        if not dry_run:
            out().print(result.table())
    finish(result.exit_code)
