"""What `mount` and `findmnt` say on a node: the mount table's entries, the SMB mount at a path, whether a
source is a given device or one of its partitions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from colab import quoting


@dataclass(frozen=True)
class MountEntry:
    source: str
    target: str
    fstype: str


# Linux: `SRC on DIR type FS (OPTS)`; macOS/BSD: `SRC on DIR (FS, OPTS)`.
_MOUNT_LINE = re.compile(
    r"^(?P<source>.+?) on (?P<target>.+?) "
    r"(?:type (?P<fstype>\S+) \([^)]*\)|\((?P<bsdtype>[^,)]+)(?:, [^)]*)?\))\s*$"
)


def parse_mount_table(text: str) -> list[MountEntry]:
    """The output of `mount` (no arguments) on Linux or macOS, one entry per line it understands."""
    entries = []
    for line in text.splitlines():
        m = _MOUNT_LINE.match(line.strip())
        if m:
            fstype = m.group("fstype") or m.group("bsdtype") or ""
            # Linux escapes spaces and friends in the mount table as \040 (octal), as in fstab.
            source, target = quoting.fstab_unescape(m.group("source")), quoting.fstab_unescape(m.group("target"))
            entries.append(MountEntry(source, target, fstype.strip()))
    return entries


NETWORK_FS = ("cifs", "smb3", "smbfs")


def share_mounted_at(entries: list[MountEntry], target: str) -> MountEntry | None:
    """The SMB mount on `target` (the topmost one when an automount point sits under it), if any."""
    found = [e for e in entries if e.target.rstrip("/") == target.rstrip("/") and e.fstype in NETWORK_FS]
    return found[-1] if found else None


def is_device_or_partition(source: str, device: str) -> bool:
    """`source` is `device` or one of its partitions (sda -> sda1; mmcblk0, nvme0n1, loop3 -> …p1)."""
    if source == device:
        return True
    sep = "p" if device[-1:].isdigit() else ""
    return re.fullmatch(re.escape(device) + sep + r"[0-9]+", source) is not None
