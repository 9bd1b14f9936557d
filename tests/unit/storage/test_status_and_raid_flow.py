"""fortress.status and raid.create decisions from faked node answers (a scripted transport).

The transport answers each command from a table of facts, as the node would; the tests check what is
concluded (exit codes, messages) and which commands ran, e.g. that an existing healthy array runs only
read-only probes.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from colab import file_steps, inventory
from colab.runner import Result, Runner
from colab.steps import Status, run_steps
from colab.storage import boot, fortress_status, mount_table, raid

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")
MDSTAT = ROOT / "tests" / "fixtures" / "mdstat"

Answer = Callable[[list[str]], Result]


class Scripted:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[list[str]] = []

    def run(self, argv, env, stdin, cwd, timeout):  # type: ignore[no-untyped-def]
        self.calls.append(list(argv))
        return self.answer(list(argv))

    def close(self) -> None:
        pass


def runner(node: str, answer: Answer) -> tuple[Runner, Scripted]:
    t = Scripted(answer)
    return Runner(node, transport_factory=lambda: t, console=Console(file=io.StringIO())), t


LINUX_MOUNTS = """sysfs on /sys type sysfs (rw,nosuid,nodev,noexec,relatime)
/dev/sda2 on / type ext4 (rw,relatime)
systemd-1 on /mnt/fortress type autofs (rw,relatime,fd=52,pgrp=1,timeout=0,minproto=5,maxproto=5,direct)
//100.64.0.1/fortress on /mnt/fortress type cifs (rw,relatime,vers=3.1.1,cache=strict,username=crtr,uid=1000)
"""
MAC_MOUNTS = """/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
//crtr@100.64.0.1/fortress on /Volumes/fortress (smbfs, nodev, nosuid, mounted by crtr)
"""
GNU_DD = "64+0 records in\n64+0 records out\n67108864 bytes (67 MB, 64 MiB) copied, 0.61 s, 110 MB/s\n"
BSD_DD = "64+0 records in\n64+0 records out\n67108864 bytes transferred in 1.600000 secs (41943040 bytes/sec)\n"


def test_mount_tables_of_linux_and_macos() -> None:
    linux = mount_table.parse_mount_table(LINUX_MOUNTS + "//h/s on /mnt/with\\040space type cifs (rw)\n")
    assert [(e.source, e.target, e.fstype) for e in linux][-3:] == [
        ("systemd-1", "/mnt/fortress", "autofs"),
        ("//100.64.0.1/fortress", "/mnt/fortress", "cifs"),
        ("//h/s", "/mnt/with space", "cifs"),
    ]
    assert mount_table.share_mounted_at(linux, "/mnt/fortress") == linux[3]  # the cifs mount, not the autofs trap
    mac = mount_table.parse_mount_table(MAC_MOUNTS)
    assert (mac[1].source, mac[1].target, mac[1].fstype) == ("//crtr@100.64.0.1/fortress", "/Volumes/fortress", "smbfs")


def test_dd_summaries_of_gnu_and_bsd() -> None:
    assert fortress_status.parse_dd(GNU_DD) == (67108864, 0.61)
    assert fortress_status.parse_dd(BSD_DD) == (67108864, 1.6)
    assert fortress_status.parse_dd("dd: unknown operand iflag\n" + BSD_DD) == (67108864, 1.6)
    assert fortress_status.parse_dd("nothing") is None
    assert round(fortress_status.mbps(67108864, 0.61), 1) == 110.0


def node_answers(mounts: str, dd: str = GNU_DD, writable: bool = True, units: str = "@none\n") -> Answer:
    def answer(argv: list[str]) -> Result:
        if argv == ["mount"]:
            return Result(0, mounts)
        if argv[:3] == ["sh", "-c", boot.STATE_SCRIPT]:
            return Result(0, units)
        if argv[:2] == ["sh", "-c"] and "/.colab-status.$$" in argv[2]:  # the write probe
            return Result(0 if writable else 1)
        if argv[:2] == ["sh", "-c"] and "/dev/urandom" in argv[2]:  # the read sample
            return Result(0, dd)
        raise AssertionError(f"unexpected command {argv}")

    return answer


def test_status_of_a_healthy_linux_client() -> None:
    r, t = runner("director", node_answers(LINUX_MOUNTS))
    st = fortress_status.probe(r, INV, INV.node("director"))
    assert (st.mounted, st.source, st.fstype, st.exit_code) == (True, "//100.64.0.1/fortress", "cifs", 0)
    assert st.writable == {"docker": True, "data": True, "cache": True}
    assert st.read_mbps == 110.0 and st.baseline_mbps == 91
    assert t.calls[-1][-2:] == ["/mnt/fortress/cache/.colab-read-probe", "64"]
    assert [o.status for o in st.report().outcomes] == [Status.OK] * 5


def test_status_slow_reads_warn_and_unwritable_fails() -> None:
    r, _ = runner("terminator", node_answers(MAC_MOUNTS, dd=BSD_DD))
    st = fortress_status.probe(r, INV, INV.node("terminator"))
    assert (st.read_mbps, st.exit_code) == (41.9, 2)
    assert st.warnings == ["reads at 41.9 MB/s, under half the 91 MB/s baseline"]
    r, _ = runner("director", node_answers(LINUX_MOUNTS, writable=False))
    st = fortress_status.probe(r, INV, INV.node("director"))
    assert st.exit_code == 1 and "/mnt/fortress/docker is not writable on director" in st.problems
    assert st.read_mbps is None  # no sample where nothing can be written


def test_status_not_mounted_is_exit_1_and_only_the_automount_trap_does_not_count() -> None:
    trap_only = "\n".join(LINUX_MOUNTS.splitlines()[:3]) + "\n"
    r, t = runner("director", node_answers(trap_only))
    st = fortress_status.probe(r, INV, INV.node("director"))
    assert (st.mounted, st.exit_code) == (False, 1)
    assert st.problems == ["fortress is not mounted at /mnt/fortress on director"]
    assert [c[:3] for c in t.calls] == [["mount"], ["sh", "-c", boot.STATE_SCRIPT]]  # nothing written, nothing read
    assert '"mounted": false' in st.to_json()


def test_status_of_a_wrong_source_and_of_the_server() -> None:
    wrong = LINUX_MOUNTS.replace("//100.64.0.1/fortress", "//192.168.254.99/other")
    r, _ = runner("director", node_answers(wrong))
    st = fortress_status.probe(r, INV, INV.node("director"))
    assert st.problems == ["/mnt/fortress is mounted from //192.168.254.99/other, wants //100.64.0.1/fortress"]
    server = "/dev/mmcblk0p1 on /srv/fortress type xfs (rw,relatime)\n"
    r, _ = runner("cooperator", node_answers(server))
    st = fortress_status.probe(r, INV, INV.node("cooperator"))
    assert (st.role, st.mounted, st.exit_code) == ("server", True, 0)


def systemd_show(finished: int, **units: dict[str, str]) -> str:
    """What STATE_SCRIPT prints: the manager's startup finish, then each unit's properties."""
    out = ["@manager", f"FinishTimestampMonotonic={finished}"]
    for name, props in units.items():
        out += ["@unit", f"Id={name}", *(f"{k}={v}" for k, v in props.items())]
    return "\n".join(out) + "\n"


MOUNT_UNIT = {"LoadState": "loaded", "FragmentPath": "/etc/systemd/system/mnt-fortress.mount"}
PASSWORD = {"LoadState": "loaded", "FragmentPath": "/etc/systemd/system/colab-fortress-password.service"}


def client_units(mount: dict[str, str], password: dict[str, str], finished: int = 9_000_000) -> str:
    return systemd_show(
        finished,
        **{"colab-fortress-password.service": {**PASSWORD, **password}, "mnt-fortress.mount": {**MOUNT_UNIT, **mount}},
    )


MOUNTED = {"ActiveState": "active", "UnitFileState": "enabled"}
DONE = {"ActiveState": "inactive", "Result": "success", "StatusText": "mounted mnt-fortress.mount (attempt 3)"}


@pytest.mark.parametrize(
    ("mount", "password", "finished", "boot_kind", "detail", "exit_code"),
    [
        ({**MOUNTED, "ActiveEnterTimestampMonotonic": "8000000"}, DONE, 9_000_000, "since boot", "", 0),
        ({**MOUNTED, "ActiveEnterTimestampMonotonic": "8000000"}, DONE, 0, "since boot", "", 0),  # still starting
        ({**MOUNTED, "ActiveEnterTimestampMonotonic": "9500000"}, DONE, 9_000_000, "by hand",
         "after boot; the boot mount is enabled", 0),
        ({"ActiveState": "active", "UnitFileState": "disabled", "ActiveEnterTimestampMonotonic": "8000000"}, DONE,
         9_000_000, "by hand", "mnt-fortress.mount is not enabled: it will not mount by itself after a reboot", 2),
        ({"LoadState": "not-found", "FragmentPath": "", "ActiveState": "active"}, {"LoadState": "not-found"}, 9_000_000,
         "by hand", "no boot units (mnt-fortress.mount, colab-fortress-password.service): it will not mount by itself "
         "after a reboot", 2),
    ],
)  # fmt: skip
def test_mounted_since_boot_or_by_hand(
    mount: dict[str, str], password: dict[str, str], finished: int, boot_kind: str, detail: str, exit_code: int
) -> None:
    r, _ = runner("director", node_answers(LINUX_MOUNTS, units=client_units(mount, password, finished)))
    st = fortress_status.probe(r, INV, INV.node("director"), measure=False)
    assert (st.mounted, st.boot, st.boot_detail, st.exit_code) == (True, boot_kind, detail, exit_code)
    assert st.comes_back is (exit_code == 0)
    if exit_code:
        assert st.warnings == [f"fortress is mounted by hand at /mnt/fortress: {detail}"]


@pytest.mark.parametrize(
    ("mount", "password", "boot_kind", "detail"),
    [
        ({"ActiveState": "inactive", "UnitFileState": "enabled"},
         {"ActiveState": "activating", "StatusText": "waiting for the password: login: Infisical is not reachable; "
          "trying again in 8s (attempt 4)"},
         "waiting", "waiting for the password: login: Infisical is not reachable; trying again in 8s (attempt 4)"),
        ({"ActiveState": "inactive", "UnitFileState": "enabled"}, {"ActiveState": "activating"}, "waiting",
         "waiting for the password"),
        ({"ActiveState": "inactive", "UnitFileState": "enabled"},
         {"ActiveState": "failed", "Result": "exit-code", "StatusText": ""}, "failed",
         "the boot mount failed: colab-fortress-password.service exit-code"),
        ({"ActiveState": "failed", "Result": "exit-code", "UnitFileState": "enabled"}, DONE, "failed",
         "mnt-fortress.mount failed (exit-code; journalctl -u mnt-fortress.mount)"),
        ({"ActiveState": "inactive", "UnitFileState": "disabled"}, DONE, "off",
         "mnt-fortress.mount is not enabled (inv fortress.mount)"),
        ({"LoadState": "not-found", "FragmentPath": ""}, {"LoadState": "not-found"}, "off",
         "no boot mount (mnt-fortress.mount is not installed: inv fortress.mount)"),
        ({"ActiveState": "inactive", "UnitFileState": "enabled"}, DONE, "off", ""),
    ],
)  # fmt: skip
def test_not_mounted_says_why(mount: dict[str, str], password: dict[str, str], boot_kind: str, detail: str) -> None:
    trap_only = "\n".join(LINUX_MOUNTS.splitlines()[:3]) + "\n"
    r, _ = runner("director", node_answers(trap_only, units=client_units(mount, password)))
    st = fortress_status.probe(r, INV, INV.node("director"), measure=False)
    assert (st.mounted, st.boot, st.boot_detail, st.exit_code) == (False, boot_kind, detail, 1)
    assert st.problems == ["fortress is not mounted at /mnt/fortress on director" + (f": {detail}" if detail else "")]


def test_the_server_mounted_by_its_uuid_unit_or_by_hand() -> None:
    server = "/dev/mmcblk0p1 on /srv/fortress type xfs (rw,relatime)\n"
    unit = {"LoadState": "loaded", "FragmentPath": "/etc/systemd/system/srv-fortress.mount", "ActiveState": "active",
            "UnitFileState": "enabled", "ActiveEnterTimestampMonotonic": "2000000"}  # fmt: skip
    r, t = runner("cooperator", node_answers(server, units=systemd_show(9_000_000, **{"srv-fortress.mount": unit})))
    st = fortress_status.probe(r, INV, INV.node("cooperator"), measure=False)
    assert (st.boot, st.exit_code) == ("since boot", 0)
    assert t.calls[1][4:] == ["srv-fortress.mount"]  # the server has no password unit
    desktop = {"LoadState": "loaded", "FragmentPath": "", "ActiveState": "active"}  # mounted from elsewhere
    r, _ = runner("cooperator", node_answers(server, units=systemd_show(9_000_000, **{"srv-fortress.mount": desktop})))
    st = fortress_status.probe(r, INV, INV.node("cooperator"), measure=False)
    assert (st.boot, st.exit_code) == ("by hand", 2)
    assert st.boot_detail == (
        "srv-fortress.mount is not written yet (inv fortress.share): it will not mount by itself after a reboot"
    )


def test_macos_is_not_asked_about_systemd() -> None:
    r, t = runner("terminator", node_answers(MAC_MOUNTS, dd=BSD_DD))
    st = fortress_status.probe(r, INV, INV.node("terminator"), measure=False)
    assert st.boot == "" and st.comes_back is None
    assert not any(c[:3] == ["sh", "-c", boot.STATE_SCRIPT] for c in t.calls)


# ---------------------------------------------------------------------------------------------- raid

DISKS = INV.raid.disks
REAL = {DISKS[0]: "/dev/sdb", DISKS[1]: "/dev/sdd"}


def probe_text(real: str, size: int = 2000398934016, sig: str = "", mounts: str = "", holders: str = "") -> str:
    return (
        f"exists=yes\nreal={real}\nblock=yes\nsize={size}\nmounts={mounts}\nholders={holders}\n"
        f"signatures={sig}\nblkid= \nmd=no\n"
    )


def raid_node(array: str | None, fs: str = "ext4", fstab: str = "", conf: str = "") -> tuple[Answer, list[str]]:
    """A node whose md0 is `array` (mdadm --detail text) or absent; records every mutating command."""
    uuid = "0d6f2c4e-1f5a-4b8e-9a77-3c2b1d0e9f10"

    def answer(argv: list[str]) -> Result:
        if argv[:2] == ["mdadm", "--detail"] and argv[2:] == ["/dev/md0"]:
            return Result(0, array) if array else Result(1, "", "mdadm: cannot open /dev/md0")
        if argv == ["mdadm", "--detail", "--scan"]:
            line = "ARRAY /dev/md0 metadata=1.2 name=cooperator:0 UUID=4b1c2f0e:8d3a5e71:9f20c6ab:53e7d184"
            return Result(0, line + "\n" if array else "")
        if argv[:2] == ["sh", "-c"] and "echo exists=yes" in argv[2]:  # a disk's guard probe
            return Result(0, probe_text(REAL[argv[-1]]))
        if argv[:3] == ["blkid", "-p", "-o"]:
            return Result(0, fs + "\n" if array else "")
        if argv[:2] == ["blkid", "-s"]:
            return Result(0, uuid + "\n" if array else "")
        if argv == ["cat", "/etc/mdadm/mdadm.conf"]:
            return Result(0, conf)
        if argv == ["cat", "/etc/fstab"]:
            return Result(0, fstab)
        if argv[:1] == ["findmnt"]:
            return Result(0, "/dev/md0\n") if array else Result(1)
        if argv[:2] == ["readlink", "-f"]:
            return Result(0, "/dev/md0\n")
        if argv[:1] == ["cat"]:
            return Result(0, (Path(argv[1]).name == "colab-mdadm-alert" and ALERT) or "")
        if argv[:3] == ["sh", "-c", file_steps.STAT]:
            return Result(0, "regular file 755\n")
        changed.append(" ".join(argv[:4]))
        return Result(0)

    changed: list[str] = []
    return answer, changed


ALERT = raid.mdstat.alert_program(INV)
HEALTHY_CONF = (
    "ARRAY /dev/md0 metadata=1.2 name=cooperator:0 UUID=4b1c2f0e:8d3a5e71:9f20c6ab:53e7d184\n"
    "MAILADDR root\nPROGRAM /usr/local/sbin/colab-mdadm-alert\n"
)
HEALTHY_FSTAB = "UUID=0d6f2c4e-1f5a-4b8e-9a77-3c2b1d0e9f10 /mnt/backup ext4 defaults,nofail 0 2\n"


def test_an_existing_healthy_array_is_ok_and_nothing_runs() -> None:
    answer, changed = raid_node((MDSTAT / "healthy.detail").read_text(), fstab=HEALTHY_FSTAB, conf=HEALTHY_CONF)
    r, _ = runner("cooperator", answer)
    report = run_steps("raid", raid.create_steps(INV, raid.plan_from(INV), sudo=False), r)
    assert [o.status for o in report.outcomes] == [Status.OK] * 7, report.to_json()
    assert changed == []


def test_a_degraded_existing_array_is_left_alone() -> None:
    answer, changed = raid_node((MDSTAT / "degraded.detail").read_text())
    r, _ = runner("cooperator", answer)
    report = run_steps("raid", raid.create_steps(INV, raid.plan_from(INV), sudo=False), r)
    assert report.exit_code == 1
    assert report.outcomes[0].detail.startswith("/dev/md0 exists but is clean, degraded; see `inv raid.status`")
    assert {o.status for o in report.outcomes[1:]} == {Status.SKIPPED} and changed == []


def test_fresh_disks_that_pass_the_guards_get_the_array() -> None:
    answer, changed = raid_node(None)
    r, _ = runner("cooperator", answer)
    report = run_steps("raid", [raid.array_step(raid.plan_from(INV), sudo=False)], r)
    # the array never appears in this fake, so verify fails, but only after mdadm --create ran
    assert changed == ["mdadm --create /dev/md0 --level=1"]
    assert report.outcomes[0].detail == "still not right after acting: /dev/md0 did not appear"


@pytest.mark.parametrize(
    ("disk", "problem"),
    [
        (raid.Disk("/dev/disk/by-id/a", exists=False), "/dev/disk/by-id/a does not exist"),
        (raid.Disk("/dev/disk/by-id/a", True, "/dev/sdb", block=False), "/dev/disk/by-id/a (/dev/sdb) is not a block"),
        (raid.Disk("/dev/disk/by-id/a", True, "/dev/sdb", True, 10**12, mounts=["/srv"]), "mounted at /srv"),
        (raid.Disk("/dev/disk/by-id/a", True, "/dev/sdb", True, 10**12, holders=["md127"]), "held by md127"),
        (raid.Disk("/dev/disk/by-id/a", True, "/dev/sdb", True, 10**12, signatures=["gpt 0x200"]),
         "carries gpt 0x200; pass --wipe"),
        (raid.Disk("/dev/disk/by-id/a", True, "/dev/sdb", True, 10**12, md_superblock=True),
         "carries an md superblock; pass --wipe"),
    ],
)  # fmt: skip
def test_each_guard(disk: raid.Disk, problem: str) -> None:
    other = raid.Disk("/dev/disk/by-id/b", True, "/dev/sdd", True, 10**12)
    problems = raid.guard_problems([disk, other])
    assert len(problems) == 1 and problem in problems[0], problems


def test_wipe_clears_signatures_but_never_a_mount_and_sizes_must_match() -> None:
    dirty = raid.Disk("/dev/disk/by-id/a", True, "/dev/sdb", True, 10**12, signatures=["ext4 0x438"])
    clean = raid.Disk("/dev/disk/by-id/b", True, "/dev/sdd", True, 10**12)
    assert raid.guard_problems([dirty, clean], wipe=True) == []
    busy = raid.Disk("/dev/disk/by-id/a", True, "/dev/sdb", True, 10**12, ["/srv"], signatures=["ext4 0x438"])
    assert len(raid.guard_problems([busy, clean], wipe=True)) == 1
    small = raid.Disk("/dev/disk/by-id/c", True, "/dev/sde", True, 98 * 10**10)
    assert raid.guard_problems([clean, small]) == [
        "disk sizes differ by 2.0% (/dev/disk/by-id/b: 1000000000000 bytes, /dev/disk/by-id/c: 980000000000 bytes); "
        "a mirror needs disks within 1%"
    ]
    within = raid.Disk("/dev/disk/by-id/c", True, "/dev/sde", True, 995 * 10**9)
    assert raid.guard_problems([clean, within]) == []
    same = raid.Disk("/dev/disk/by-id/c", True, "/dev/sdb", True, 10**12)
    assert raid.guard_problems([clean, raid.Disk("/dev/disk/by-id/a", True, "/dev/sdb", True, 10**12), same])[
        -1
    ].startswith("two of the names are the same disk")


def test_probe_output_parsing() -> None:
    disk = raid.parse_probe(
        "/dev/loop3",
        "exists=yes\nreal=/dev/loop3\nblock=yes\nsize=67108864\nmounts=/mnt/x [SWAP] \nholders= md0\n"
        "signatures=ext4 0x438;\nblkid=ext4 \nmd=no\n",
    )
    assert (disk.size, disk.mounts, disk.holders, disk.signatures) == (
        67108864,
        ["/mnt/x", "[SWAP]"],
        ["md0"],
        ["ext4 0x438"],
    )
    bare = raid.parse_probe(
        "/dev/loop4", "exists=yes\nreal=/dev/loop4\nblock=yes\nsize=1\nsignatures=\nblkid= gpt\nmd=yes\n"
    )
    assert bare.signatures == ["gpt (blkid)"] and bare.md_superblock and bare.dirty


def test_fstab_and_monitor_line_checks() -> None:
    assert raid.fstab_entry("# /mnt/backup\n" + HEALTHY_FSTAB, "/mnt/backup/") == HEALTHY_FSTAB.split()
    assert raid.fstab_entry("UUID=x / ext4 defaults 0 1\n", "/mnt/backup") is None
    assert raid.monitor_lines_ok(HEALTHY_CONF)
    assert not raid.monitor_lines_ok("MAILADDR admin@example.org\n" + HEALTHY_CONF)
    assert not raid.monitor_lines_ok("MAILADDR root\n")


def test_raid_status_reads_mdstat_detail_and_the_alert_config() -> None:
    def answer(argv: list[str]) -> Result:
        if argv == ["cat", "/proc/mdstat"]:
            return Result(0, (MDSTAT / "recovery.mdstat").read_text())
        if argv == ["mdadm", "--detail", "/dev/md0"]:
            return Result(0, (MDSTAT / "recovery.detail").read_text())
        if argv == ["readlink", "-f", "/dev/md0"]:
            return Result(0, "/dev/md0\n")
        if argv == ["cat", "/etc/mdadm/mdadm.conf"]:
            return Result(0, "MAILADDR root\n")
        raise AssertionError(argv)

    r, _ = runner("cooperator", answer)
    st = raid.status(r, INV, sudo=False)
    assert (st.health, st.exit_code, st.percent) == ("recovery", 2, 23.0)
    assert st.alerts == "not configured (run `inv raid.monitor`)"
