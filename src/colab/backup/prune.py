"""Apply retention: expired snapshots go to the trash under the lock (one rename each, so no listing
ever shows half a snapshot), and the trash is emptied after the lock is released, so deleting a big tree
never holds up the next backup. A run that needs a tree to overwrite may take one from the trash; an
entry being deleted is renamed `….deleting-<pid>` first, so the two can never pick the same tree.

Whoever deletes an entry holds an flock on it (its own descriptor, inherited by `rm`) for as long as the
deletion runs; the kernel drops it when they die. So an entry left `….deleting-<pid>` by a killed run is
taken over by the next one whatever became of that pid (a pid can be reused; a lock cannot outlive its
holder). The trash folder is reached without following symlinks (`state.py`)."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from colab.backup import dumps, snapshots, state
from colab.backup.retention import Decision, Policy, decide, decide_partials

_counter = itertools.count()


@dataclass(frozen=True)
class Verdict:
    name: str
    kind: str  # snapshot | dump
    keep: bool
    reason: str


def snapshot_verdicts(target: Path, policy: Policy) -> list[Verdict]:
    snaps = {s.date: s for s in snapshots.complete(target)}
    verdicts = [Verdict(snaps[d.when].name, "snapshot", d.keep, d.reason) for d in decide(snaps, policy)]
    return verdicts + partial_verdicts(target, policy, snaps)


def partial_verdicts(target: Path, policy: Policy, complete: Iterable[date]) -> list[Verdict]:
    """Held-back snapshots: not counted by the rules; each goes once `policy.daily` newer complete ones exist."""
    held = {s.date: s for s in snapshots.partials(target)}
    return [Verdict(held[d.when].name, "snapshot", d.keep, d.reason) for d in decide_partials(held, complete, policy)]


def dump_verdicts(target: Path, policy: Policy) -> list[Verdict]:
    out = []
    for _key, items in sorted(dumps.decisions(target, policy).items()):
        for f, d in items:
            out.append(_dump_verdict(target, f, d))
    return out


def _dump_verdict(target: Path, f: dumps.DumpFile, d: Decision) -> Verdict:
    return Verdict(str(f.path.relative_to(target)), "dump", d.keep, d.reason)


def to_trash(target: Path, relative: str) -> str:
    """Move a tree of the target's top level into the trash (one rename); returns its name there."""
    with state.state(target, snapshots.TRASH, create=True) as trash:
        assert trash is not None
        base = Path(relative).name.lstrip(".")
        entry = f"{base}.{os.getpid()}.{next(_counter)}"
        os.rename(target / relative, entry, dst_dir_fd=trash.fd)
    return entry


def claim_from_trash(target: Path, entry: str, dest: Path) -> bool:
    """Take a trash entry as the tree to overwrite; False when someone else took it first."""
    with state.state(target, snapshots.TRASH) as trash:
        if trash is None:
            return False
        try:
            os.rename(entry, dest, src_dir_fd=trash.fd)
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
    """Delete what is in the trash, claiming each entry first; also finishes deletions a killed run left
    (an entry whose lock nobody holds), never one another live run is deleting."""
    with state.state(target, snapshots.TRASH) as trash:
        if trash is None:
            return []
        claimed = [c for c in (_claim(trash, e) for e in trash.entries()) if c is not None]
        for name, fd in claimed:
            try:
                # rm works in the trash folder itself (whatever its path now leads to) and inherits the entry's
                # lock, so the lock lasts as long as the deletion, even if this process is killed.
                subprocess.run(
                    ["rm", "-rf", "--one-file-system", "--", name],
                    cwd=trash.proc(),
                    pass_fds=(fd,),
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
            finally:
                os.close(fd)
    return [name.rsplit(".deleting-", 1)[0] for name, _ in claimed]


def _claim(trash: state.Folder, entry: os.DirEntry[str]) -> tuple[str, int] | None:
    """Lock an entry and rename it `<name>.deleting-<pid>`; None when it is gone or someone holds its lock."""
    name = entry.name
    try:
        st = trash.lstat(name)
    except FileNotFoundError:
        return None
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        with contextlib.suppress(FileNotFoundError):  # a symlink or special file: nothing to lock, only a name
            os.unlink(name, dir_fd=trash.fd)
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=trash.fd)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None  # a live run is deleting it
    base = snapshots.DELETING.sub("", name)
    mine = f"{base}.deleting-{os.getpid()}"
    if name != mine:
        try:
            os.rename(name, mine, src_dir_fd=trash.fd, dst_dir_fd=trash.fd)
        except FileNotFoundError:  # a run took it to build on in the meantime
            os.close(fd)
            return None
    return mine, fd
