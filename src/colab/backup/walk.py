"""Paths inside a snapshot and inside a restore's destination, walked one folder at a time without following
symlinks (issue 12: restore read a live file through a symlink of the snapshot, and wrote outside fortress
through a live folder that had become a symlink).

In the snapshot, a symlink on the way to the entry asked for is refused (it could lead anywhere, live files
included); the entry itself may be a symlink (it is restored as one). In the destination, a symlink on the way
is refused before anything is written, and missing folders are made with the snapshot's mode and owner. The
opened folders are handed to rsync as /proc/self/fd/N (they stay what was checked, whatever happens to their
paths meanwhile); rsync copies symlinks inside the tree as symlinks and replaces, never follows, a symlink
where the snapshot has a folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from colab.backup import snapshots, state
from colab.errors import ColabError

_NOT_A_FOLDER = (errno.ELOOP, errno.ENOTDIR)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Fds:
    """Descriptors opened while walking, closed together."""

    fds: list[int] = field(default_factory=list)

    def keep(self, fd: int) -> int:
        self.fds.append(fd)
        return fd


@contextlib.contextmanager
def descriptors() -> Iterator[Fds]:
    held = Fds()
    try:
        yield held
    finally:
        for fd in held.fds:
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass(frozen=True)
class Source:
    parent: int  # the folder holding the entry (the entry itself when it is the whole snapshot)
    name: str  # "" for a folder's contents
    st: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


def snapshot(snap: snapshots.Snapshot, parts: tuple[str, ...], fds: Fds) -> Source:
    """Open the snapshot down to the entry `parts` names, never through a symlink."""
    target_fd = fds.keep(os.open(snap.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    here = fds.keep(os.open(snap.name, _DIR, dir_fd=target_fd))
    if not parts:
        return Source(here, "", os.fstat(here))
    for i, part in enumerate(parts[:-1]):
        try:
            here = fds.keep(os.open(part, _DIR, dir_fd=here))
        except FileNotFoundError:
            raise ColabError(
                f"{'/'.join(parts)} is not in {snap.name}; see what it holds with: ls {snap.path}"
            ) from None
        except OSError as e:
            where = "/".join(parts[: i + 1])
            if e.errno in _NOT_A_FOLDER and state.is_symlink(here, part):
                to = os.readlink(part, dir_fd=here)
                raise ColabError(
                    f"{where} is a symlink in {snap.name} (to {to}): restore reads only what is inside the snapshot; "
                    f"restore {where} itself (it comes back as the symlink), or the folder it stands for"
                ) from None
            if e.errno in _NOT_A_FOLDER:
                raise ColabError(f"{where} is not a folder in {snap.name}; see ls {snap.path / where}") from None
            raise
    try:
        st = os.stat(parts[-1], dir_fd=here, follow_symlinks=False)
    except FileNotFoundError:
        raise ColabError(f"{'/'.join(parts)} is not in {snap.name}; see what it holds with: ls {snap.path}") from None
    if stat.S_ISDIR(st.st_mode):
        return Source(fds.keep(os.open(parts[-1], _DIR, dir_fd=here)), "", st)
    return Source(here, parts[-1], st)


def destination(
    root: Path, parts: tuple[str, ...], snap_dir: int, fds: Fds, *, make: bool
) -> tuple[int | None, list[str]]:
    """Open (with `make`, create) the destination folders `parts` under `root`, never through a symlink; returns
    the innermost folder's descriptor (None when a dry run stops at a missing one) and the folders to make.
    `snap_dir` is the snapshot's root: missing folders get the mode (and, as root, the owner) they have there."""
    here = fds.keep(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    src = snap_dir
    missing: list[str] = []
    for i, part in enumerate(parts):
        where = "/".join(parts[: i + 1])
        src = fds.keep(os.open(part, _DIR, dir_fd=src))
        if missing and not make:
            missing.append(where)
            continue
        try:
            here = fds.keep(os.open(part, _DIR, dir_fd=here))
            continue
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno in _NOT_A_FOLDER and state.is_symlink(here, part):
                to = os.readlink(part, dir_fd=here)
                raise ColabError(
                    f"{root / where} is a symlink (to {to}) where {where} is a folder in the snapshot: restoring "
                    "through it would write outside the destination; move it aside, or restore --into a new folder"
                ) from None
            if e.errno in _NOT_A_FOLDER:
                raise ColabError(
                    f"{root / where} is not a folder, but {where} is one in the snapshot; move it aside first"
                ) from None
            raise
        missing.append(where)
        if not make:
            continue
        st = os.fstat(src)
        os.mkdir(part, 0o700, dir_fd=here)
        here = fds.keep(os.open(part, _DIR, dir_fd=here))
        if os.geteuid() == 0:
            os.fchown(here, st.st_uid, st.st_gid)
        os.fchmod(here, stat.S_IMODE(st.st_mode))
    return (None if missing and not make else here), missing


def fd_path(fd: int, name: str = "") -> Path:
    return Path(f"/proc/self/fd/{fd}" + (f"/{name}" if name else ""))


def snapshot_root(snap: snapshots.Snapshot, fds: Fds) -> int:
    parent = fds.keep(os.open(snap.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    return fds.keep(os.open(snap.name, _DIR, dir_fd=parent))
