"""rsync command lines, exit-code classification, statistics and progress parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from colab.backup import rsync
from tests.conftest import require_tool

STATS = """
Number of files: 100,123 (reg: 100,000, dir: 123)
Number of created files: 1,000 (reg: 1,000)
Number of deleted files: 3
Number of regular files transferred: 1,000
Total file size: 410,123,456 bytes
Total transferred file size: 4,101,234 bytes
Literal data: 4,101,234 bytes
Matched data: 0 bytes
File list size: 0
Total bytes sent: 4,200,000
Total bytes received: 20,000

sent 4,200,000 bytes  received 20,000 bytes  1,000,000.00 bytes/sec
total size is 410,123,456  speedup is 97.18
"""


def test_snapshot_argv_daily() -> None:
    assert rsync.snapshot_argv(Path("/src"), Path("/t/.fortress-20240105.tmp"), Path("/t/fortress-20240104")) == [
        "rsync", "-a", "--delete", "--numeric-ids", "--stats", "--link-dest=/t/fortress-20240104",
        "/src/", "/t/.fortress-20240105.tmp/",
    ]  # fmt: skip


def test_snapshot_argv_weekly_with_progress() -> None:
    argv = rsync.snapshot_argv(Path("/src"), Path("/t/tmp"), Path("/t/new"), checksum=True, itemize=True, progress=True)
    assert argv == [
        "rsync", "-a", "--delete", "--numeric-ids", "--stats", "--checksum", "--link-dest=/t/new",
        "--itemize-changes", "--info=progress2", "/src/", "/t/tmp/",
    ]  # fmt: skip


def test_snapshot_argv_exact_times() -> None:
    argv = rsync.snapshot_argv(Path("/s"), Path("/d"), Path("/n"), exact_times=True)
    assert argv[:6] == ["rsync", "-a", "--delete", "--numeric-ids", "--stats", "--modify-window=-1"]


def test_snapshot_argv_full_copy_has_no_link_dest() -> None:
    assert rsync.snapshot_argv(Path("/s"), Path("/d"), None) == [
        "rsync", "-a", "--delete", "--numeric-ids", "--stats", "/s/", "/d/",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "stderr", "status", "fragment"),
    [
        (0, "", "ok", ""),
        (23, 'rsync: [sender] send_files failed to open "/s/x": Permission denied (13)\n', "warning",
         "rsync exit 23: some files or attributes were not transferred; first error: rsync: [sender]"),
        (24, "file has vanished: /s/y\n", "warning", "rsync exit 24: some source files vanished"),
        (11, 'rsync: [receiver] write failed on "/t/x": No space left on device (28)\n', "failed",
         "the target volume is full"),
        (23, "rsync: write failed: No space left on device (28)\n", "failed", "the target volume is full"),
        (12, "", "failed", "rsync exit 12: error in the rsync protocol data stream"),
        (-9, "", "failed", "rsync was killed by signal 9 (SIGKILL)"),
        (127, "", "failed", "rsync is not installed"),
    ],
)  # fmt: skip
def test_classify(code: int, stderr: str, status: str, fragment: str) -> None:
    v = rsync.classify(code, stderr)
    assert v.status == status
    assert fragment in v.message


def test_parse_stats() -> None:
    assert rsync.parse_stats(STATS) == rsync.Stats(
        files=100123,
        regular=100000,
        dirs=123,
        created=1000,
        deleted=3,
        transferred=1000,
        total_size=410123456,
        transferred_size=4101234,
    )


def test_parse_progress() -> None:
    p = rsync.parse_progress("    410,123,456  45%   12.34MB/s    0:00:12 (xfr#1000, ir-chk=1000/100123)")
    assert p == rsync.Progress(410123456, 45, 1000, "1000/100123")
    assert rsync.parse_progress("              0   0%    0.00kB/s    0:00:00  ") == rsync.Progress(0, 0, 0, "")
    assert rsync.parse_progress("Number of files: 3") is None


def test_content_changes_are_files_rewritten_with_equal_size_and_time() -> None:
    itemized = [
        ">fc........ data/rotted.bin",
        ">fcst...... data/grown.txt",
        ">f+++++++++ data/new.txt",
        ".d..t...... data/",
        "cL+++++++++ link -> target",
        "*deleting   old.txt",
    ]
    assert all(rsync.is_itemized(line) for line in itemized)
    assert rsync.content_changes(itemized) == ["data/rotted.bin"]
    assert not rsync.is_itemized("Number of files: 4 (reg: 3, dir: 1)")


def test_run_streams_real_rsync(tmp_path: Path) -> None:
    require_tool("rsync")
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a").write_text("hello")
    res = rsync.run(rsync.snapshot_argv(src, tmp_path / "dst", None, itemize=True))
    assert res.returncode == 0, res.stderr
    assert (res.stats.regular, res.stats.transferred, res.stats.total_size) == (1, 1, 5)
    assert ">f+++++++++ d/a" in res.itemized
    assert (tmp_path / "dst" / "d" / "a").read_text() == "hello"


def test_run_reports_a_missing_binary() -> None:
    assert rsync.run(["/nonexistent/rsync"]).returncode == 127
