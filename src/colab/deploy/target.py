"""Where a service is deployed: its node, that node's Docker engine and its fortress folders.

The engine is the local socket when we run on the target node (`colab.runner.this_node()`), else the
target's engine over SSH: `DOCKER_HOST=ssh://<ssh_user>@<mesh address>[:<ssh_port>]` (the Docker CLI's own
SSH helper, which reads ~/.ssh/config). Paths are the target's: fortress is where the inventory says it is
on that node (the server keeps it at `fortress.path`, Linux clients at `fortress.mounts.linux` …).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from colab import netguard
from colab.confirm import Ask
from colab.errors import ColabError
from colab.inventory import REPO_ROOT, Inventory, Node, Service
from colab.runner import this_node

COMPOSE_FILE = "compose.yaml"

Confirm = Ask  # colab.confirm's question: one shape for every confirmation


@dataclass(frozen=True)
class Target:
    service: Service
    node: Node
    here: str  # the node (or host) this process runs on
    fortress: str  # fortress on the target node
    source: Path  # the service's compose folder in this checkout
    moved: bool = False  # deployed on another node than the inventory places it

    @property
    def local(self) -> bool:
        return self.node.name == self.here

    @property
    def docker_host(self) -> str:
        """`ssh://user@mesh[:port]` for another node's engine, "" for the local socket."""
        return "" if self.local else self.node.engine_url

    @property
    def project_dir(self) -> str:
        """The service's folder on the target: `<fortress>/docker/<service>` (as colab.compose.project_dir)."""
        return f"{self.fortress}/docker/{self.service.name}"

    @property
    def state_dir(self) -> str:
        """This tool's own state for the service, beside its folder: the lock and the recorded deployments."""
        return f"{self.fortress}/docker/.{self.service.name}.colab"

    @property
    def what(self) -> str:
        """`gitea on cooperator`, for messages."""
        return f"{self.service.name} on {self.node.name}"

    @property
    def data_dir(self) -> str:
        """Where the service's volumes live on the target: `<fortress>/data/<service>`."""
        return f"{self.fortress}/data/{self.service.name}"

    @property
    def compose_file(self) -> Path:
        return self.source / COMPOSE_FILE


def source_dir(svc: Service) -> Path:
    """The service's compose folder: `compose` from the inventory, relative to the repository root."""
    path = Path(svc.compose)
    return path if path.is_absolute() else REPO_ROOT / path


def resolve(
    inv: Inventory,
    service: str,
    node: str | None = None,
    *,
    here: str | None = None,
    yes: bool = False,
    confirm: Confirm | None = None,
    dry_run: bool = False,
) -> Target:
    """The target for `service`, enforcing placement; raises ColabError (one line) when it cannot be used.

    Deploying onto another node than the inventory's needs `node` and a confirmation: `yes`, or `confirm`
    (a terminal prompt) answering True. Without a terminal and without `yes` it is refused. A dry run
    needs no confirmation and contacts nothing, so the network guard is only consulted for real runs.
    """
    svc = inv.service(service)
    chosen = inv.node(node) if node else inv.node(svc.node)
    moved = chosen.name != svc.node
    if moved:
        if "gpu" in svc.requires and not chosen.gpu:
            raise ColabError(f"{service} requires a GPU and {chosen.name} has none; choose a node with gpu = true")
        question = f"{service} is placed on {svc.node} by the inventory; deploy it on {chosen.name} instead?"
        if not (yes or dry_run):
            if confirm is None:
                raise ColabError(
                    f"{service} is placed on {svc.node} by the inventory; deploying it on {chosen.name} "
                    "needs confirmation: add --yes (no terminal to ask on)"
                )
            if not confirm(question):
                raise ColabError(f"not confirmed; {service} stays where the inventory places it ({svc.node})")
    source = source_dir(svc)
    if not (source / COMPOSE_FILE).is_file():
        raise ColabError(
            f"{source / COMPOSE_FILE} not found; services.{service}.compose must name a folder holding {COMPOSE_FILE}"
        )
    target = Target(svc, chosen, here or this_node(), inv.fortress_mount(chosen), source, moved)
    if not dry_run and not target.local:
        netguard.ensure_allowed(str(chosen.mesh), f"use the Docker engine of {chosen.name}")
    return target
