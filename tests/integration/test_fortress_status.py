"""fortress.status with the real probes on this machine (no CIFS client here, so no client mount).

- On a client whose mount point is a plain folder: not mounted, exit 1, nothing written there.
- On the server: the fortress path is a real ext4 file system on a loop device; status finds it mounted,
  writes and removes a file in every folder, creates the 64 MiB probe once and times a read of it.
- Through `inv fortress.status --json` (the task itself, in a subprocess).
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit
from rich.console import Console

from colab import inventory
from colab.inventory import Inventory
from colab.storage import commands, fortress_status
from tests.conftest import INVENTORIES, require_root, require_tool
from tests.harness.inv import run_inv

pytestmark = [pytest.mark.integration, pytest.mark.tools]


def _inventory(tmp_path: Path, **fortress: object) -> Path:
    doc = tomlkit.parse((INVENTORIES / "loopback.toml").read_text())
    for key, value in fortress.items():
        if key == "linux":
            doc["fortress"]["mounts"]["linux"] = value  # type: ignore[index]
        else:
            doc["fortress"][key] = value  # type: ignore[index]
    path = tmp_path / "inventory.toml"
    path.write_text(tomlkit.dumps(doc))
    return path


def test_a_plain_folder_is_not_a_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("mount")
    target = tmp_path / "fortress"
    for folder in ("docker", "data", "cache"):
        (target / folder).mkdir(parents=True)
    inv = inventory.load(_inventory(tmp_path, linux=str(target)))
    monkeypatch.setenv("COLAB_NODE", "director")  # we are the client: a local runner
    st = commands.fortress_status(inv, "director", console=Console(file=io.StringIO()))
    assert (st.mounted, st.exit_code) == (False, 1)
    assert st.problems == [f"fortress is not mounted at {target} on director"]
    assert sorted(p.name for p in target.rglob("*")) == ["cache", "data", "docker"]  # nothing written


def test_the_task_reports_json_and_exit_1(tmp_path: Path) -> None:
    target = tmp_path / "fortress"
    target.mkdir()
    inv_path = _inventory(tmp_path, linux=str(target))
    res = run_inv("fortress.status", "--node", "director", "--json", node="director", inventory=inv_path)
    assert res.returncode == 1, res.stderr
    data = json.loads(res.stdout)
    assert (data["mounted"], data["mountpoint"], data["exit_code"]) == (False, str(target), 1)
    assert data["expected_source"] == "//127.0.20.1/fortress"


@pytest.fixture
def server_fs(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    require_tool("losetup", "mkfs.ext4", "mount", "umount", "dd")
    require_root("a loop mount")
    image, target = tmp_path / "fortress.img", tmp_path / "fortress"
    target.mkdir()
    with image.open("wb") as fh:
        fh.truncate(160 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    dev = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True)
    device = dev.stdout.strip()
    try:
        subprocess.run(["mount", device, str(target)], check=True)
        try:
            for folder in ("docker", "data", "cache"):
                (target / folder).mkdir()
            yield target, device
        finally:
            subprocess.run(["umount", str(target)], check=False)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def test_the_server_is_mounted_writable_and_reads(
    tmp_path: Path, server_fs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, device = server_fs
    inv: Inventory = inventory.load(_inventory(tmp_path, path=str(target), device=device, filesystem="ext4"))
    monkeypatch.setenv("COLAB_NODE", "cooperator")
    st = commands.fortress_status(inv, console=Console(file=io.StringIO()))
    assert (st.role, st.mounted, st.source, st.fstype) == ("server", True, device, "ext4")
    assert st.writable == {"docker": True, "data": True, "cache": True} and st.problems == []
    probe = target / "cache" / fortress_status.PROBE_NAME
    assert probe.stat().st_size == fortress_status.PROBE_MB * 1024 * 1024
    assert st.read_mbps is not None and st.read_mbps > 0
    assert st.exit_code == (2 if st.read_mbps < inv.fortress.read_mbps * fortress_status.SLOW_FRACTION else 0)
    first = probe.stat().st_mtime_ns
    again = commands.fortress_status(inv, console=Console(file=io.StringIO()))
    assert probe.stat().st_mtime_ns == first and again.read_mbps is not None  # the probe is made once
    assert not [p for p in target.rglob(".colab-status.*")]  # the write tests cleaned up
