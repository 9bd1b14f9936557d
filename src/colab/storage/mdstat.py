"""RAID state from /proc/mdstat and `mdadm --detail`, and the mdadm monitor configuration for alerts.

/proc/mdstat is parsed as the kernel's md driver writes it (drivers/md/md.c, md_seq_show and
status_resync): a `mdN : active raid1 sdd[1] sdb[0]` line with member flags (F) faulty, (S) spare,
(W) write-mostly, (J) journal, (R) replacement; then `<blocks> blocks super 1.2 [2/1] [U_]`; a progress
line `[==>....]  recovery = 12.6% (…/…) finish=…min speed=…K/sec` (or `resync=PENDING` / `DELAYED`); a
`bitmap:` line. `mdadm --detail` adds the array state words (`clean, degraded, recovering`) and which
device is in which slot.

Health and exit code (for monitoring): clean (or a routine `check` scrub) 0; resync or recovery under way
(or pending) 2; degraded, inactive, failed or missing 1.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import asdict, dataclass, field

from colab.inventory import Inventory

_ARRAY = re.compile(r"^(?P<name>md\S*) : (?P<state>active|inactive|broken)(?: \((?P<ro>[a-z-]+)\))?(?P<rest>.*)$")
_MEMBER = re.compile(r"(?P<dev>[^\s\[]+)\[(?P<slot>\d+)\](?P<flags>(?:\([A-Z]\))*)")
_BLOCKS = re.compile(r"^(?P<blocks>\d+) blocks(?: super (?P<super>\S+))?")
_MAP = re.compile(r"\[(?P<disks>\d+)/(?P<working>\d+)\] \[(?P<map>[U_]+)\]")
_PROGRESS = re.compile(
    r"(?P<action>resync|recovery|check|reshape|repair)\s*=\s*(?P<pct>[0-9.]+)%\s*\((?P<done>\d+)/(?P<total>\d+)\)"
    r"(?:\s*finish=(?P<finish>\S+))?(?:\s*speed=(?P<speed>\S+))?"
)
_WAITING = re.compile(r"(?P<action>resync|recover|reshape)=(?P<why>DELAYED|PENDING|REMOTE)")

CLEAN, CHECK, RESYNC, RECOVERY = "clean", "check", "resync", "recovery"
DEGRADED, INACTIVE, FAILED, MISSING = "degraded", "inactive", "failed", "missing"
EXIT = {CLEAN: 0, CHECK: 0, RESYNC: 2, RECOVERY: 2, DEGRADED: 1, INACTIVE: 1, FAILED: 1, MISSING: 1}


@dataclass(frozen=True)
class Member:
    device: str
    slot: int
    flags: str = ""  # letters: F faulty, S spare, W write-mostly, J journal, R replacement

    @property
    def faulty(self) -> bool:
        return "F" in self.flags


@dataclass
class MdArray:
    name: str
    state: str
    readonly: str = ""
    level: str = ""
    members: list[Member] = field(default_factory=list)
    blocks: int = 0
    superblock: str = ""
    raid_disks: int = 0
    working: int = 0
    map: str = ""
    action: str = ""  # resync / recovery / check / reshape / repair, or "" when idle
    percent: float | None = None
    finish: str = ""
    speed: str = ""
    waiting: str = ""  # PENDING / DELAYED / REMOTE for an action not started yet
    bitmap: str = ""

    @property
    def health(self) -> str:
        if self.state == "inactive":
            return INACTIVE
        if self.state == "broken" or (self.raid_disks and self.working == 0):
            return FAILED
        if self.action == "recovery" or (self.waiting and self.action == "recover"):
            return RECOVERY
        if (self.raid_disks and self.working < self.raid_disks) or any(m.faulty for m in self.members):
            return DEGRADED
        if self.action in ("resync", "reshape", "repair"):
            return RESYNC
        if self.action == "check":
            return CHECK
        return CLEAN


def parse_mdstat(text: str) -> dict[str, MdArray]:
    """Every array in a /proc/mdstat text, by name (md0, md127 …)."""
    arrays: dict[str, MdArray] = {}
    current: MdArray | None = None
    for raw in text.splitlines():
        m = _ARRAY.match(raw)
        if m:
            rest = m.group("rest").split()
            level = rest.pop(0) if rest and m.group("state") != "inactive" and "[" not in rest[0] else ""
            members = [
                Member(x.group("dev"), int(x.group("slot")), x.group("flags").replace("(", "").replace(")", ""))
                for x in (_MEMBER.fullmatch(word) for word in rest)
                if x
            ]
            current = MdArray(m.group("name"), m.group("state"), m.group("ro") or "", level, members)
            arrays[current.name] = current
            continue
        if not raw.startswith((" ", "\t")):
            current = None  # a blank line, "unused devices:" or "Personalities :" ends the array
            continue
        if current is None:
            continue
        line = raw.strip()
        if b := _BLOCKS.match(line):
            current.blocks, current.superblock = int(b.group("blocks")), b.group("super") or ""
            if mp := _MAP.search(line):
                current.raid_disks, current.working = int(mp.group("disks")), int(mp.group("working"))
                current.map = mp.group("map")
        elif p := _PROGRESS.search(line):
            current.action, current.percent = p.group("action"), float(p.group("pct"))
            current.finish, current.speed = p.group("finish") or "", p.group("speed") or ""
        elif w := _WAITING.search(line):
            current.action, current.waiting = w.group("action"), w.group("why")
        elif line.startswith("bitmap:"):
            current.bitmap = line.removeprefix("bitmap:").strip()
    return arrays


@dataclass
class Detail:
    """The parts of `mdadm --detail <device>` that say how the array is doing."""

    state: list[str] = field(default_factory=list)  # e.g. ["clean", "degraded", "recovering"]
    level: str = ""
    raid_devices: int = 0
    active: int = 0
    working: int = 0
    failed: int = 0
    spare: int = 0
    uuid: str = ""
    name: str = ""
    progress: str = ""  # "Rebuild Status : 23% complete" -> "rebuild 23%"
    devices: list[tuple[str, str]] = field(default_factory=list)  # (state words, device path or "-")


_DETAIL_INT = {
    "raid devices": "raid_devices",
    "active devices": "active",
    "working devices": "working",
    "failed devices": "failed",
    "spare devices": "spare",
}
_DEVICE_ROW = re.compile(r"^\s*(?:\d+|-)\s+\d+\s+\d+\s+(?:\d+|-)\s+(?P<state>.+?)(?:\s+(?P<dev>/dev/\S+))?\s*$")


def parse_detail(text: str) -> Detail:
    d = Detail()
    in_table = False
    for raw in text.splitlines():
        if re.match(r"^\s*Number\s+Major\s+Minor\s+RaidDevice\s+State", raw):
            in_table = True
            continue
        if in_table:
            row = _DEVICE_ROW.match(raw)
            if row:
                d.devices.append((row.group("state").strip(), row.group("dev") or "-"))
            continue
        key, sep, value = raw.partition(" : ")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "state":
            d.state = [w.strip() for w in value.split(",") if w.strip()]
        elif key == "raid level":
            d.level = value
        elif key in _DETAIL_INT:
            setattr(d, _DETAIL_INT[key], int(value))
        elif key == "uuid":
            d.uuid = value
        elif key == "name":
            d.name = value.split()[0]
        elif key.endswith(" status") and key != "consistency policy":
            pct = re.match(r"(\d+)%", value)
            d.progress = f"{key.removesuffix(' status')} {pct.group(1)}%" if pct else value
    return d


@dataclass
class RaidStatus:
    device: str
    health: str
    percent: float | None = None
    finish: str = ""
    speed: str = ""
    state: str = ""  # mdadm's State line
    members: list[str] = field(default_factory=list)
    detail: str = ""
    alerts: str = ""  # whether mdadm.conf has the monitor lines (does not change the exit code)

    @property
    def exit_code(self) -> int:
        return EXIT[self.health]

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "exit_code": self.exit_code}, indent=2)


def raid_status(device: str, mdstat_text: str, detail_text: str | None, resolved: str = "") -> RaidStatus:
    """The array at `device` (its kernel name `resolved`, e.g. /dev/md127 for /dev/md/backup)."""
    name = (resolved or device).rsplit("/", 1)[-1]
    arrays = parse_mdstat(mdstat_text)
    array = arrays.get(name)
    if array is None and detail_text is None:
        known = ", ".join(arrays) or "none"
        return RaidStatus(device, MISSING, detail=f"{device} is not assembled (arrays in /proc/mdstat: {known})")
    health = array.health if array else CLEAN
    st = RaidStatus(device, health)
    if array:
        st.members = [f"{m.device}[{m.slot}]{'(' + m.flags + ')' if m.flags else ''}" for m in array.members]
        st.percent, st.finish, st.speed = array.percent, array.finish, array.speed
    if detail_text:
        d = parse_detail(detail_text)
        st.state = ", ".join(d.state)
        words = set(d.state)
        if array is None:  # mdstat unreadable or renamed: trust mdadm
            st.health = (
                FAILED
                if "failed" in words
                else RECOVERY
                if "recovering" in words
                else DEGRADED
                if "degraded" in words
                else RESYNC
                if "resyncing" in words
                else CLEAN
            )
        elif "degraded" in words and st.health in (CLEAN, CHECK, RESYNC):
            st.health = DEGRADED
        if not st.members:
            st.members = [f"{dev} ({state})" for state, dev in d.devices]
    st.detail = _describe(st, array)
    return st


def _describe(st: RaidStatus, array: MdArray | None) -> str:
    parts = [st.health]
    if st.percent is not None:
        parts.append(f"{st.percent:.1f}%")
    if array and array.waiting:
        parts.append(f"{array.action} {array.waiting.lower()}")
    if st.finish:
        parts.append(f"finish {st.finish}")
    if array and array.raid_disks:
        parts.append(f"[{array.raid_disks}/{array.working}] [{array.map}]")
    return ", ".join(parts)


# ----------------------------------------------------------------------------------- monitor config

MDADM_CONF = "/etc/mdadm/mdadm.conf"
ALERT_PROGRAM = "/usr/local/sbin/colab-mdadm-alert"
MAILADDR = "root"
ALERT_EVENTS = ("Fail", "FailSpare", "DegradedArray", "DeviceDisappeared", "SparesMissing", "TestMessage")


def monitor_lines() -> list[str]:
    """The mdadm.conf lines `mdadm --monitor` (Debian's mdmonitor service) reads for alerts."""
    return [f"MAILADDR {MAILADDR}", f"PROGRAM {ALERT_PROGRAM}"]


def alert_program(inv: Inventory) -> str:
    """What mdadm runs on each event: a syslog line always; a POST to `<backup.ping_url>/fail` on bad news."""
    url = shlex.quote(inv.backup.ping_url)
    events = "|".join(ALERT_EVENTS)
    return f"""#!/bin/sh
# mdadm --monitor runs this on every md event: $1 event, $2 array, $3 member device (if any).
# Generated by `inv raid.create` / `inv raid.monitor` from the inventory ({inv.cluster.name} cluster).
event=$1 md=$2 dev=${{3:-}}
logger -t colab-raid -p daemon.warning "mdadm: $event on $md${{dev:+ ($dev)}}" 2>/dev/null || true
url={url}
case "$event" in
  {events})
    [ -n "$url" ] && command -v curl >/dev/null 2>&1 &&
      curl -fsS -m 10 --retry 3 --data-raw "$(hostname): mdadm $event on $md $dev" "$url/fail" >/dev/null 2>&1
    ;;
esac
exit 0
"""
