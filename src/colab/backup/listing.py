"""`backup.list`: the snapshots and dumps on the volume, as a table or JSON.

Size and file count of a snapshot come from what rsync reported when it was made (kept beside it in
.colab-backup/meta); a snapshot without that record is measured by walking it. Held-back snapshots
(`fortress-partial-…`, see vanish.py) are listed with the kind `partial`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from colab.backup import dumps, snapshots, space
from colab.tables import Table


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    date: str
    size: int
    files: int
    age_hours: float
    latest: bool
    path: str


def entries(target: Path, now: datetime) -> list[Entry]:
    latest = snapshots.latest(target)
    found = []
    held = snapshots.partials(target)
    for snap in snapshots.complete(target) + held:
        meta = snapshots.read_meta(target, snap.name)
        if "size" in meta and "files" in meta:
            size, files = int(meta["size"]), int(meta["files"])
        else:
            used = space.usage(snap.path)
            size, files = used.bytes, used.files
        created = _created(meta.get("created"), snap.date)
        found.append(
            Entry(
                snap.name,
                "partial" if snap in held else str(meta.get("kind", "snapshot")),
                snap.date.isoformat(),
                size,
                files,
                _age(now, created),
                latest is not None and latest.name == snap.name,
                str(snap.path),
            )
        )
    for f in dumps.existing(target):
        created = datetime.fromtimestamp(f.path.stat().st_mtime)
        found.append(
            Entry(
                f"{f.key}-{f.date:%Y%m%d}",
                "dump",
                f.date.isoformat(),
                f.size,
                1,
                _age(now, created),
                False,
                str(f.path),
            )
        )
    return sorted(found, key=lambda e: (e.date, e.kind == "dump", e.name))


def _created(text: object, day: object) -> datetime:
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return datetime.fromisoformat(f"{day}T00:00")


def _age(now: datetime, then: datetime) -> float:
    return round(max(0.0, (now - then).total_seconds() / 3600), 1)


def age_text(hours: float) -> str:
    if hours < 1:
        return "<1h"
    if hours < 48:
        return f"{hours:.0f}h"
    return f"{hours / 24:.0f}d"


def table(items: list[Entry], target: Path) -> Table:
    t = Table(title=f"backups in {target}", title_justify="left")
    for col, justify in (
        ("name", "left"),
        ("date", "left"),
        ("kind", "left"),
        ("size", "right"),
        ("files", "right"),
        ("age", "right"),
    ):
        t.add_column(col, justify=justify, no_wrap=col == "name", overflow="fold")  # type: ignore[arg-type]
    for e in items:
        name = f"{e.name} [cyan](latest)[/cyan]" if e.latest else e.name
        t.add_row(name, e.date, e.kind, space.human(e.size), f"{e.files:,}", age_text(e.age_hours))
    return t


def as_json(items: list[Entry], target: Path) -> str:
    return json.dumps({"target": str(target), "backups": [asdict(e) for e in items]}, indent=2)
