"""The fortress boot-mount units as `inv fortress.mount` installs them, checked by systemd's own tools.

`systemd-analyze verify` works here without systemd running as PID 1 (it loads the unit files itself):
it refuses a unit whose name does not match its Where=, and reports unknown keys or bad values (in Docker's
drop-in too, on a stand-in docker.service), which the test treats as failures too. `systemd-escape --path`
must agree with the unit names we derive. (The units running under a real systemd: test_reboot.py.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from colab import inventory, node_facts, quoting
from colab.storage import mounts
from tests.conftest import INVENTORIES, require_tool
from tests.harness import units

pytestmark = [pytest.mark.integration, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("inventory_file", "node"),
    [
        (ROOT / "cluster.toml", "director"),
        (ROOT / "cluster.toml", "writer"),
        (INVENTORIES / "other.toml", None),
    ],
)
def test_units_pass_systemd_analyze_verify(tmp_path: Path, inventory_file: Path, node: str | None) -> None:
    require_tool("systemd-analyze")
    inv = inventory.load(inventory_file)
    client = (
        inv.node(node)
        if node
        else next(n for n in inv.nodes.values() if node_facts.fortress_client(inv, n) == "systemd")
    )
    paths = units.lay_out(inv, client, tmp_path)
    assert len(paths) == (3 if client.os == "debian" else 2)  # the mount, the password unit (, Docker's drop-in)
    res = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=60)
    ours = [line for line in (res.stdout + res.stderr).splitlines() if str(tmp_path) in line or "fortress" in line]
    assert res.returncode == 0, res.stdout + res.stderr
    assert ours == [], ours  # not even a warning about our files


def test_a_bad_dropin_line_is_caught_by_verify(tmp_path: Path) -> None:
    """verify reads docker.service.d/ beside the stand-in unit: a broken RequiresMountsFor= is reported."""
    require_tool("systemd-analyze")
    inv = inventory.load(ROOT / "cluster.toml")
    paths = units.lay_out(inv, inv.node("director"), tmp_path)
    dropin = tmp_path / "docker.service.d" / "colab-fortress.conf"
    dropin.write_text(dropin.read_text().replace('RequiresMountsFor="/mnt/fortress"', "RequiresMountsFor=mnt fortress"))
    res = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=60)
    assert "RequiresMountsFor= path is not absolute" in res.stdout + res.stderr


def test_a_wrong_unit_name_is_caught_by_verify(tmp_path: Path) -> None:
    require_tool("systemd-analyze")
    inv = inventory.load(ROOT / "cluster.toml")
    text = mounts.units(inv, inv.node("director"))["mnt-fortress.mount"]
    wrong = tmp_path / "fortress.mount"
    wrong.write_text(text)
    res = subprocess.run(["systemd-analyze", "verify", str(wrong)], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "Where= setting doesn't match unit name" in res.stderr  # the check is real


@pytest.mark.parametrize("path", ["/mnt/fortress", "/srv/colab data/fortress", "/mnt/fört-ress/", "/mnt/.hidden"])
def test_unit_names_match_systemd_escape(path: str) -> None:
    require_tool("systemd-escape")
    want = subprocess.run(["systemd-escape", "--path", path], capture_output=True, text=True, check=True).stdout.strip()
    assert quoting.systemd_escape_path(path) == want
