"""`inv status --read-sample`: the fortress check also times a real 64 MiB read (the storage developer's probe),
exported as `colab_fortress_read_mbps`; a read that fails is noted in the data and changes no verdict."""

from __future__ import annotations

from pathlib import Path

from colab.inventory import Inventory
from colab.runner import Runner
from colab.status import volumes
from colab.status.model import Level
from tests.unit.status.test_volumes import client_inventory, fake_mount, on_path


def mounted_client(tmp_path: Path) -> tuple[Inventory, Path]:
    mount = tmp_path / "fortress"
    inv = client_inventory(mount)
    for folder in inv.fortress.folders:
        (mount / folder).mkdir(parents=True)
    return inv, fake_mount(tmp_path, f"//127.0.20.1/fortress on {mount} type cifs (rw)")


def test_a_read_sample_is_timed_and_kept_in_the_data(tmp_path: Path) -> None:
    inv, bin_dir = mounted_client(tmp_path)
    with on_path(bin_dir):
        plain = volumes.fortress(Runner(node="director"), inv, inv.node("director"))
        timed = volumes.fortress(Runner(node="director"), inv, inv.node("director"), measure=True)
    assert "read_mbps" not in plain.data
    assert (timed.level, timed.text) == (Level.OK, "mounted //127.0.20.1/fortress")
    assert isinstance(timed.data["read_mbps"], float) and timed.data["read_mbps"] > 0
    assert (tmp_path / "fortress" / "cache" / ".colab-read-probe").stat().st_size == 64 * 1024 * 1024


def test_a_read_that_fails_is_noted_not_judged(tmp_path: Path) -> None:
    inv, bin_dir = mounted_client(tmp_path)
    (bin_dir / "dd").write_text("#!/bin/sh\necho 'dd: error reading: Input/output error' >&2\nexit 1\n")
    (bin_dir / "dd").chmod(0o755)
    with on_path(bin_dir):
        check = volumes.fortress(Runner(node="director"), inv, inv.node("director"), measure=True)
    assert check.level == Level.OK
    assert check.data["read_error"].startswith(f"cannot time a read of {tmp_path}/fortress/cache/.colab-read-probe")
    assert "read_mbps" not in check.data
