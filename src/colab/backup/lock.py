"""One backup run at a time: an flock on <target>/.colab-backup/lock, with the holder's pid written in it.

The lock file is opened without following symlinks and must be a regular file of the user running the backup
(`state.py`): a symlink there would otherwise make the run truncate the file it points to.

The kernel drops an flock when its last holder dies, so a crashed run never blocks the next one. The pid
in the file says who holds it; a run that finds a pid there after taking the lock knows the previous run
ended without cleaning up (killed, power loss) and reports it as a warning. rsync inherits the lock's
descriptor, so the lock lives exactly as long as any process still writing to the volume.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from colab.backup import state
from colab.errors import ColabError

LOCK = "lock"


class Busy(ColabError):
    """Another run holds the lock."""


@dataclass
class Held:
    path: Path
    fd: int
    took_over: str | None = None  # the warning when a stale lock was taken over


def _read(fd: int) -> dict[str, str]:
    data = os.pread(fd, 4096, 0).decode("utf-8", "replace")
    info = {}
    for line in data.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key.strip()] = value.strip()
    return info


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(info: dict[str, str]) -> str:
    pid = info.get("pid", "?")
    what = info.get("task", "a backup run")
    started = info.get("started", "?")
    return f"{what} (pid {pid}, started {started})"


def _busy_message(path: Path, info: dict[str, str]) -> str:
    pid = info.get("pid", "")
    if pid.isdigit() and not pid_alive(int(pid)):
        who = f"processes left by {_describe(info)}, which has exited (its rsync is still finishing)"
    elif info:
        who = _describe(info)
    else:
        who = "another run"
    return f"{who} holds {path}; wait for it to finish, or pass --wait to queue behind it"


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
            message = _busy_message(path, _read(fd))
            if not wait:
                raise Busy(message) from None
            if on_wait is not None:
                on_wait(f"waiting: {message.split(';')[0]}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        took_over = _stale(_read(fd))
        content = f"pid={os.getpid()}\nstarted={datetime.now().isoformat(timespec='seconds')}\ntask={task}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, content.encode(), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    return Held(path, fd, took_over)


def _stale(info: dict[str, str]) -> str | None:
    pid = info.get("pid", "")
    if not pid.isdigit() or int(pid) == os.getpid():
        return None
    state = "which is no longer running" if not pid_alive(int(pid)) else "which runs but no longer holds it"
    return f"took over the stale lock of {_describe(info)}, {state}: that run was interrupted"


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
            return _busy_message(path, _read(fd)).split(";")[0]
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
