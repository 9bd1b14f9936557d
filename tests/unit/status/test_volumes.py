"""Fortress, free space and RAID checks: real sh, real df, the storage developer's mdstat samples."""

from __future__ import annotations

import contextlib
import copy
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from plumbum import local

from colab import inventory
from colab.runner import Runner
from colab.status import volumes
from colab.status.model import Level

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"
MDSTAT = ROOT / "tests" / "fixtures" / "mdstat"


@pytest.mark.parametrize(
    ("sample", "level", "text"),
    [
        ("healthy", Level.OK, "clean, [2/2] [UU]"),
        ("check-nobitmap", Level.OK, "check, 47.2%, finish 85.4min, [2/2] [UU]"),
        ("resync", Level.WARN, "resync, 12.6%, finish 148.3min, [2/2] [UU]"),
        ("recovery", Level.WARN, "recovery, 23.0%, finish 128.4min, [2/1] [U_]"),
        ("degraded", Level.CRIT, "degraded, [2/1] [U_]"),
        ("inactive", Level.CRIT, "inactive"),
        ("none", Level.CRIT, "/dev/md0 is not assembled (arrays in /proc/mdstat: none)"),
    ],
)
def test_raid_from_mdstat_samples(sample: str, level: Level, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(volumes.ENV_MDSTAT, str(MDSTAT / f"{sample}.mdstat"))
    inv = inventory.load(LOOPBACK)
    check = volumes.raid(Runner(node="cooperator"), inv, timeout=30)
    assert (check.level, check.text) == (level, text)
    assert check.data["device"] == "/dev/md0"


def test_raid_without_the_md_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(volumes.ENV_MDSTAT, str(tmp_path / "mdstat"))
    check = volumes.raid(Runner(node="cooperator"), inventory.load(LOOPBACK), timeout=30)
    assert (check.level, check.text) == (Level.CRIT, f"/dev/md0: no {tmp_path / 'mdstat'} (md driver not loaded?)")


def test_default_mdstat_is_the_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(volumes.ENV_MDSTAT, raising=False)
    assert volumes.mdstat_path() == "/proc/mdstat"


def test_df_of_a_real_folder(tmp_path: Path) -> None:
    space = volumes.df(Runner(node="x"), str(tmp_path), timeout=30)
    assert space is not None and space.total > 0 and 0 <= space.free <= space.total
    assert volumes.df(Runner(node="x"), str(tmp_path / "nope"), timeout=30) is None


@pytest.mark.parametrize(
    ("total", "free", "level", "text"),
    [
        (2_000_000_000, 1_200_000_000, Level.OK, "backup 1.2 GB free (60%)"),
        (2_000_000_000, 190_000_000, Level.WARN, "backup 190.0 MB free (10%)"),  # 9.5 %: under a tenth
    ],
)
def test_space_levels(total: int, free: int, level: Level, text: str) -> None:
    check = volumes.space_check("backup", volumes.Space("/mnt/backup", total, free))
    assert (check.level, check.text) == (level, text)
    assert volumes.space_check("fortress", None).level == Level.UNKNOWN


def client_inventory(mount: Path) -> inventory.Inventory:
    data = copy.deepcopy(tomllib.loads(LOOPBACK.read_text()))
    data["fortress"]["mounts"]["linux"] = str(mount)
    return inventory.from_dict(data)


@contextlib.contextmanager
def on_path(bin_dir: Path) -> Iterator[None]:
    """`bin_dir` first on PATH, for the runner whichever PATH it looks programs up in (os.environ or plumbum's)."""
    path = f"{bin_dir}:/usr/bin:/bin"
    with pytest.MonkeyPatch.context() as mp, local.env(PATH=path):
        mp.setenv("PATH", path)
        yield


def fake_mount(tmp_path: Path, line: str) -> Path:
    """`mount` printing the real table plus one CIFS line: the kernel's CIFS client is not available here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mount"
    tool.write_text(f'#!/bin/sh\n/bin/mount "$@"\necho "{line}"\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_fortress_on_a_client(tmp_path: Path) -> None:
    mount = tmp_path / "fortress"
    inv = client_inventory(mount)
    director = inv.node("director")
    assert volumes.should_have_fortress(inv, director) and volumes.should_have_fortress(inv, inv.node("cooperator"))
    check = volumes.fortress(Runner(node="director"), inv, director)
    assert (check.level, check.text) == (Level.CRIT, f"not mounted at {mount}")

    for folder in inv.fortress.folders:
        (mount / folder).mkdir(parents=True)
    with on_path(fake_mount(tmp_path, f"//127.0.20.1/fortress on {mount} type cifs (rw)")):
        check = volumes.fortress(Runner(node="director"), inv, director)
        assert (check.level, check.text) == (Level.OK, "mounted //127.0.20.1/fortress")
        (mount / "data").rmdir()  # a folder gone: nothing can be written there
        check = volumes.fortress(Runner(node="director"), inv, director)
    assert (check.level, check.text) == (Level.CRIT, f"{mount}/data is not writable on director")


def test_fortress_from_the_wrong_server(tmp_path: Path) -> None:
    mount = tmp_path / "fortress"
    inv = client_inventory(mount)
    for folder in inv.fortress.folders:
        (mount / folder).mkdir(parents=True)
    with on_path(fake_mount(tmp_path, f"//10.9.9.9/fortress on {mount} type cifs (rw)")):
        check = volumes.fortress(Runner(node="director"), inv, inv.node("director"))
    wants = f"{mount} is mounted from //10.9.9.9/fortress, wants //127.0.20.1/fortress"
    assert (check.level, check.text) == (Level.CRIT, wants)
