"""Disk usage of trees and free room on volumes, and sizes for people."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

RESERVE = 64 * 1024 * 1024  # left free after a full copy, for metadata, logs and dumps
MARGIN = 1.02  # file system overhead beyond the data's own blocks


@dataclass(frozen=True)
class Usage:
    bytes: int  # blocks used, each inode once
    files: int  # every entry below the root (files, directories, links…)


def usage(root: Path) -> Usage:
    """What `du` would say, and how many entries, counting hard-linked inodes once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    files = 0
    stack = [str(root)]
    while stack:
        path = stack.pop()
        try:
            it = os.scandir(path)
        except OSError:
            continue
        with it:
            for entry in it:
                files += 1
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_blocks * 512
    return Usage(total, files)


def files(root: Path) -> int:
    """Entries below root that are not directories (files, symlinks…): what a vanished folder takes with it
    (rsync keeps the folder itself, empty)."""
    count = 0
    stack = [str(root)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    count += 1
    return count


def free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def room_for(need: int, available: int) -> bool:
    return need * MARGIN + RESERVE <= available


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
