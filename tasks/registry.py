"""registry.push / registry.pull: images through the cluster's registry, the token from Infisical in memory only."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, conclude, load_inventory, progress, user_errors

REGISTRY_HELP = {
    "image": "<registry>/<owner>/<image>:<tag>, e.g. git.ism.la/rtr/app:1.0 (the registry is the inventory's)",
    "node": "use this node's Docker engine (over SSH) instead of this machine's",
    "inventory": HELP["inventory"],
    "dry_run": HELP["dry_run"],
    "json": HELP["json"],
}


def _transfer(verb: str, image: str, node: str | None, dry_run: bool, inventory: str | None, json: bool) -> None:
    from colab import registry

    inv = load_inventory(inventory)
    conclude(registry.transfer(inv, verb, image, node=node, dry_run=dry_run, console=progress(json)), json)


@task(help=REGISTRY_HELP)
@user_errors
def push(
    c: Context,
    image: str = "",
    node: str | None = None,
    dry_run: bool = False,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Push a local image to the cluster's registry (`inv registry.push --image git.ism.la/rtr/app:1.0`)."""
    _transfer("push", image, node, dry_run, inventory, json)


@task(help=REGISTRY_HELP)
@user_errors
def pull(
    c: Context,
    image: str = "",
    node: str | None = None,
    dry_run: bool = False,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Pull an image from the cluster's registry into this machine's engine, or --node's."""
    _transfer("pull", image, node, dry_run, inventory, json)
