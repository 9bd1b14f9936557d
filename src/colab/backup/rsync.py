"""rsync: the command lines we run, what their exit codes mean, and their statistics.

Exit 0 is success; 23 (some files or attributes not transferred) and 24 (source files vanished while
copying) leave a usable snapshot and are warnings; anything else, or a full target volume, is a failure.
`run` streams rsync's output (progress on a terminal, statistics at the end), makes rsync die with its
parent on Linux (so a killed backup leaves no rsync writing on), and can hand rsync the run's lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

RSYNC = "rsync"
WARNING_CODES = {23: "some files or attributes were not transferred", 24: "some source files vanished while copying"}
MEANINGS = {
    1: "syntax or usage error",
    2: "protocol incompatibility",
    3: "errors selecting input/output files or directories",
    5: "error starting client-server protocol",
    10: "error in socket I/O",
    11: "error in file I/O",
    12: "error in the rsync protocol data stream",
    20: "received a signal (interrupted)",
    22: "error allocating memory",
    30: "timeout in data send/receive",
    35: "timeout waiting for the daemon",
}
ENOSPC = "No space left on device"


@dataclass(frozen=True)
class Verdict:
    status: Literal["ok", "warning", "failed"]
    message: str


def classify(returncode: int, stderr: str = "") -> Verdict:
    """What an rsync exit means for the snapshot."""
    if ENOSPC in stderr or "Disk quota exceeded" in stderr:
        return Verdict("failed", f"the target volume is full (rsync exit {returncode}: {ENOSPC.lower()})")
    if returncode == 0:
        return Verdict("ok", "")
    if returncode in WARNING_CODES:
        return Verdict("warning", f"rsync exit {returncode}: {WARNING_CODES[returncode]}{_first_error(stderr)}")
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else "?"
        return Verdict("failed", f"rsync was killed by signal {-returncode} ({name})")
    meaning = MEANINGS.get(returncode, "failed")
    if returncode == 127:
        meaning = "rsync is not installed (apt-get install rsync)"
    return Verdict("failed", f"rsync exit {returncode}: {meaning}{_first_error(stderr)}")


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("rsync:") or line.startswith("rsync error:"):
            return f"; first error: {line}"
    return ""


def snapshot_argv(
    source: Path,
    dest: Path,
    link_dest: Path | None,
    *,
    checksum: bool = False,
    itemize: bool = False,
    progress: bool = False,
    exact_times: bool = False,
) -> list[str]:
    """rsync into `dest` so it becomes an exact copy of `source`; unchanged files hard-linked to `link_dest`.

    `exact_times` compares modification times to the nanosecond (rsync's default is whole seconds, which
    misses a file rewritten with the same size within the second of its last backup)."""
    argv = [RSYNC, "-a", "--delete", "--numeric-ids", "--stats"]
    if exact_times:
        argv.append("--modify-window=-1")
    if checksum:
        argv.append("--checksum")
    if link_dest is not None:
        argv.append(f"--link-dest={link_dest}")
    if itemize:
        argv.append("--itemize-changes")
    if progress:
        argv.append("--info=progress2")
    return [*argv, f"{source}/", f"{dest}/"]


def copy_argv(
    source: Path, dest: Path, *, progress: bool = False, checksum: bool = False, is_dir: bool | None = None
) -> list[str]:
    """Plain copy for restores: add and update, never delete at the destination (`checksum` when restoring
    over live files, so a file is compared by content, not by size and time). A folder's contents go into the
    folder `dest`; one entry (a file, or a symlink, copied as the symlink) goes into the folder `dest`.
    `is_dir` says which `source` is (default: ask the file system)."""
    argv = [RSYNC, "-a", "--numeric-ids", "--stats"]
    if checksum:
        argv.append("--checksum")
    if progress:
        argv.append("--info=progress2")
    folder = source.is_dir() if is_dir is None else is_dir
    return [*argv, f"{source}/" if folder else str(source), f"{dest}/"]


def compare_argv(reference: Path, other: Path) -> list[str]:
    """A dry run that itemizes every difference between two trees, contents compared by checksum."""
    return [
        RSYNC,
        "-a",
        "--numeric-ids",
        "--checksum",
        "--delete",
        "--dry-run",
        "--itemize-changes",
        f"{reference}/",
        f"{other}/",
    ]


# ------------------------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class Stats:
    files: int = 0  # every entry rsync listed (files, dirs, links …)
    regular: int = 0
    dirs: int = 0
    created: int = 0
    deleted: int = 0
    transferred: int = 0  # regular files whose data was copied
    total_size: int = 0  # bytes of all regular files
    transferred_size: int = 0  # bytes of the files copied: what this snapshot adds to the volume


_NUM = r"([\d,.]+)"


def _int(text: str) -> int:
    return int(float(text.replace(",", "")))


def parse_stats(text: str) -> Stats:
    def grab(pattern: str) -> int:
        m = re.search(pattern, text, re.MULTILINE)
        return _int(m.group(1)) if m else 0

    return Stats(
        files=grab(rf"^Number of files: {_NUM}"),
        regular=grab(rf"^Number of files: .*reg: {_NUM}"),
        dirs=grab(rf"^Number of files: .*dir: {_NUM}"),
        created=grab(rf"^Number of created files: {_NUM}"),
        deleted=grab(rf"^Number of deleted files: {_NUM}"),
        transferred=grab(rf"^Number of regular files transferred: {_NUM}"),
        total_size=grab(rf"^Total file size: {_NUM}"),
        transferred_size=grab(rf"^Total transferred file size: {_NUM}"),
    )


@dataclass(frozen=True)
class Progress:
    done_bytes: int
    percent: int
    xfr: int
    to_check: str


_PROGRESS = re.compile(r"^\s*([\d,]+)\s+(\d+)%\s+\S+\s+\S+(?:\s+\(xfr#(\d+),\s*(?:ir|to)-chk=([\d/]+)\))?")


def parse_progress(line: str) -> Progress | None:
    """One `--info=progress2` line (`  1,234,567  45%  12.34MB/s  0:00:12 (xfr#12, ir-chk=10/200)`)."""
    m = _PROGRESS.match(line)
    if not m:
        return None
    return Progress(_int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), m.group(4) or "")


def content_changes(itemized: Sequence[str]) -> list[str]:
    """Paths --itemize-changes reports as rewritten although size and time matched: only --checksum sees them."""
    out = []
    for line in itemized:
        flags, _, path = line.partition(" ")
        if len(flags) >= 5 and flags[0] in ">c" and flags[1] == "f" and flags[2] == "c" and flags[3:5] == "..":
            out.append(path)
    return out


def is_itemized(line: str) -> bool:
    return bool(re.match(r"^[<>ch.*][fdLDS][.+?cstpoguaxnbT]{7,9} ", line)) or line.startswith("*deleting ")


# ------------------------------------------------------------------------------------------ running


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    stats: Stats = field(default_factory=Stats)
    itemized: list[str] = field(default_factory=list)


ProgressHook = Callable[[Progress], None]

_PR_SET_PDEATHSIG = 1
_libc: Any = None


def _child_setup(parent: int) -> Callable[[], None]:
    """rsync runs in its own process group (so all its processes can be stopped together) and, on Linux,
    gets SIGKILL when the backup process dies: nothing keeps writing after a kill -9."""
    global _libc
    linux = sys.platform.startswith("linux")
    if linux and _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc = _libc

    def setup() -> None:
        os.setpgid(0, 0)
        if linux:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)

    return setup


def _stop_group(pgid: int, timeout: float = 15.0) -> None:
    """Kill every process left in rsync's group and wait until none is left (they may hold files open)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.02)


def run(
    argv: Sequence[str],
    *,
    on_progress: ProgressHook | None = None,
    keep_fds: Sequence[int] = (),
    cwd: Path | None = None,
) -> Run:
    """Run rsync, streaming its stdout; `keep_fds` (the run's lock) stay open in rsync so the lock lives on
    as long as any rsync process does."""
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=tuple(keep_fds),
            preexec_fn=_child_setup(os.getpid()),  # only prctl runs in the child
            cwd=cwd,
        )
    except FileNotFoundError:
        return Run(127, "", f"{argv[0]}: command not found")
    assert proc.stdout is not None and proc.stderr is not None
    err_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read() if proc.stderr else b""))
    reader.daemon = True
    reader.start()
    out_lines: list[str] = []
    itemized: list[str] = []
    buf = b""
    try:
        while True:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *parts, buf = re.split(rb"[\r\n]", buf)
            for raw in parts:
                _take(raw.decode("utf-8", "surrogateescape"), out_lines, itemized, on_progress)
        if buf:
            _take(buf.decode("utf-8", "surrogateescape"), out_lines, itemized, on_progress)
        proc.wait()
        if proc.returncode != 0:
            _stop_group(proc.pid)
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): stop every rsync process before anything else happens.
        _stop_group(proc.pid)
        proc.wait()
        raise
    finally:
        reader.join(timeout=5)
        proc.stdout.close()
    stdout = "\n".join(out_lines)
    stderr = b"".join(err_chunks).decode("utf-8", "replace")
    return Run(proc.returncode, stdout, stderr, parse_stats(stdout), itemized)


def _take(line: str, out: list[str], itemized: list[str], on_progress: ProgressHook | None) -> None:
    if not line.strip():
        return
    progress = parse_progress(line)
    if progress is not None:
        if on_progress is not None:
            on_progress(progress)
        return
    if is_itemized(line):
        itemized.append(line)
        return
    out.append(line)
