"""The cluster network on the target's engine: created once, safe when deploys race.

Deploys of two services at once hold two different service locks, and both may find the network missing;
two `docker network create` calls with the same subnet then fail one of them with "Pool overlaps". Creation
therefore takes a lock of its own on the target node (`<fortress>/docker/.colab-networks`, see
`colab.deploy.lock`), looks again, and creates only if still missing; a create that fails because the network
appeared meanwhile (made outside this tool) counts as done.
"""

from __future__ import annotations

from collections.abc import Callable

from colab.errors import ColabError
from colab.inventory import Inventory
from colab.runner import Runner
from colab.steps import Skip, Step

from . import command_lines, lock
from .output import cause
from .session import Session

LOCK_DIR = ".colab-networks"


def exists(inv: Inventory, s: Session, r: Runner) -> bool:
    return r.run(
        *command_lines.network_inspect_cmd(inv), env=command_lines.engine_env(s.target), check=False, mutating=False
    ).ok


def step(inv: Inventory, s: Session, on_wait: Callable[[str], None] | None = None) -> Step:
    name = inv.docker.cluster_network
    engine = command_lines.engine_env(s.target)

    def check(r: Runner) -> str | None:
        return None if exists(inv, s, r) else f"network {name} is missing"

    def act(r: Runner) -> None:
        where = f"{s.target.fortress}/docker/{LOCK_DIR}"
        what = f"network {name} on {s.target.node.name}"
        with lock.hold(s.node, where, what, "network", wait=True, on_wait=on_wait):
            if not r.dry_run and exists(inv, s, r):
                raise Skip("made meanwhile by another run")
            res = r.run(*command_lines.network_create_cmd(inv), env=engine, check=False)
            if not res.ok and not exists(inv, s, r):
                subnet = inv.docker.cluster_subnet
                raise ColabError(
                    f"cannot create network {name} ({subnet}) on {s.target.node.name}: {cause(res)}; "
                    f"if another network uses {subnet}, remove it or change docker.cluster_subnet"
                )

    return Step(f"network {name}", check, act)
