"""One backup run at a time: an flock on <target>/.colab-backup/lock, with the holder's line written in it.

The lock file is opened without following symlinks and must be a regular file of the user running the backup
(`state.py`): a symlink there would otherwise make the run truncate the file it points to.

The kernel drops an flock when its last holder dies, so a crashed run never blocks the next one. The line in
the file (`colab.lock_holder`: task, user, node, pid, since) says who holds it; a run that finds one there
after taking the lock knows the previous run ended without cleaning up (killed, power loss) and reports it as
a warning. rsync inherits the lock's descriptor, so the lock lives exactly as long as any process still writing
to the volume.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from colab.backup import state
from colab.errors import ColabError
from colab.lock_holder import Holder, describe, pid_alive

LOCK = "lock"


class Busy(ColabError):
    """Another run holds the lock."""


@dataclass
class Held:
    path: Path
    fd: int
    took_over: str | None = None  # the warning when a stale lock was taken over


def _read(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode("utf-8", "replace")


def _locked_by(path: Path, fd: int) -> str:
    """`<lock> is locked by backup.daily by root on cooperator (pid 42, since …)`."""
    return f"{path} is locked by {describe(_read(fd))}"


def _busy_message(path: Path, fd: int) -> str:
    return f"{_locked_by(path, fd)}; wait for it to finish, or pass --wait to queue behind it"


def path_of(target: Path) -> Path:
    return target / state.STATE / LOCK


def acquire(
    target: Path,
    task: str,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Held:
    """Take the lock of the backup volume `target`, or raise Busy (or block until it is free with `wait`);
    state.Unsafe when the lock or its folder is a symlink or someone else's."""
    path = path_of(target)
    with state.state(target, create=True) as folder:
        assert folder is not None
        fd = folder.open_file(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise Busy(_busy_message(path, fd)) from None
            if on_wait is not None:
                on_wait(f"waiting: {_locked_by(path, fd)}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        took_over = _stale(Holder.parse(_read(fd)))
        content = Holder.me(task).line() + "\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, content.encode(), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    return Held(path, fd, took_over)


def _stale(holder: Holder | None) -> str | None:
    if holder is None or holder.pid is None or holder.pid == os.getpid():
        return None
    # The volume is this machine's, so its pid is looked at here whatever node the line names.
    state = "which is no longer running" if not pid_alive(holder.pid) else "which runs but no longer holds it"
    return f"took over the stale lock of {holder.describe()}, {state}: that run was interrupted"


def release(held: Held) -> None:
    with contextlib.suppress(OSError):
        os.ftruncate(held.fd, 0)
    with contextlib.suppress(OSError):
        fcntl.flock(held.fd, fcntl.LOCK_UN)
    os.close(held.fd)


@contextlib.contextmanager
def hold(
    target: Path, task: str, *, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[Held]:
    held = acquire(target, task, wait=wait, on_wait=on_wait)
    try:
        yield held
    finally:
        release(held)


def holder(path: Path) -> str | None:
    """Who holds the lock right now (None when it is free, missing or not a regular file); changes nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return describe(_read(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def wait_free(path: Path, timeout: float) -> bool:
    """Poll until nobody holds the lock (tests, drills). True when it became free in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if holder(path) is None:
            return True
        time.sleep(0.05)
    return holder(path) is None
