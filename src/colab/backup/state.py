"""The backup's own entries on the volume, reached without following symlinks.

The backups run as root. A symlink planted at `<target>/.colab-backup/trash` would make a run rename and delete
another folder's contents, one at `.colab-backup/lock` would make it truncate the file it points to. So every
state entry (`.colab-backup` and its lock, meta and trash, the dump folders, scratch space) is opened one path
step at a time from a directory descriptor with O_NOFOLLOW, and each step must be a real folder (or regular file)
owned by the user running the backup that nobody else can write; anything else stops the run with one line
(exit 1) before it changes anything. The target folder itself must be writable by nobody but its owner (the
user running the backup, or root), or someone else could swap a tree for a symlink while rsync writes into it.

Child processes (rm, rsync) are handed such a folder as /proc/self/fd/N, which names the opened folder itself,
whatever happens to its path meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from colab.errors import ColabError

STATE = ".colab-backup"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Unsafe(ColabError):
    """A state entry is a symlink, not the right kind of entry, or someone else could change it."""


def _who(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _problem(st: os.stat_result, *, folder: bool, owners: tuple[int, ...]) -> str | None:
    """Why an entry is not one the backup may use, or None."""
    if folder and not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if not folder and not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_uid not in owners:
        return f"is owned by {_who(st.st_uid)}, not by {_who(os.geteuid())}, who runs the backup"
    if st.st_mode & stat.S_IWOTH:
        return f"is writable by every user (mode {stat.S_IMODE(st.st_mode):04o})"
    if st.st_mode & stat.S_IWGRP and st.st_gid != os.getegid():
        return f"is writable by group {st.st_gid} (mode {stat.S_IMODE(st.st_mode):04o})"
    if not folder and st.st_nlink != 1:
        return f"has {st.st_nlink} hard links (another name could be another file)"
    return None


def _refuse(path: Path, why: str) -> Unsafe:
    return Unsafe(
        f"{path} {why}: the backup keeps its state only in real folders and files that no other user can change; "
        "move it aside (it may have been put there to redirect the backup) and run again"
    )


def _symlink_text(dir_fd: int, name: str) -> str:
    try:
        return f"is a symlink (to {os.readlink(name, dir_fd=dir_fd)}), not a real entry"
    except OSError:
        return "is a symlink, not a real entry"


def is_symlink(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def not_a_folder(dir_fd: int, name: str) -> str:
    """Why `name` could not be opened as a folder without following links (O_DIRECTORY | O_NOFOLLOW fails with
    ENOTDIR for a symlink, ELOOP on some systems)."""
    return _symlink_text(dir_fd, name) if is_symlink(dir_fd, name) else "is not a folder"


def check_target(target: Path) -> None:
    """The backup volume's top folder: writable only by its owner, who is the user running the backup or root."""
    st = os.stat(target)
    why = _problem(st, folder=True, owners=(os.geteuid(), 0))
    if why:
        raise Unsafe(
            f"backup target {target} {why}: anyone else who can write there could swap a snapshot for a symlink "
            f"while the backup writes into it; make it {_who(os.geteuid())}'s alone (chown, chmod go-w)"
        )


@dataclass(frozen=True)
class Folder:
    """An open folder: its descriptor and, for messages, its path."""

    fd: int
    path: Path

    def proc(self, name: str = "") -> str:
        """A path naming this very folder (or an entry in it) for this process and children that inherit fd."""
        return f"/proc/self/fd/{self.fd}" + (f"/{name}" if name else "")

    def entries(self) -> list[os.DirEntry[str]]:
        with os.scandir(self.fd) as it:
            return list(it)

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(name, dir_fd=self.fd, follow_symlinks=False)

    def open_file(self, name: str, flags: int, mode: int = 0o644) -> int:
        """Open (or create) a regular file here without following a symlink; refused unless it is ours alone."""
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode, dir_fd=self.fd)
        except OSError as e:
            if e.errno == errno.ELOOP:  # the name is a symlink
                raise _refuse(self.path / name, _symlink_text(self.fd, name)) from None
            raise
        why = _problem(os.fstat(fd), folder=False, owners=(os.geteuid(),))
        if why:
            os.close(fd)
            raise _refuse(self.path / name, why)
        os.set_blocking(fd, True)
        return fd

    def sub(self, name: str, *, create: bool = False, mode: int = 0o755) -> Folder | None:
        """The folder `name` in this one (made when missing with `create`), or None when missing."""
        return open_folder(self.fd, name, self.path / name, create=create, mode=mode)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def open_folder(dir_fd: int, name: str, path: Path, *, create: bool, mode: int = 0o755) -> Folder | None:
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, mode, dir_fd=dir_fd)
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _refuse(path, not_a_folder(dir_fd, name)) from None
        raise
    why = _problem(os.fstat(fd), folder=True, owners=(os.geteuid(),))
    if why:
        os.close(fd)
        raise _refuse(path, why)
    return Folder(fd, path)


@contextlib.contextmanager
def folder(target: Path, *parts: str, create: bool = False, mode: int = 0o755) -> Iterator[Folder | None]:
    """`<target>/<parts…>` opened step by step without following symlinks (None when a part is missing and
    not `create`). The target itself is the configured path: it may be reached through symlinks."""
    top = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    current: Folder | None = Folder(top, target)
    try:
        for part in parts:
            assert current is not None
            nxt = current.sub(part, create=create, mode=mode)
            current.close()
            current = nxt
            if current is None:
                break
        yield current
    finally:
        if current is not None:
            current.close()


def state(target: Path, *parts: str, create: bool = False) -> contextlib.AbstractContextManager[Folder | None]:
    """A folder under `<target>/.colab-backup`."""
    return folder(target, STATE, *parts, create=create)


def validate(target: Path) -> None:
    """Check every state entry the runs use, before a run changes anything: the target, `.colab-backup` and
    its lock, meta and trash, `dumps` and its service folders (those that exist)."""
    check_target(target)
    with state(target) as top:
        if top is not None:
            for name in ("meta", "trash"):
                sub = top.sub(name)
                if sub is not None:
                    sub.close()
            with contextlib.suppress(FileNotFoundError):
                os.close(top.open_file("lock", os.O_RDONLY))
    with folder(target, "dumps") as dumps:
        if dumps is not None:
            for entry in dumps.entries():
                if entry.is_dir(follow_symlinks=False) or entry.is_symlink():
                    sub = dumps.sub(entry.name)
                    if sub is not None:
                        sub.close()
