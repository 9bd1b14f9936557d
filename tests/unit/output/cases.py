"""What the tasks print, built from the default inventory and a status as a real cluster gives it (nothing is
contacted): the cases the width tests print at 80 and 200 columns."""

from __future__ import annotations

from datetime import datetime

from rich.console import RenderableType

from colab import inventory, inventory_view
from colab.status import view
from colab.status.model import COLUMNS, Check, ClusterStatus, Level, NodeStatus, ServiceState
from colab.steps import Outcome, Report, Status
from tests.conftest import ROOT

INV = inventory.load(ROOT / "cluster.toml")


def _node(name: str, **checks: Check) -> NodeStatus:
    full = {col: checks.get(col, Check(Level.OK, "up")) for col in COLUMNS}
    return NodeStatus(name, INV.nodes[name].availability, name == "cooperator", full)


def status() -> ClusterStatus:
    down = Check(Level.CRIT, "down (connect to 192.168.254.20 port 22: connection refused)")
    coop = _node(
        "cooperator",
        docker=Check(Level.OK, "up 26.1.5"),
        fortress=Check(Level.OK, "mounted /media/crtr/fortress"),
        backup=Check(Level.WARN, "fortress-20240103 9h ago; an unfinished run left fortress-20240103.tmp"),
        free=Check(Level.OK, "fortress 41%\nbackup 63%"),
    )
    coop.services = [
        ServiceState("caddy", Level.OK, "caddy: healthy"),
        ServiceState("gitea", Level.CRIT, "gitea: gitea unhealthy, db exited(1)"),
    ]
    coop.checks["services"] = Check(Level.CRIT, "caddy: healthy\ngitea: gitea unhealthy, db exited(1)")
    director = _node("director", mesh=down, lan=down, **{c: Check(Level.UNKNOWN, "?") for c in COLUMNS[2:]})
    projector = _node("projector", **{c: Check(Level.OFF, "off") for c in COLUMNS})
    return ClusterStatus("colab", datetime(2024, 1, 3, 10, 0), 10.0, [coop, director, projector])


def report() -> Report:
    rep = Report("bootstrap writer")
    rep.outcomes.append(Outcome("writer", "packages: git rsync python3-venv", Status.OK))
    rep.outcomes.append(
        Outcome("writer", "fortress mount /mnt/fortress", Status.FAILED, "mount error(13): Permission denied")
    )
    return rep


CASES: dict[str, RenderableType] = {
    "inventory.show": inventory_view.tables(INV),
    "status": view.render(status()),
    "steps": report().table(),
}

# Values that identify a row: printed whole at every width.
IDENTIFYING: dict[str, list[str]] = {
    "inventory.show": [
        *INV.nodes,
        *(str(n.lan) for n in INV.nodes.values()),
        *(str(n.mesh) for n in INV.nodes.values()),
        *INV.services,
    ],
    "status": ["cooperator", "director", "projector"],
    "steps": ["writer"],
}
