"""An `inv status` run as metrics: `colab-status.prom` (and `colab-fortress-read.prom` with a read sample).

The same judgement as the table, so an alert fires for what `inv status` calls critical. Every sample carries
the `node` it is about (the file is written on the node that ran `inv status` and scraped there). A value is
only written when it is known: a node that could not be asked has `colab_node_up 0` and nothing else, so an
unreachable node is one alert (node down), not one per check.

- `colab_node_up{node,availability}`: 1 when its mesh or LAN address answered (or it is this node);
- `colab_check_level{node,check}`: 0 ok, 1 warning, 2 critical, for each check that applies and is known;
- `colab_fortress_mounted{node}`, `colab_fortress_read_mbps{node}` (with `--read-sample`);
- `colab_service_healthy{node,service}`: 1 when every container of the service is healthy or running;
- `colab_raid_state{node,device,state}`: 1 for the array's state (clean, check, resync, recovery, degraded,
  inactive, failed, missing), 0 for the others; `colab_raid_sync_percent` while a resync/recovery/check runs;
- `colab_volume_size_bytes`, `colab_volume_free_bytes{node,volume,path}`: fortress and the backup volume;
- `colab_status_last_run_timestamp_seconds`, `colab_status_run_seconds`, `colab_status_problems{level}`.
"""

from __future__ import annotations

from colab.status.model import COLUMNS, ClusterStatus, Level, NodeStatus
from colab.storage import mdstat

from . import textfile

FILE = "colab-status.prom"
READ_FILE = "colab-fortress-read.prom"
RAID_STATES = (
    mdstat.CLEAN,
    mdstat.CHECK,
    mdstat.RESYNC,
    mdstat.RECOVERY,
    mdstat.DEGRADED,
    mdstat.INACTIVE,
    mdstat.FAILED,
    mdstat.MISSING,
)
LEVEL_VALUES = {Level.OK: 0, Level.WARN: 1, Level.CRIT: 2}


def node_up(row: NodeStatus) -> bool:
    """Reachable: this node, or one of its addresses answered (a `down` on one of them is only a warning)."""
    return row.here or any(row.checks[col].level in (Level.OK, Level.WARN) for col in ("mesh", "lan"))


def families(status: ClusterStatus, finished: float, seconds: float) -> list[textfile.Family]:
    """`colab-status.prom` for a status run that ended at `finished` (epoch) after `seconds`."""
    F = textfile.Family
    up = F("colab_node_up", "1 when the node answered inv status (mesh or LAN), else 0; on-demand nodes may be off.")
    level = F("colab_check_level", "inv status verdict per node and check: 0 ok, 1 warning, 2 critical.")
    mounted = F("colab_fortress_mounted", "1 when fortress is mounted (and writable) where the inventory says.")
    healthy = F("colab_service_healthy", "1 when every container of the service is healthy or running, else 0.")
    raid = F("colab_raid_state", "1 for the RAID array's current state (from /proc/mdstat), 0 for the others.")
    sync = F("colab_raid_sync_percent", "Progress of a RAID resync, recovery or check under way, in percent.")
    size = F("colab_volume_size_bytes", "Size of the file system holding fortress or the backup volume.")
    free = F("colab_volume_free_bytes", "Bytes available to users on that file system.")
    for row in status.nodes:
        node = row.node
        reachable = node_up(row)
        up.add(int(reachable), node=node, availability=row.availability)
        if not reachable:
            continue
        for col in COLUMNS:
            if row.checks[col].level in LEVEL_VALUES:
                level.add(LEVEL_VALUES[row.checks[col].level], node=node, check=col)
        fort = row.checks["fortress"]
        if fort.level in LEVEL_VALUES:
            mounted.add(int(fort.level == Level.OK), node=node)
        for svc in row.services:
            if svc.level in LEVEL_VALUES:
                healthy.add(int(svc.level == Level.OK), node=node, service=svc.service)
        rd = row.checks["raid"]
        health = rd.data.get("health")
        if health in RAID_STATES:
            device = str(rd.data.get("device", ""))
            for state in RAID_STATES:
                raid.add(int(state == health), node=node, device=device, state=state)
            if isinstance(rd.data.get("percent"), int | float):
                sync.add(float(rd.data["percent"]), node=node, device=device)
        for volume, data in row.checks["free"].data.items():
            if isinstance(data, dict) and "total" in data and "free" in data:
                size.add(data["total"], node=node, volume=volume, path=str(data.get("path", "")))
                free.add(data["free"], node=node, volume=volume, path=str(data.get("path", "")))
    problems = F("colab_status_problems", "Problems inv status reported, by level.")
    found = [c.level for _, _, c in status.problems()]
    problems.add(found.count(Level.CRIT), level="critical")
    problems.add(found.count(Level.WARN), level="warning")
    last = F("colab_status_last_run_timestamp_seconds", "When the last inv status export ended.")
    last.add(round(finished, 3))
    took = F("colab_status_run_seconds", "How long the last inv status export took.")
    took.add(round(seconds, 3))
    return [up, level, mounted, healthy, raid, sync, size, free, problems, last, took]


def read_families(status: ClusterStatus) -> list[textfile.Family]:
    """`colab-fortress-read.prom`: the read samples of a `--read-sample` run (nodes that could not read: none)."""
    fam = textfile.Family("colab_fortress_read_mbps", "MB/s of one timed 64 MiB read from fortress on this node.")
    for row in status.nodes:
        value = row.checks["fortress"].data.get("read_mbps")
        if isinstance(value, int | float):
            fam.add(float(value), node=row.node)
    return [fam]
