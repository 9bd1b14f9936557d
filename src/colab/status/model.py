"""What `inv status` reports: a check per column and node, the services of a node, the cluster's verdict.

Levels: `ok`; `warning` (exit 2 unless something is critical: a RAID rebuilding, one of mesh/LAN down, low
space, a backup run left unfinished …); `critical` (exit 1: a backup older than 26 h, a degraded RAID,
fortress not mounted where it should be, an unhealthy or stopped service, an always-on node unreachable);
`off` (an on-demand node that is powered off: not an error); `unknown` (could not be asked because the node
is unreachable, which is itself reported); `-` (does not apply to this node).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    OK = "ok"
    WARN = "warning"
    CRIT = "critical"
    OFF = "off"
    UNKNOWN = "unknown"
    NA = "-"


# Worst first: the level a group of checks takes.
_SEVERITY = [Level.CRIT, Level.WARN, Level.UNKNOWN, Level.OFF, Level.OK, Level.NA]

COLUMNS = ("mesh", "lan", "docker", "fortress", "services", "raid", "backup", "free")


def worst(levels: list[Level]) -> Level:
    return min(levels, key=_SEVERITY.index) if levels else Level.NA


@dataclass(frozen=True)
class Check:
    level: Level
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"level": str(self.level), "text": self.text, **self.data}


NOT_APPLICABLE = Check(Level.NA, "-")


@dataclass(frozen=True)
class ServiceState:
    service: str
    level: Level
    text: str
    containers: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "level": str(self.level), "text": self.text, "containers": self.containers}


@dataclass
class NodeStatus:
    node: str
    availability: str
    here: bool
    checks: dict[str, Check]
    services: list[ServiceState] = field(default_factory=list)
    seconds: float = 0.0

    def problems(self) -> list[tuple[str, Check]]:
        """(column, check) of every critical or warning check; an unreachable node is one problem, not two."""
        bad = (Level.CRIT, Level.WARN)
        found = [(col, self.checks[col]) for col in COLUMNS if self.checks[col].level in bad]
        if self.services:  # name only the services that are wrong
            found = [
                (col, Check(c.level, "; ".join(s.text for s in self.services if s.level in bad), c.data))
                if col == "services"
                else (col, c)
                for col, c in found
            ]
        reach = [c for col, c in found if col in ("mesh", "lan")]
        if len(reach) == 2 and reach[0].level == reach[1].level == Level.CRIT:
            text = f"unreachable: mesh {reach[0].text}; LAN {reach[1].text}"
            found = [("reach", Check(Level.CRIT, text)), *[(c, k) for c, k in found if c not in ("mesh", "lan")]]
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "availability": self.availability,
            "here": self.here,
            "seconds": round(self.seconds, 2),
            "checks": {col: self.checks[col].as_dict() for col in COLUMNS},
            "services": [s.as_dict() for s in self.services],
        }


@dataclass
class ClusterStatus:
    cluster: str
    now: datetime
    timeout: float
    nodes: list[NodeStatus]

    def problems(self) -> list[tuple[str, str, Check]]:
        return [(n.node, col, check) for n in self.nodes for col, check in n.problems()]

    @property
    def exit_code(self) -> int:
        levels = {check.level for _, _, check in self.problems()}
        return 1 if Level.CRIT in levels else 2 if Level.WARN in levels else 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "cluster": self.cluster,
                "now": self.now.isoformat(timespec="minutes"),
                "timeout": self.timeout,
                "exit_code": self.exit_code,
                "nodes": [n.as_dict() for n in self.nodes],
                "problems": [
                    {"node": node, "check": col, "level": str(c.level), "text": c.text}
                    for node, col, c in self.problems()
                ],
            },
            indent=2,
        )
