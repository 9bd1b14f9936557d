"""Fortress, free space and the RAID, as `inv status` sees them.

- Fortress: `colab.storage.fortress_status.probe` (the storage developer's `inv fortress.status`), without the read
  benchmark: the mount point holds the share (a client) or the device (the server), and each folder takes a
  tiny file; where systemd runs, "mounted since boot" (the boot mount did it) or "mounted by hand" (a warning
  when it would not come back after a reboot), and when it is not mounted why ("waiting for the password: …").
  Who should have it: the server, and every node that mounts it (`colab.node_facts.fortress_client`).
- Free space: `df -P -k <path>` (POSIX output, GNU and BSD alike).
- RAID: /proc/mdstat on the RAID node, parsed by `colab.storage.mdstat`. `$COLAB_MDSTAT` names another file
  to read there instead (tests and drills: this machine's kernel has no md driver).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from colab.backup.space import human
from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.node_facts import fortress_client
from colab.runner import Runner
from colab.storage import fortress_status, mdstat

from .model import Check, Level

ENV_MDSTAT = "COLAB_MDSTAT"
MDSTAT = "/proc/mdstat"
LOW_SPACE = 0.10  # a volume with less than this fraction free is a warning

RAID_LEVELS = {
    mdstat.CLEAN: Level.OK,
    mdstat.CHECK: Level.OK,
    mdstat.RESYNC: Level.WARN,
    mdstat.RECOVERY: Level.WARN,
    mdstat.DEGRADED: Level.CRIT,
    mdstat.INACTIVE: Level.CRIT,
    mdstat.FAILED: Level.CRIT,
    mdstat.MISSING: Level.CRIT,
}


def should_have_fortress(inv: Inventory, node: Node) -> bool:
    return node.name == inv.fortress.server or bool(fortress_client(inv, node))


def fortress(r: Runner, inv: Inventory, node: Node, measure: bool = False) -> Check:
    """Mounted where the inventory says (and writable); any problem is critical. `measure`: also time a read
    (the data's `read_mbps` or `read_error`; monitoring exports it, the verdict does not depend on it)."""
    try:
        st = fortress_status.probe(r, inv, node, measure=False)
    except ColabError as e:
        return Check(Level.CRIT, str(e))
    data: dict[str, Any] = {
        "mountpoint": st.mountpoint,
        "mounted": st.mounted,
        "source": st.source,
        "fstype": st.fstype,
        "boot": st.boot,
        "comes_back": st.comes_back,
    }
    if measure and st.mounted and not st.problems:
        try:
            data["read_mbps"] = fortress_status.read_sample(r, inv, node)
        except ColabError as e:
            data["read_error"] = str(e)
    if not st.mounted:  # a node that came back without fortress: critical, with why (waiting for the password …)
        why = f": {st.boot_detail}" if st.boot_detail else ""
        return Check(Level.CRIT, f"not mounted at {st.mountpoint}{why}", data)
    if st.problems:
        return Check(Level.CRIT, "; ".join(st.problems), data)
    how = f"mounted {st.boot}" if st.boot else "mounted"
    text = f"{how} {st.source}" + (f" ({st.boot_detail})" if st.boot_detail else "")
    return Check(Level.WARN if st.comes_back is False else Level.OK, text, data)


@dataclass(frozen=True)
class Space:
    path: str
    total: int
    free: int

    @property
    def fraction(self) -> float:
        return self.free / self.total if self.total else 0.0


def parse_df(text: str, path: str) -> Space | None:
    """The last data line of `df -P -k`: blocks of 1 KiB, available, mount point."""
    for line in reversed(text.strip().splitlines()):
        parts = line.split()
        if len(parts) >= 6 and parts[1].isdigit() and parts[3].isdigit():
            return Space(path, int(parts[1]) * 1024, int(parts[3]) * 1024)
    return None


def df(r: Runner, path: str, timeout: float) -> Space | None:
    res = r.run("df", "-P", "-k", path, check=False, mutating=False, timeout=timeout, env={"LC_ALL": "C"})
    return parse_df(res.stdout, path) if res.ok else None


def space_check(label: str, space: Space | None) -> Check:
    if space is None:
        return Check(Level.UNKNOWN, f"{label}: ?")
    text = f"{label} {human(space.free)} free ({space.fraction:.0%})"
    data = {"path": space.path, "total": space.total, "free": space.free}
    return Check(Level.WARN if space.fraction < LOW_SPACE else Level.OK, text, data)


RAID_SCRIPT = 'readlink -f "$1" 2>/dev/null || echo "$1"; echo @mdstat; cat "$2" 2>/dev/null || echo @none'


def mdstat_path() -> str:
    return os.environ.get(ENV_MDSTAT) or MDSTAT


def raid(r: Runner, inv: Inventory, timeout: float) -> Check:
    device, source = inv.raid.device, mdstat_path()
    res = r.run("sh", "-c", RAID_SCRIPT, "sh", device, source, check=False, mutating=False, timeout=timeout)
    if not res.ok:
        return Check(Level.UNKNOWN, f"cannot read {source} ({res.last_line})")
    resolved, _, text = res.stdout.partition("@mdstat\n")
    if text.strip() == "@none":
        return Check(Level.CRIT, f"{device}: no {source} (md driver not loaded?)", {"health": mdstat.MISSING})
    st = mdstat.raid_status(device, text, None, resolved.strip())
    data = {"device": device, "health": st.health, "members": st.members, "percent": st.percent}
    return Check(RAID_LEVELS[st.health], st.detail, data)
