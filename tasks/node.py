"""node.add, node.remove: a node in or out of the inventory, the render, the edge services to redeploy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, load_inventory, out, user_errors

if TYPE_CHECKING:
    from colab.lifecycle.edit import Prepared

COMMON = {
    "output": "write the rendered files under this folder instead of the repo (tests)",
    "inventory": HELP["inventory"],
    "dry_run": "check and show what it would write; write nothing",
    "json": HELP["json"],
}


def _finish(prepared: Prepared, dry_run: bool, json: bool, written: list[str], name: str, then: str) -> None:
    from colab.lifecycle import edit
    from colab.lifecycle import output as show

    applied = None if dry_run else edit.apply(prepared)
    if json:
        print(show.edit_json(prepared, applied, node=name))
        return
    show.node_edit(out(), prepared, applied, written, then)


@task(
    help={
        "name": "the node's name (lowercase letters, digits, '-'); also its host name",
        "lan": "its LAN address (in networks.lan)",
        "mesh": "the address Headscale will give it (in networks.mesh; Headscale hands them out in order)",
        "os": "debian, wsl or macos (default debian)",
        "arch": "amd64 or arm64 (default amd64)",
        "roles": "comma-separated roles (e.g. compute,gpu)",
        "availability": "always (default) or on-demand",
        "ssh_user": "its user (default: the one most nodes use)",
        "ssh_port": "its sshd port (default 22)",
        "repo": "its checkout of the repo (default: another node's with the same user and OS family)",
        "gpu": "it has a GPU",
        "no_exporter": "no node-exporter service for it (default: one, on Debian, where the inventory has them)",
        **COMMON,
    }
)
@user_errors
def add(
    c: Context, name: str, lan: str = "", mesh: str = "", os: str = "debian", arch: str = "amd64", roles: str = "",
    availability: str = "always", ssh_user: str = "", ssh_port: int = 22, repo: str = "", gpu: bool = False,
    no_exporter: bool = False, output: str | None = None, inventory: str | None = None, dry_run: bool = False,
    json: bool = False,
) -> None:  # fmt: skip
    """Add a node: [nodes.NAME] checked like every node, its node-exporter, inv render; the services to redeploy."""
    from colab.inventory import inventory_path
    from colab.lifecycle import nodes_edit
    from colab.lifecycle import output as show

    load_inventory(inventory)
    path = inventory_path(inventory)
    req = nodes_edit.NewNode(
        name, lan, mesh, os, arch, tuple(r.strip() for r in roles.split(",") if r.strip()), availability, ssh_user,
        ssh_port, repo, gpu, not no_exporter,
    )  # fmt: skip
    added = nodes_edit.plan_add(path, req, output=Path(output) if output else None)
    written = [f"{path}: [nodes.{name}]"] + ([f"{path}: [services.{added.exporter}]"] if added.exporter else [])
    if dry_run and not json:
        show.show_files(out(), {f"{path}": added.table_text + added.exporter_text})
    then = (
        f"Next: commit and push, `inv bootstrap --node {name}` (on the mesh with {mesh}: if Headscale gives it another "
        "address, bootstrap says which), then `inv rollout` (every node's files, the redeploys above)"
    )
    _finish(added.prepared, dry_run, json, written, name, then)


@task(help={"name": "the node to take out of the inventory", **COMMON})
@user_errors
def remove(
    c: Context,
    name: str,
    output: str | None = None,
    inventory: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Remove a node with no services: its [nodes.NAME] table, inv render; the services to redeploy."""
    from colab.inventory import inventory_path
    from colab.lifecycle import nodes_edit

    load_inventory(inventory)
    path = inventory_path(inventory)
    removed = nodes_edit.plan_remove(path, name, output=Path(output) if output else None)
    written = [f"{path}: [nodes.{name}] removed"]
    if removed.exporter:
        written.append(f"{path}: [services.{removed.exporter}] removed")
    then = (
        f"Next: commit and push, then `inv rollout` (every node's files, the redeploys above). Nothing on {name} "
        "itself was touched: its mesh registration stays in Headscale until you delete it there (headscale nodes "
        "delete)"
    )
    _finish(removed.prepared, dry_run, json, written, name, then)
