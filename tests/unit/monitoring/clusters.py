"""Two clusters as `inv status` reports them (the default inventory's shape): all healthy, and one with every
critical problem at once. The metrics, the page and the browser tests read the same two."""

from __future__ import annotations

from datetime import datetime

from colab.status.model import NOT_APPLICABLE, Check, ClusterStatus, Level, NodeStatus, ServiceState

NOW = datetime(2024, 1, 5, 6, 0)
OK, WARN, CRIT, OFF, UNKNOWN = Level.OK, Level.WARN, Level.CRIT, Level.OFF, Level.UNKNOWN
NA = NOT_APPLICABLE
TIB = 1024**4


def _row(node: str, checks: dict[str, Check], services: list[ServiceState] | None = None, **kw: object) -> NodeStatus:
    full = {
        col: checks.get(col, NA) for col in ("mesh", "lan", "docker", "fortress", "services", "raid", "backup", "free")
    }
    return NodeStatus(
        node, str(kw.get("availability", "always")), bool(kw.get("here", False)), full, services or [], 0.4
    )


def _free(fortress_free: int, backup_free: int) -> Check:
    data = {
        "fortress": {"path": "/srv/fortress", "total": TIB, "free": fortress_free},
        "backup": {"path": "/mnt/backup", "total": 2 * TIB, "free": backup_free},
    }
    return Check(OK, "fortress 812.4 GB free (85%)\nbackup 1.2 TB free (60%)", data)


def healthy() -> ClusterStatus:
    services = [
        ServiceState("caddy", OK, "caddy: healthy"),
        ServiceState("gitea", OK, "gitea: healthy"),
        ServiceState("prometheus", OK, "prometheus: healthy"),
    ]
    coop = _row(
        "cooperator",
        {
            "mesh": Check(OK, "here"),
            "lan": Check(OK, "here"),
            "docker": Check(OK, "up 26.1.5"),
            "fortress": Check(OK, "mounted /dev/mmcblk0p1", {"mounted": True, "read_mbps": 88.5}),
            "services": Check(OK, "\n".join(s.text for s in services)),
            "raid": Check(OK, "clean, [2/2] [UU]", {"device": "/dev/md0", "health": "clean", "percent": None}),
            "backup": Check(OK, "fortress-20240105, 2h ago, ok", {"age_hours": 2.8}),
            "free": _free(TIB * 85 // 100, TIB * 6 // 5),
        },
        services,
        here=True,
    )
    director = _row(
        "director",
        {
            "mesh": Check(OK, "up", {"ms": 1.2}),
            "lan": Check(OK, "up", {"ms": 0.8}),
            "docker": Check(OK, "up 26.1.5"),
            "fortress": Check(OK, "mounted //100.64.0.1/fortress", {"mounted": True}),
        },
    )
    writer = _row("writer", {"mesh": Check(OK, "up"), "lan": Check(OK, "up"), "docker": Check(OK, "up 27.2.0")})
    projector = _row(
        "projector",
        {c: Check(OFF, "off") for c in ("mesh", "lan", "docker", "fortress")},
        availability="on-demand",
    )
    return ClusterStatus("colab", NOW, 10, [coop, director, writer, projector])


def critical() -> ClusterStatus:
    services = [
        ServiceState("caddy", OK, "caddy: healthy"),
        ServiceState("gitea", CRIT, "gitea: gitea running, unhealthy"),
        ServiceState("prometheus", WARN, "prometheus: prometheus running, health check starting"),
    ]
    coop = _row(
        "cooperator",
        {
            "mesh": Check(OK, "here"),
            "lan": Check(OK, "here"),
            "docker": Check(OK, "up 26.1.5"),
            "fortress": Check(OK, "mounted /dev/mmcblk0p1", {"mounted": True}),
            "services": Check(CRIT, "\n".join(s.text for s in services)),
            "raid": Check(CRIT, "degraded, [2/1] [U_]", {"device": "/dev/md0", "health": "degraded", "percent": None}),
            "backup": Check(CRIT, "fortress-20240103, 2d ago, ok: older than 26h", {"age_hours": 50.0}),
            "free": _free(TIB // 20, TIB),
        },
        services,
        here=True,
    )
    director = _row(
        "director",
        {
            "mesh": Check(OK, "up"),
            "lan": Check(OK, "up"),
            "docker": Check(OK, "up 26.1.5"),
            "fortress": Check(CRIT, "not mounted at /mnt/fortress", {"mounted": False}),
            "raid": Check(
                WARN, "resync, 12.6%, [2/2] [UU]", {"device": "/dev/md1", "health": "resync", "percent": 12.6}
            ),
        },
    )
    terminator = _row(
        "terminator",
        {
            "mesh": Check(CRIT, "down (connection refused)"),
            "lan": Check(CRIT, "down (no answer within 5s)"),
            "docker": Check(UNKNOWN, "?"),
            "fortress": Check(UNKNOWN, "?"),
        },
    )
    projector = _row(
        "projector",
        {c: Check(OFF, "off") for c in ("mesh", "lan", "docker", "fortress")},
        availability="on-demand",
    )
    return ClusterStatus("colab", NOW, 10, [coop, director, terminator, projector])
