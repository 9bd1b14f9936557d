"""Daily and weekly snapshots with real rsync on real trees, run as cron runs them (`inv`, no terminal).

- a daily is an exact copy; unchanged files are hard links to the previous snapshot, changed ones are not;
- once retention drops a snapshot, the next daily starts from it (same directory inode) and removes nothing;
- a second daily on the same day replaces that day's snapshot; --dry-run changes nothing;
- the weekly pass reads every byte: a file rotted in the backup (same size and time) is copied fresh, warned;
- rsync exit 23 keeps the snapshot and ends with exit 2;
- list --json, prune --dry-run reasons, restore to a new folder / in place, check and check --full;
- health pings reach a real HTTP server; a failing one is a warning.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_root, require_tool, unavailable
from tests.harness.inv import run_inv
from tests.integration.test_backup_support import (
    cron_inv,
    daily_args,
    differences,
    leftovers,
    make_tree,
    manifest,
    snapshot_names,
    write_inventory,
)

pytestmark = [pytest.mark.integration, pytest.mark.tools]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    require_tool("rsync")
    src, dst = tmp_path / "fortress", tmp_path / "backup"
    make_tree(src, dirs=4, files=25, size=512)
    dst.mkdir()
    inv = write_inventory(tmp_path / "inventory.toml", source=src, target=dst)
    return src, dst, inv


def ok(res: subprocess.CompletedProcess[str], code: int = 0) -> None:
    rc, out, err = res.returncode, res.stdout, res.stderr
    assert rc == code, f"exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err


def test_daily_copies_exactly_and_links_unchanged_files(setup: tuple[Path, Path, Path]) -> None:
    src, dst, inv = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    (src / "d001" / "f0003.bin").write_bytes(b"changed")
    (src / "d002" / "f0000.bin").unlink()
    (src / "new.txt").write_text("new")
    res = cron_inv(inv, *daily_args(src, dst, "2024-01-02T03:15"))
    ok(res)
    assert "snapshot fortress-20240102" in res.stdout and "changed" in res.stdout
    assert "\x1b[" not in res.stdout + res.stderr  # no terminal, no escape codes
    assert snapshot_names(dst) == ["fortress-20240101", "fortress-20240102"]
    assert os.readlink(dst / "fortress-latest") == "fortress-20240102"
    one, two = dst / "fortress-20240101", dst / "fortress-20240102"
    assert differences(src, two) == []
    assert (one / "d002" / "f0000.bin").exists() and not (two / "d002" / "f0000.bin").exists()
    assert (one / "d000" / "f0000.bin").stat().st_ino == (two / "d000" / "f0000.bin").stat().st_ino
    assert (one / "d001" / "f0003.bin").stat().st_ino != (two / "d001" / "f0003.bin").stat().st_ino
    assert (one / "d001" / "f0003.bin").read_bytes() != b"changed"  # the old snapshot kept the old content
    assert leftovers(dst) == []
    listed = json.loads(
        cron_inv(inv, "backup.list", "--target", str(dst), "--json", "--now", "2024-01-02T09:15").stdout
    )
    rows = {b["name"]: b for b in listed["backups"]}
    assert rows["fortress-20240102"]["kind"] == "daily" and rows["fortress-20240102"]["latest"] is True
    assert rows["fortress-20240102"]["files"] == 4 * 25 + 4 + 2 + 1 + 1 - 1  # files, dirs, empty, link, new, -1
    assert rows["fortress-20240102"]["age_hours"] == 6.0


def test_an_expired_snapshot_is_reused_as_the_next_target(setup: tuple[Path, Path, Path]) -> None:
    src, dst, inv = setup
    # Sun 2023-12-31 (the oldest: kept as weekly and by the monthly rule), Mon 2024-01-01 … Sun 2024-01-07
    (src / "day.txt").write_text("day 0")
    ok(cron_inv(inv, *daily_args(src, dst, "2023-12-31T03:15")))
    for day in range(1, 8):
        (src / "day.txt").write_text(f"day {day}")
        ok(cron_inv(inv, *daily_args(src, dst, f"2024-01-0{day}T03:15")))
    expired_inode = (dst / "fortress-20240101").stat().st_ino
    before = manifest(dst / "fortress-20240107")
    (src / "day.txt").write_text("day 8")
    res = cron_inv(inv, *daily_args(src, dst, "2024-01-08T03:15", "--json"))
    ok(res)
    data = json.loads(res.stdout)
    assert data["snapshot"]["start"] == "reusing fortress-20240101, which retention drops once this snapshot exists"
    assert (dst / "fortress-20240108").stat().st_ino == expired_inode  # the same tree, renamed and updated
    assert snapshot_names(dst) == ["fortress-20231231"] + [f"fortress-2024010{d}" for d in range(2, 9)]
    assert differences(src, dst / "fortress-20240108") == []
    assert manifest(dst / "fortress-20240107") == before  # the newest snapshot was only linked to
    new, prev = dst / "fortress-20240108", dst / "fortress-20240107"
    assert (new / "d003" / "f0024.bin").stat().st_ino == (prev / "d003" / "f0024.bin").stat().st_ino
    assert data["snapshot"]["copied_files"] == 1  # only day.txt was copied
    assert leftovers(dst) == []


def test_same_day_rerun_replaces_and_dry_run_changes_nothing(setup: tuple[Path, Path, Path]) -> None:
    src, dst, inv = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-03-01T03:15")))
    (src / "later.txt").write_text("written after the morning run")
    state = manifest(dst)
    res = cron_inv(inv, *daily_args(src, dst, "2024-03-01T12:00", "--dry-run"))
    ok(res)
    assert "rsync -a --delete --numeric-ids --stats --modify-window=-1 --link-dest=" in res.stderr
    assert f"mv --exchange {dst}/.fortress-20240301.tmp {dst}/fortress-20240301" in res.stderr
    assert manifest(dst) == state
    ok(cron_inv(inv, *daily_args(src, dst, "2024-03-01T12:00")))
    assert snapshot_names(dst) == ["fortress-20240301"]
    assert (dst / "fortress-20240301" / "later.txt").read_text() == "written after the morning run"
    assert leftovers(dst) == []


def test_weekly_reads_every_byte_and_replaces_rot(setup: tuple[Path, Path, Path]) -> None:
    src, dst, inv = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-06T03:15")))
    rotten = dst / "fortress-20240106" / "d002" / "f0007.bin"
    st = rotten.stat()
    data = bytearray(rotten.read_bytes())
    data[100] ^= 0xFF  # one flipped byte, same size; restore the time so only a checksum notices
    rotten.write_bytes(bytes(data))
    os.utime(rotten, ns=(st.st_atime_ns, st.st_mtime_ns))
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-07T03:15")), 0)
    assert (dst / "fortress-20240107" / "d002" / "f0007.bin").read_bytes() == bytes(data)  # daily cannot see it
    args = ["backup.weekly", "--source", str(src), "--target", str(dst), "--now", "2024-01-07T04:30"]
    res = cron_inv(inv, *args)
    ok(res, 2)
    assert "1 file(s) had the size and time of fortress-20240107 but other content" in res.stderr
    assert "d002/f0007.bin" in res.stderr
    weekly = dst / "fortress-20240107"
    assert differences(src, weekly) == []
    assert json.loads((dst / ".colab-backup" / "meta" / "fortress-20240107.json").read_text())["kind"] == "weekly"
    other = weekly / "d000" / "f0001.bin"
    assert other.stat().st_ino == (dst / "fortress-20240106" / "d000" / "f0001.bin").stat().st_ino
    assert leftovers(dst) == []


def test_rsync_exit_23_keeps_the_snapshot_and_exits_2(setup: tuple[Path, Path, Path]) -> None:
    """An unreadable source file, read without the capability that lets root ignore permissions."""
    require_tool("setpriv")
    require_root("the test drops root's file-permission override")
    src, dst, inv = setup
    locked = src / "d000" / "locked.bin"
    locked.write_bytes(b"secret")
    os.chown(locked, 65534, 65534)
    locked.chmod(0)
    drop = "-dac_override,-dac_read_search"
    setpriv = ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}"]
    res = run_inv(*daily_args(src, dst, "2024-01-01T03:15"), node="cooperator", inventory=inv, new_session=True,
                  prefix=setpriv)  # fmt: skip
    ok(res, 2)
    assert "rsync exit 23: some files or attributes were not transferred" in res.stdout + res.stderr
    assert "Permission denied" in res.stdout + res.stderr
    snap = dst / "fortress-20240101"
    assert snap.is_dir() and os.readlink(dst / "fortress-latest") == "fortress-20240101"
    assert (snap / "d003" / "f0024.bin").read_bytes() == (src / "d003" / "f0024.bin").read_bytes()
    assert not (snap / "d000" / "locked.bin").exists()


def test_cron_like_environment(setup: tuple[Path, Path, Path]) -> None:
    """cron: no terminal, a bare environment (PATH=/usr/bin:/bin, no TERM), the inventory's own paths."""
    src, dst, inv = setup
    (dst / ".colab-backup").mkdir()  # the inventory target is not a mount point here: mark it as in use
    bare = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LOGNAME": "root", "SHELL": "/bin/sh"}
    res = run_inv(
        "backup.daily", "--now", "2024-06-01T03:15",
        node="cooperator", inventory=inv, env=bare, inherit=False, columns=None, new_session=True,
    )  # fmt: skip
    ok(res)
    assert differences(src, dst / "fortress-20240601") == []
    assert "\x1b[" not in res.stdout + res.stderr


def test_the_cron_entry_runs_the_daily(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """scripts/backup-cron daily, as /etc/cron.d/colab-backup runs it: bare environment, no terminal; it runs the
    `inv` of its own tree's virtualenv (this checkout's .venv, root's here) and logs to ~/.local/state/colab.
    The root-owned install cron really runs is made and run in test_backup_install.py."""
    require_tool("flock")
    if not (ROOT / ".venv" / "bin" / "inv").exists():
        unavailable(f"no {ROOT}/.venv (python3 scripts/venv --dev, or scripts/ci-setup, makes it)")
    src, dst, inv = setup
    (dst / ".colab-backup").mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "LOGNAME": "root", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}
    env |= {"COLAB_INVENTORY": str(inv), "COLAB_NODE": "cooperator", "COLAB_NETGUARD": "1"}
    res = subprocess.run(
        [str(ROOT / "scripts" / "backup-cron"), "daily"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    log = (home / ".local" / "state" / "colab" / "backup-daily.log").read_text()
    assert res.returncode == 0, log
    assert "backup.daily start" in log and "backup.daily end: exit 0" in log
    assert "Traceback" not in log and "\x1b[" not in log
    today = snapshot_names(dst)
    assert len(today) == 1 and differences(src, dst / today[0]) == []


def test_prune_dry_run_explains_and_prune_removes(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    src, dst, _ = setup
    inv = write_inventory(tmp_path / "short.toml", source=src, target=dst)
    text = inv.read_text().replace("daily = 7", "daily = 2").replace("weekly = 4", "weekly = 1")
    inv.write_text(text.replace("monthly = 12", "monthly = 1"))
    for day in ("2023-12-29", "2023-12-30", "2024-01-01", "2024-01-02", "2024-01-03"):
        # snapshots made by hand, as if retention had been looser before
        (dst / f"fortress-{day.replace('-', '')}").mkdir()
        shutil.copy(src / "d000" / "f0000.bin", dst / f"fortress-{day.replace('-', '')}" / "f")
    res = cron_inv(inv, "backup.prune", "--target", str(dst), "--dry-run")
    ok(res)
    out = " ".join(res.stdout.split())
    assert "fortress-20240103 │ snapshot │ keep │ daily 1/2 (2024-01-03); newest" in out
    assert "fortress-20240102 │ snapshot │ keep │ daily 2/2 (2024-01-02)" in out
    assert "fortress-20240101 │ snapshot │ prune │ not the newest" in out
    assert "fortress-20231230 │ snapshot │ keep │ weekly 1/1 (2023-W52)" in out
    # the monthly rule found no month of its own (both newest are kept already): it keeps the oldest (borg >= 1.2)
    assert "fortress-20231229 │ snapshot │ keep │ monthly[oldest] 1/1 (2023-12)" in out
    before = ["fortress-20231229", "fortress-20231230", "fortress-20240101", "fortress-20240102", "fortress-20240103"]
    assert snapshot_names(dst) == before
    ok(cron_inv(inv, "backup.prune", "--target", str(dst)))
    assert snapshot_names(dst) == ["fortress-20231229", "fortress-20231230", "fortress-20240102", "fortress-20240103"]
    assert os.readlink(dst / "fortress-latest") == "fortress-20240103"
    assert leftovers(dst) == []


def test_restore_into_a_new_folder_and_in_place(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    src, dst, inv = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    into = tmp_path / "restored"
    ok(cron_inv(inv, "backup.restore", "--source", str(src), "--target", str(dst), "--path", "d001", "--into",
               str(into)))  # fmt: skip
    assert differences(src / "d001", into / "d001") == []
    res = cron_inv(inv, "backup.restore", "--source", str(src), "--target", str(dst), "--path", "d001", "--into",
                  str(into))  # fmt: skip
    ok(res, 1)
    assert res.stderr.strip() == f"error: --into {into} exists and is not an empty folder; restore into a new folder"
    live = src / "d002" / "f0001.bin"
    original = live.read_bytes()
    live.write_bytes(b"damaged")
    args = ["backup.restore", "--source", str(src), "--target", str(dst), "--path", f"{src}/d002/f0001.bin"]
    res = cron_inv(inv, *args, "--in-place")  # no terminal to confirm on, no --yes
    ok(res, 1)
    assert res.stderr.strip() == "error: not confirmed: nothing restored (without a terminal, add --yes)"
    assert live.read_bytes() == b"damaged"
    ok(cron_inv(inv, *args, "--in-place", "--yes"))
    assert live.read_bytes() == original


def test_check_spot_and_full(setup: tuple[Path, Path, Path]) -> None:
    src, dst, inv = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    base = ["backup.check", "--source", str(src), "--target", str(dst)]
    res = cron_inv(inv, *base, "--json")
    ok(res)
    steps = {s["step"]: s for s in json.loads(res.stdout)["steps"]}
    assert steps["file count"]["status"] == "ok"
    assert steps["file count"]["detail"] == "106 entries in both"  # 100 files, 4 folders, empty, link
    assert steps["hashes of 32 sampled files"]["detail"] == "all equal"
    ok(cron_inv(inv, *base, "--full"))
    snap_file = dst / "fortress-20240101" / "d003" / "f0010.bin"
    st = snap_file.stat()
    snap_file.write_bytes(b"x" * st.st_size)  # rot in the backup, time kept
    os.utime(snap_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    res = cron_inv(inv, *base, "--full", "--json")
    ok(res, 1)
    steps = {s["step"]: s for s in json.loads(res.stdout)["steps"]}
    assert steps["restored = source"]["status"] == "failed"
    assert "d003/f0010.bin" in steps["restored = source"]["detail"]
    res = cron_inv(inv, *base, "--sample", "1000", "--json")  # a sample as big as the tree finds it too
    ok(res, 1)
    assert "d003/f0010.bin" in res.stdout
    assert leftovers(dst) == [] and [p.name for p in (dst / ".colab-backup").iterdir() if "scratch" in p.name] == []


class PingServer:
    def __init__(self, status: int) -> None:
        self.paths: list[str] = []
        self.status = status


@pytest.fixture
def ping_server() -> Iterator[tuple[str, PingServer]]:
    rec = PingServer(200)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.paths.append(self.path)
            self.send_response(rec.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/ping/uuid-1", rec
    httpd.shutdown()


def test_pings_start_and_success_and_a_failed_ping_is_a_warning(
    setup: tuple[Path, Path, Path], tmp_path: Path, ping_server: tuple[str, PingServer]
) -> None:
    src, dst, _ = setup
    url, rec = ping_server
    inv = write_inventory(tmp_path / "ping.toml", source=src, target=dst, ping_url=url)
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    assert rec.paths == ["/ping/uuid-1/start", "/ping/uuid-1"]
    rec.status = 503
    res = cron_inv(inv, *daily_args(src, dst, "2024-01-02T03:15"))
    ok(res, 2)
    assert "health ping (start) not delivered" in res.stderr
    assert snapshot_names(dst) == ["fortress-20240101", "fortress-20240102"]
    bad = tmp_path / "bad.toml"
    bad.write_text(inv.read_text().replace(url, "http://127.0.0.1:9/ping/uuid-1"))
    (src / "x").write_text("x")
    ok(cron_inv(bad, *daily_args(src, dst, "2024-01-03T03:15")), 2)
    assert differences(src, dst / "fortress-20240103") == []


def test_in_place_mirror_shows_its_plan_and_needs_yes(setup: tuple[Path, Path, Path]) -> None:
    """`--in-place` keeps live files the snapshot lacks; `--mirror` removes them too, after showing the plan."""
    src, dst, inv = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    snap = dst / "fortress-20240101"
    (src / "d001" / "stray.txt").write_text("not in the snapshot")
    (src / "d002" / "new").mkdir()
    (src / "d002" / "new" / "x").write_text("x")
    (src / "d003" / "f0001.bin").write_bytes(b"changed since")
    other = src / "d000" / "only-live.txt"
    other.write_text("outside the mirrored folder")
    args = ["backup.restore", "--source", str(src), "--target", str(dst), "--in-place", "--mirror"]
    before = manifest(src)
    res = cron_inv(inv, *args)  # no terminal, no --yes: the plan, then nothing done
    ok(res, 1)
    assert "plan: 4 live entries not in fortress-20240101 deleted, 1 added or updated: deletes" in res.stderr
    assert "d001/stray.txt" in res.stderr and "d002/new/" in res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        "error: not confirmed: nothing changed (4 live entries not in fortress-20240101 deleted, 1 added or updated); "
        "add --yes to carry out this plan"
    )
    assert manifest(src) == before
    ok(cron_inv(inv, *args, "--dry-run"))
    assert manifest(src) == before
    # one folder only: the rest of the live data is left alone
    ok(cron_inv(inv, *args, "--path", "d001", "--yes"))
    assert not (src / "d001" / "stray.txt").exists() and other.exists() and (src / "d002" / "new" / "x").exists()
    done = cron_inv(inv, *args, "--yes")
    ok(done)
    assert differences(snap, src) == []
    again = cron_inv(inv, *args, "--yes")
    ok(again)
    assert "already as in fortress-20240101" in again.stdout
