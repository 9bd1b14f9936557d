"""Apply retention: expired snapshots go to the trash under the lock (one rename each, so no listing
ever shows half a snapshot), and the trash is emptied after the lock is released, so deleting a big tree
never holds up the next backup. A run that needs a tree to overwrite may take one from the trash; an
entry being deleted is renamed `….deleting-<pid>` first, so the two can never pick the same tree."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from colab.backup import dumps, snapshots
from colab.backup.lock import pid_alive
from colab.backup.retention import Decision, Policy, decide

_counter = itertools.count()


@dataclass(frozen=True)
class Verdict:
    name: str
    kind: str  # snapshot | dump
    keep: bool
    reason: str


def snapshot_verdicts(target: Path, policy: Policy) -> list[Verdict]:
    snaps = {s.date: s for s in snapshots.complete(target)}
    return [Verdict(snaps[d.when].name, "snapshot", d.keep, d.reason) for d in decide(snaps, policy)]


def dump_verdicts(target: Path, policy: Policy) -> list[Verdict]:
    out = []
    for _key, items in sorted(dumps.decisions(target, policy).items()):
        for f, d in items:
            out.append(_dump_verdict(target, f, d))
    return out


def _dump_verdict(target: Path, f: dumps.DumpFile, d: Decision) -> Verdict:
    return Verdict(str(f.path.relative_to(target)), "dump", d.keep, d.reason)


def to_trash(target: Path, relative: str) -> str:
    """Move a tree into the trash (one rename); returns its name there."""
    trash = snapshots.trash_dir(target)
    trash.mkdir(parents=True, exist_ok=True)
    base = Path(relative).name.lstrip(".")
    entry = f"{base}.{os.getpid()}.{next(_counter)}"
    os.rename(target / relative, trash / entry)
    return entry


def claim_from_trash(target: Path, entry: str, dest: Path) -> bool:
    """Take a trash entry as the tree to overwrite; False when someone else took it first."""
    try:
        os.rename(snapshots.trash_dir(target) / entry, dest)
    except FileNotFoundError:
        return False
    return True


def apply_snapshots(target: Path, verdicts: list[Verdict]) -> list[str]:
    """Move every snapshot retention drops to the trash; keeps fortress-latest on the newest. Call under the lock."""
    moved = []
    for v in verdicts:
        if v.keep or v.kind != "snapshot":
            continue
        with contextlib.suppress(FileNotFoundError):
            to_trash(target, v.name)
            snapshots.drop_meta(target, v.name)
            moved.append(v.name)
    newest = snapshots.newest(target)
    current = snapshots.latest(target)
    if newest is not None and (current is None or current.name != newest.name):
        snapshots.set_latest(target, newest.name)
    return moved


def apply_dumps(target: Path, verdicts: list[Verdict]) -> list[str]:
    removed = []
    for v in verdicts:
        if v.keep or v.kind != "dump":
            continue
        with contextlib.suppress(FileNotFoundError):
            (target / v.name).unlink()
            removed.append(v.name)
    return removed


def empty_trash(target: Path) -> list[str]:
    """Delete what is in the trash, claiming each entry first; also finishes deletions a killed run left."""
    trash = snapshots.trash_dir(target)
    claimed = []
    for name, pid in snapshots.deleting_entries(target):
        if pid != os.getpid() and not pid_alive(pid):
            mine = f"{name.rsplit('.deleting-', 1)[0]}.deleting-{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.rename(trash / name, trash / mine)
                claimed.append(mine)
    for name in snapshots.trash_entries(target):
        mine = f"{name}.deleting-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(trash / name, trash / mine)
            claimed.append(mine)
    for name in claimed:
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(trash / name)], check=False)
    return [n.rsplit(".deleting-", 1)[0] for n in claimed]
