"""The last backup, as the backup volume shows it: newest snapshot, its age and result, a run in progress.

Read on the backup node by one POSIX sh script (no Python needed there) in the layout `colab.backup.snapshots`
defines: complete snapshots `fortress-YYYYMMDD/`, the `fortress-latest` link, unfinished trees
`.fortress-YYYYMMDD.tmp/`, the record `.colab-backup/meta/<name>.json` the run wrote, and the lock's pid.

Age: from the record's `created` (the time the run was for), else midnight of the snapshot's date. Result:
the record's rsync exit (0 ok, 23/24 partial, kept with a warning) and the dumps the same run took (any that
failed: a warning, never "ok"). A backup older than 26 hours, or none at
all, is critical; an unfinished tree newer than the newest snapshot, with no run holding the lock, means the
last run was cut off (warning).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from colab.backup import snapshots
from colab.backup.listing import age_text
from colab.runner import Runner

from .model import Check, Level
from .volumes import Space, parse_df, space_check

MAX_AGE_HOURS = 26  # a daily backup plus two hours of slack

SCRIPT = f"""t=$1
[ -d "$t" ] || {{ echo @missing; exit 0; }}
echo @snapshots
for d in "$t"/{snapshots.PREFIX}[0-9]*; do [ -d "$d" ] && [ ! -L "$d" ] && echo "${{d##*/}}"; done
echo @latest
readlink "$t/{snapshots.LATEST}" 2>/dev/null
echo @partial
for d in "$t"/.{snapshots.PREFIX}*.tmp; do [ -d "$d" ] && echo "${{d##*/}}"; done
echo @state
[ -d "$t/{snapshots.STATE}" ] && echo present
echo @running
pid=$(tr ' ' '\\n' 2>/dev/null < "$t/{snapshots.STATE}/lock" | sed -n 's/^pid=//p' | head -n 1)
[ -n "$pid" ] && [ -d "/proc/$pid" ] && echo "$pid"
echo @meta
newest=$(readlink "$t/{snapshots.LATEST}" 2>/dev/null); newest=${{newest%/}}; newest=${{newest##*/}}
case $newest in {snapshots.PREFIX}[0-9]*) [ -d "$t/$newest" ] || newest= ;; *) newest= ;; esac
[ -n "$newest" ] || newest=$(ls -1 "$t" 2>/dev/null | grep -E '^{snapshots.PREFIX}[0-9]{{8}}$' | sort | tail -n 1)
[ -n "$newest" ] && cat "$t/{snapshots.STATE}/meta/$newest.json" 2>/dev/null
echo @df
LC_ALL=C df -P -k "$t"
exit 0
"""


@dataclass
class Volume:
    target: str
    missing: bool = False
    snapshots: list[str] = field(default_factory=list)
    latest: str = ""
    partial: list[str] = field(default_factory=list)
    state: bool = False
    running: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    space: Space | None = None


def parse(text: str, target: str) -> Volume:
    vol = Volume(target)
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@") and " " not in line:
            if line == "@missing":
                vol.missing = True
                return vol
            current = sections.setdefault(line[1:], [])
        elif current is not None:
            current.append(line)
    vol.snapshots = sorted(n for n in sections.get("snapshots", []) if snapshots.date_of(n))
    vol.latest = next((n.rstrip("/").rsplit("/", 1)[-1] for n in sections.get("latest", []) if n.strip()), "")
    vol.partial = sorted(n for n in sections.get("partial", []) if snapshots.temp_date(n))
    vol.state = "present" in sections.get("state", [])
    vol.running = next((p.strip() for p in sections.get("running", []) if p.strip()), "")
    try:
        meta = json.loads("\n".join(sections.get("meta", [])) or "{}")
    except ValueError:
        meta = {}
    vol.meta = meta if isinstance(meta, dict) else {}
    vol.space = parse_df("\n".join(sections.get("df", [])), target)
    return vol


def newest(vol: Volume) -> str:
    """The snapshot `fortress-latest` points at, else the newest complete one; "" when there is none."""
    if vol.latest in vol.snapshots:
        return vol.latest
    return vol.snapshots[-1] if vol.snapshots else ""


def created(vol: Volume, name: str) -> datetime:
    for key in ("created", "finished"):
        text = vol.meta.get(key)
        if isinstance(text, str):
            try:
                return datetime.fromisoformat(text).replace(tzinfo=None)
            except ValueError:
                pass
    day = snapshots.date_of(name)
    assert day is not None
    return datetime(day.year, day.month, day.day)


def failed_dumps(meta: dict[str, Any]) -> list[str]:
    """The databases whose dump failed in the run that made the snapshot (its record's `dumps`)."""
    dumps = meta.get("dumps")
    failed = dumps.get("failed") if isinstance(dumps, dict) else None
    return [str(d) for d in failed] if isinstance(failed, list) else []


def verdict(vol: Volume, now: datetime) -> Check:
    if vol.missing:
        return Check(Level.CRIT, f"no backup volume at {vol.target}")
    name = newest(vol)
    if not name:
        hint = "" if vol.state else " (is the backup volume mounted?)"
        return Check(Level.CRIT, f"no backup in {vol.target}{hint}", {"target": vol.target})
    when = created(vol, name)
    hours = max(0.0, (now - when).total_seconds() / 3600)
    code = vol.meta.get("rsync_exit")
    failed = failed_dumps(vol.meta)
    result = "ok" if code in (0, None) else f"partial (rsync {code})"
    if failed:
        result = f"{'snapshot ' + result if code in (0, None) else result}, dumps failed: {', '.join(failed)}"
    data: dict[str, Any] = {
        "target": vol.target,
        "snapshot": name,
        "created": when.isoformat(timespec="minutes"),
        "age_hours": round(hours, 1),
        "result": result,
        "kind": vol.meta.get("kind", ""),
        "running": vol.running,
    }
    text = f"{name}, {age_text(hours)} ago, {result}"
    if vol.running:
        text += f"; a run is in progress (pid {vol.running})"
    if hours > MAX_AGE_HOURS:
        return Check(Level.CRIT, f"{text}: older than {MAX_AGE_HOURS}h", data)
    newer = [p for p in vol.partial if (snapshots.temp_date(p) or when.date()) >= when.date()]
    if newer and not vol.running:
        return Check(Level.WARN, f"{text}; an unfinished run left {newer[-1]}", data)
    if code not in (0, None) or failed:
        return Check(Level.WARN, text, data)
    return Check(Level.OK, text, data)


def probe(r: Runner, target: str, now: datetime, timeout: float) -> tuple[Check, Check]:
    """(backup check, free space of the backup volume) for the backup node."""
    res = r.run("sh", "-c", SCRIPT, "sh", target, check=False, mutating=False, timeout=timeout)
    if not res.ok:
        return Check(Level.UNKNOWN, f"cannot read {target} ({res.last_line})"), space_check("backup", None)
    vol = parse(res.stdout, target)
    space = space_check("backup", vol.space) if not vol.missing else Check(Level.UNKNOWN, "backup: ?")
    return verdict(vol, now), space
