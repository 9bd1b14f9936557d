"""/proc/mdstat and `mdadm --detail` samples (tests/fixtures/mdstat/, in the md driver's format) -> state."""

from __future__ import annotations

from pathlib import Path

import pytest

from colab.storage import mdstat
from colab.storage.mdstat import Member

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mdstat"


def sample(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_healthy_array() -> None:
    arrays = mdstat.parse_mdstat(sample("healthy.mdstat"))
    assert list(arrays) == ["md0"]
    md0 = arrays["md0"]
    assert (md0.state, md0.level, md0.superblock) == ("active", "raid1", "1.2")
    assert md0.members == [Member("sdd", 1), Member("sdb", 0)]
    assert (md0.blocks, md0.raid_disks, md0.working, md0.map) == (1953382464, 2, 2, "UU")
    assert md0.bitmap == "0/15 pages [0KB], 65536KB chunk"
    assert (md0.action, md0.percent, md0.health) == ("", None, mdstat.CLEAN)


def test_degraded_array_with_a_failed_member() -> None:
    md0 = mdstat.parse_mdstat(sample("degraded.mdstat"))["md0"]
    assert md0.members == [Member("sdd", 1, "F"), Member("sdb", 0)]
    assert (md0.working, md0.map, md0.health) == (1, "U_", mdstat.DEGRADED)


def test_resync_with_percent_finish_and_speed() -> None:
    md0 = mdstat.parse_mdstat(sample("resync.mdstat"))["md0"]
    assert (md0.action, md0.percent, md0.finish, md0.speed) == ("resync", 12.6, "148.3min", "191776K/sec")
    assert md0.health == mdstat.RESYNC


def test_recovery_onto_a_new_disk() -> None:
    md0 = mdstat.parse_mdstat(sample("recovery.mdstat"))["md0"]
    assert md0.members == [Member("sde", 2), Member("sdb", 0)]
    assert (md0.action, md0.percent, md0.map, md0.health) == ("recovery", 23.0, "U_", mdstat.RECOVERY)


def test_pending_resync_of_an_auto_read_only_array() -> None:
    md127 = mdstat.parse_mdstat(sample("pending.mdstat"))["md127"]
    assert (md127.readonly, md127.action, md127.waiting, md127.percent) == ("auto-read-only", "resync", "PENDING", None)
    assert md127.health == mdstat.RESYNC


def test_two_arrays_one_scrubbing_one_without_bitmap() -> None:
    arrays = mdstat.parse_mdstat(sample("check-nobitmap.mdstat"))
    assert list(arrays) == ["md1", "md0"]
    assert arrays["md1"].members == [Member("sdc1", 1), Member("sda1", 0)]
    assert (arrays["md1"].bitmap, arrays["md1"].health) == ("", mdstat.CLEAN)
    assert (arrays["md0"].action, arrays["md0"].percent, arrays["md0"].health) == ("check", 47.2, mdstat.CHECK)


def test_inactive_and_empty() -> None:
    md0 = mdstat.parse_mdstat(sample("inactive.mdstat"))["md0"]
    assert (md0.state, md0.level, md0.members, md0.health) == ("inactive", "", [Member("sdb", 0, "S")], mdstat.INACTIVE)
    assert mdstat.parse_mdstat(sample("none.mdstat")) == {}


@pytest.mark.parametrize(
    ("name", "state", "progress", "devices"),
    [
        ("healthy", ["clean"], "", [("active sync", "/dev/sdb"), ("active sync", "/dev/sdd")]),
        ("degraded", ["clean", "degraded"], "",
         [("active sync", "/dev/sdb"), ("removed", "-"), ("faulty", "/dev/sdd")]),
        ("resync", ["clean", "resyncing"], "resync 12%", [("active sync", "/dev/sdb"), ("active sync", "/dev/sdd")]),
        ("recovery", ["clean", "degraded", "recovering"], "rebuild 23%",
         [("active sync", "/dev/sdb"), ("spare rebuilding", "/dev/sde")]),
    ],
)  # fmt: skip
def test_mdadm_detail(name: str, state: list[str], progress: str, devices: list[tuple[str, str]]) -> None:
    d = mdstat.parse_detail(sample(f"{name}.detail"))
    assert (d.state, d.progress, d.devices) == (state, progress, devices)
    assert (d.level, d.raid_devices, d.uuid, d.name) == (
        "raid1",
        2,
        "4b1c2f0e:8d3a5e71:9f20c6ab:53e7d184",
        "cooperator:0",
    )


@pytest.mark.parametrize(
    ("name", "health", "code", "detail"),
    [
        ("healthy", "clean", 0, "clean, [2/2] [UU]"),
        ("degraded", "degraded", 1, "degraded, [2/1] [U_]"),
        ("resync", "resync", 2, "resync, 12.6%, finish 148.3min, [2/2] [UU]"),
        ("recovery", "recovery", 2, "recovery, 23.0%, finish 128.4min, [2/1] [U_]"),
    ],
)
def test_status_and_exit_code_for_monitoring(name: str, health: str, code: int, detail: str) -> None:
    st = mdstat.raid_status("/dev/md0", sample(f"{name}.mdstat"), sample(f"{name}.detail"))
    assert (st.health, st.exit_code, st.detail) == (health, code, detail)
    assert '"exit_code": ' + str(code) in st.to_json()


def test_missing_array_and_renamed_device() -> None:
    st = mdstat.raid_status("/dev/md0", sample("none.mdstat"), None)
    assert (st.health, st.exit_code) == ("missing", 1)
    assert st.detail == "/dev/md0 is not assembled (arrays in /proc/mdstat: none)"
    renamed = mdstat.raid_status("/dev/md/backup", sample("pending.mdstat"), None, resolved="/dev/md127")
    assert (renamed.health, renamed.exit_code, renamed.detail) == ("resync", 2, "resync, resync pending, [2/2] [UU]")


def test_mdadm_detail_alone_when_mdstat_does_not_list_the_array() -> None:
    st = mdstat.raid_status("/dev/md0", sample("none.mdstat"), sample("recovery.detail"))
    assert (st.health, st.state, st.members) == ("recovery", "clean, degraded, recovering",
                                                 ["/dev/sdb (active sync)", "/dev/sde (spare rebuilding)"])  # fmt: skip
