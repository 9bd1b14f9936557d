"""What a snapshot run will do, decided from the state of the backup volume (pure; no file system).

The new snapshot is built under a temporary name and renamed only when complete. Instead of an empty
folder, the run starts from a tree it may overwrite, in this order: a temporary folder an interrupted run
left behind, an expired tree in the trash, or the newest snapshot that retention drops once the new one
exists. rsync then only fixes what differs (and links to the newest snapshot what it can), rather than
creating every directory and hard link again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from colab.backup import snapshots
from colab.backup.retention import Policy, pruned
from colab.errors import ColabError

ReuseKind = Literal["leftover", "trash", "expired"]


@dataclass(frozen=True)
class SnapshotPlan:
    day: date
    name: str
    temp: str
    link_dest: str | None  # the newest complete snapshot, if any (never with an independent copy)
    reuse: str | None  # path relative to the target, renamed to `temp` before rsync
    reuse_kind: ReuseKind | None
    replaces: bool  # a snapshot of the same day exists; the new one takes its place
    discard: tuple[str, ...]  # other leftover temporary folders: to the trash
    independent: bool  # a full copy that shares no file with older snapshots


def plan_snapshot(
    *,
    day: date,
    complete: list[date],
    leftovers: list[str],
    trash: list[str],
    policy: Policy,
    independent: bool = False,
) -> SnapshotPlan:
    name, temp = snapshots.name_for(day), snapshots.temp_name(day)
    newest = max(complete, default=None)
    if newest is not None and newest > day:
        raise ColabError(
            f"the newest snapshot {snapshots.name_for(newest)} is later than {day.isoformat()} (clock or --now "
            "wrong?); a new snapshot must not be older than the newest"
        )
    link_dest = snapshots.name_for(newest) if newest is not None and not independent else None
    reuse: str | None = None
    kind: ReuseKind | None = None
    if not independent:
        if temp in leftovers:
            reuse, kind = temp, "leftover"
        elif leftovers:
            reuse, kind = max(leftovers, key=lambda n: snapshots.temp_date(n) or date.min), "leftover"
        elif trash:
            reuse, kind = f"{snapshots.STATE}/trash/{trash[0]}", "trash"
        else:
            expired = [d for d in pruned([*complete, day], policy) if d != day and d != newest]
            if expired:
                reuse, kind = snapshots.name_for(max(expired)), "expired"
    discard = tuple(n for n in leftovers if n != reuse)
    return SnapshotPlan(
        day=day,
        name=name,
        temp=temp,
        link_dest=link_dest,
        reuse=reuse,
        reuse_kind=kind,
        replaces=day in complete,
        discard=discard,
        independent=independent,
    )
