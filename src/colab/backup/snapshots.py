"""Snapshot names and the layout of the backup volume.

<target>/fortress-YYYYMMDD/         a complete snapshot (only ever a complete one has this name)
<target>/fortress-latest            symlink to the newest complete snapshot
<target>/.fortress-YYYYMMDD.tmp/    a snapshot being built (or left by an interrupted run)
<target>/fortress-partial-YYYYMMDD/ a snapshot held back: much of the source vanished while it was taken
<target>/dumps/<service>/<db>-YYYYMMDD.dump
<target>/.colab-backup/lock         one run at a time (lock.py)
<target>/.colab-backup/meta/<name>.json   what the run that made <name> saw (kind, files, size)
<target>/.colab-backup/trash/       expired trees waiting to be deleted (or reused)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from colab.backup import state

PREFIX = "fortress-"
LATEST = "fortress-latest"
STATE = state.STATE
TRASH = "trash"
META = "meta"
DUMPS = "dumps"
PARTIAL = "fortress-partial-"
_NAME = re.compile(r"^fortress-(\d{8})$")
_PARTIAL = re.compile(r"^fortress-partial-(\d{8})$")
_TEMP = re.compile(r"^\.fortress-(\d{8})\.tmp$")
DELETING = re.compile(r"\.deleting-(\d+)$")


@dataclass(frozen=True)
class Snapshot:
    name: str
    date: date
    path: Path


def name_for(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def partial_name(day: date) -> str:
    """A snapshot held back because much of the source vanished while it was taken: kept, not counted by
    retention, never fortress-latest (the name does not match `fortress-YYYYMMDD`)."""
    return f"{PARTIAL}{day:%Y%m%d}"


def temp_name(day: date) -> str:
    return f".{PREFIX}{day:%Y%m%d}.tmp"


def _parse_day(digits: str) -> date | None:
    try:
        return datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        return None


def date_of(name: str) -> date | None:
    """The date of a complete snapshot's name, or None when it is not one."""
    m = _NAME.fullmatch(name)
    return _parse_day(m.group(1)) if m else None


def partial_date(name: str) -> date | None:
    m = _PARTIAL.fullmatch(name)
    return _parse_day(m.group(1)) if m else None


def temp_date(name: str) -> date | None:
    m = _TEMP.fullmatch(name)
    return _parse_day(m.group(1)) if m else None


def state_dir(target: Path) -> Path:
    return target / STATE


def trash_dir(target: Path) -> Path:
    return state_dir(target) / TRASH


def meta_path(target: Path, name: str) -> Path:
    return state_dir(target) / META / f"{name}.json"


def complete(target: Path) -> list[Snapshot]:
    """Complete snapshots, oldest first (directories with a final name; symlinks and files ignored)."""
    return _folders(target, date_of)


def partials(target: Path) -> list[Snapshot]:
    """Held-back snapshots (`fortress-partial-YYYYMMDD`), oldest first."""
    return _folders(target, partial_date)


def _folders(target: Path, parse: Callable[[str], date | None]) -> list[Snapshot]:
    found = []
    try:
        entries = list(os.scandir(target))
    except FileNotFoundError:
        return []
    for entry in entries:
        day = parse(entry.name)
        if day is not None and entry.is_dir(follow_symlinks=False):
            found.append(Snapshot(entry.name, day, Path(entry.path)))
    return sorted(found, key=lambda s: s.date)


def newest(target: Path) -> Snapshot | None:
    snaps = complete(target)
    return snaps[-1] if snaps else None


def leftovers(target: Path) -> list[str]:
    """Temporary snapshot directories (in progress, or left by an interrupted run), oldest first."""
    try:
        names = [e.name for e in os.scandir(target) if temp_date(e.name) and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    return sorted(names, key=lambda n: temp_date(n) or date.min)


def trash_entries(target: Path) -> list[str]:
    """Trash entries nobody is deleting right now (claimable), newest name first; state.Unsafe when the trash
    folder is a symlink or someone else's."""
    with state.state(target, TRASH) as trash:
        if trash is None:
            return []
        names = [e.name for e in trash.entries() if e.is_dir(follow_symlinks=False)]
    return sorted((n for n in names if not DELETING.search(n)), reverse=True)


def resolve(target: Path, which: str) -> Snapshot:
    """A snapshot by `latest`, `YYYY-MM-DD`, `YYYYMMDD` or its name; raises LookupError listing what exists."""
    snaps = complete(target)
    if not snaps:
        raise LookupError(f"no complete snapshot in {target}")
    if which in ("", "latest"):
        link = latest(target)
        return link if link is not None else snaps[-1]
    digits = which.removeprefix(PREFIX).replace("-", "")
    for s in snaps:
        if s.name == f"{PREFIX}{digits}":
            return s
    for s in partials(target):  # a held-back snapshot, by its full name only
        if s.name == which:
            return s
    have = ", ".join(s.date.isoformat() for s in snaps[-5:])
    raise LookupError(f"no snapshot {which!r} in {target}; newest: {have}")


def latest(target: Path) -> Snapshot | None:
    """What fortress-latest points at, when it points at a complete snapshot."""
    try:
        pointed = os.readlink(target / LATEST)
    except OSError:
        return None
    name = os.path.basename(pointed.rstrip("/"))
    day = date_of(name)
    path = target / name
    if day is None or not path.is_dir():
        return None
    return Snapshot(name, day, path)


def set_latest(target: Path, name: str) -> None:
    """Point fortress-latest at `name` atomically (a relative link, so the volume can move)."""
    tmp = target / f".{LATEST}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(name, tmp)
    os.replace(tmp, target / LATEST)


def keeps_nanoseconds(target: Path) -> bool:
    """Whether the volume stores file times to the nanosecond (ext4 with 256-byte inodes, XFS, btrfs do;
    ext4 with 128-byte inodes or FAT do not). Only then may rsync compare times to the nanosecond: a volume
    that rounds them would make every file look changed on every run."""
    with state.state(target) as folder, state.folder(target) as top:
        here = folder or top
        assert here is not None
        probe = f".mtime-probe.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(probe, dir_fd=here.fd)
        fd = here.open_file(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            want = 1_700_000_000_123_456_789
            os.utime(fd, ns=(want, want))
            return os.fstat(fd).st_mtime_ns == want
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(probe, dir_fd=here.fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------ renames


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_libc: Any = None


def _renameat2() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return getattr(_libc, "renameat2", None)


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False when the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    fn = _renameat2()
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
            return False
        raise OSError(err, os.strerror(err), str(a))
    return True


# --------------------------------------------------------------------------------------------- meta


def write_meta(target: Path, name: str, meta: dict[str, Any]) -> None:
    """<target>/.colab-backup/meta/<name>.json, replaced atomically (never through a symlink)."""
    with state.state(target, META, create=True) as folder:
        assert folder is not None
        tmp = f".{name}.json.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=folder.fd)
        fd = folder.open_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, f"{name}.json", src_dir_fd=folder.fd, dst_dir_fd=folder.fd)


def read_meta(target: Path, name: str) -> dict[str, Any]:
    """The record of a snapshot; {} when there is none (or it is not a plain file of ours: then it is ignored)."""
    try:
        with state.state(target, META) as folder:
            if folder is None:
                return {}
            fd = folder.open_file(f"{name}.json", os.O_RDONLY)
            with os.fdopen(fd, encoding="utf-8") as fh:
                data = json.loads(fh.read())
    except (OSError, ValueError, state.Unsafe):
        return {}
    return data if isinstance(data, dict) else {}


def drop_meta(target: Path, name: str) -> None:
    with state.state(target, META) as folder:
        if folder is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{name}.json", dir_fd=folder.fd)
