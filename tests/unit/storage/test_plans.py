"""Inventory -> exact command plans (dry runs, nothing contacted), one fixture per node kind.

director (Debian: systemd units), writer (WSL: the same units inside WSL, then the Windows drive through
interop), terminator (macOS: Keychain + LaunchAgent), cooperator (the server's share), and the RAID plan.
Privileged commands carry `sudo -n`, as they do when the node is reached over SSH.
"""

from __future__ import annotations

import io
import plistlib
import shlex
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from colab import file_steps, inventory, quoting
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.render import chezmoi_source
from colab.render.tree import render_tree
from colab.runner import Runner
from colab.steps import Status, run_steps
from colab.storage import boot, fortress_share, mdstat, mounts, raid, samba
from colab.storage.samba import SambaHost
from tests.conftest import require_root

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")
OTHER = inventory.load(ROOT / "tests" / "fixtures" / "inventories" / "other.toml")
PROJECT = "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
INFISICAL = ["infisical", "run", "--env", "prod", "--path", "/samba", "--projectId", PROJECT, "--silent", "--"]
WRITE = ["sudo", "-n", "sh", "-c", file_steps.WRITE, "sh"]
UNITS = "/etc/systemd/system"


def plan(steps: list, node: str) -> tuple[list[list[str]], str]:  # type: ignore[type-arg]
    """(argv of every command, the printed plan) of a dry run; asserts every step is `planned`."""
    out = io.StringIO()
    r = Runner(node, dry_run=True, console=Console(file=out, width=400))
    report = run_steps("plan", steps, r)
    assert [o.status for o in report.outcomes] == [Status.PLANNED] * len(steps), report.to_json()
    return [shlex.split(h) for h in r.history], out.getvalue()


RELOAD = ["sudo", "-n", "systemctl", "daemon-reload"]


def linux_mount(
    stem: str = "mnt-fortress", docker: bool = True, sudo: tuple[str, ...] = ("sudo", "-n")
) -> list[list[str]]:
    write = [*sudo, "sh", "-c", file_steps.WRITE, "sh"]
    reload = [*sudo, "systemctl", "daemon-reload"]
    files = [
        ("/usr/local/lib/colab/fortress-password", "755"),
        (f"{UNITS}/colab-fortress-password.service", "644"),
        (f"{UNITS}/{stem}.mount", "644"),
    ] + ([(f"{UNITS}/docker.service.d/colab-fortress.conf", "644")] if docker else [])
    return [
        *[cmd for path, mode in files for cmd in ([*write, path, mode], reload)],
        [*sudo, "sh", "-c", 'systemctl disable --now -- "$1" 2>/dev/null; rm -f -- "$2"', "sh", f"{stem}.automount",
         f"{UNITS}/{stem}.automount"],
        reload,
        [*sudo, "systemctl", "enable", "--", f"{stem}.mount"],
        [*sudo, "sh", "-c", mounts._START_AND_WAIT, "sh", f"{stem}.mount", "colab-fortress-password.service", "90"],
    ]  # fmt: skip


def test_director_mounts_through_the_rendered_boot_units() -> None:
    argv, printed = plan(mounts.mount_steps(INV, INV.node("director"), sudo=True), "director")
    assert argv == linux_mount()
    assert not any(a.startswith("infisical") for cmd in argv for a in cmd)  # no password passes through the task
    assert "check: the machine identity is in /etc/colab/infisical/client-id and client-secret (root, 0600)" in printed
    # the files are printed in the plan, exactly as `inv render` gives them to chezmoi
    rendered = chezmoi_source.node_files(render_tree(INV), "director")
    for name in ("fortress/fortress.mount", "fortress/fortress-password.service", "docker/fortress.conf"):
        for line in rendered[f"dot_config/colab/{name}"].decode().splitlines():
            assert f"#   | {line}".rstrip() in printed
    assert "What=//100.64.0.1/fortress" in printed and "Where=/mnt/fortress" in printed


@pytest.mark.parametrize("node", ["director", "writer", "projector"])
def test_boot_files_are_the_ones_render_writes_for_the_node(node: str) -> None:
    """Debian and WSL nodes alike: what `fortress.mount` installs is what chezmoi's script installs."""
    rendered = chezmoi_source.node_files(render_tree(INV), node)
    files = {dest: (text, mode) for dest, text, mode in mounts.boot_files(INV, INV.node(node))}
    expected = {
        "/usr/local/lib/colab/fortress-password": ("fortress/fortress-password.sh", "755"),
        f"{UNITS}/colab-fortress-password.service": ("fortress/fortress-password.service", "644"),
        f"{UNITS}/mnt-fortress.mount": ("fortress/fortress.mount", "644"),
    }
    if INV.node(node).os == "debian":  # Docker Engine's drop-in; WSL nodes run Docker Desktop on Windows
        expected[f"{UNITS}/docker.service.d/colab-fortress.conf"] = ("docker/fortress.conf", "644")
    assert files == {d: (rendered[f"dot_config/colab/{src}"].decode(), m) for d, (src, m) in expected.items()}
    assert set(mounts.units(INV, INV.node(node))) == {"colab-fortress-password.service", "mnt-fortress.mount"}
    unit = files[f"{UNITS}/mnt-fortress.mount"][0]
    assert "Options=credentials=/run/colab-fortress/credentials," in unit  # a tmpfs file, never a password
    assert "password" not in unit.split("[Mount]")[1].lower().replace("credentials", "")
    assert "Wants=network-online.target colab-fortress-password.service" in unit
    assert "WantedBy=remote-fs.target" in unit


WINDOWS_MAP = (
    "$ErrorActionPreference = 'Stop'; try { $pw = $env:COLAB_NAS_SAMBA_PASSWORD; "
    "if (-not $pw) { throw 'COLAB_NAS_SAMBA_PASSWORD did not reach Windows (WSLENV)' }; "
    "Get-SmbMapping -LocalPath 'Z:' -ErrorAction SilentlyContinue | Remove-SmbMapping -Force -UpdateProfile; "
    "New-SmbMapping -LocalPath 'Z:' -RemotePath '\\\\100.64.0.1\\fortress' -UserName 'crtr' -Password $pw "
    "-Persistent $true -SaveCredentials | Out-Null } catch { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }"
)


def test_writer_mounts_in_wsl_and_maps_the_windows_drive_through_interop() -> None:
    argv, printed = plan(mounts.mount_steps(INV, INV.node("writer"), sudo=True), "writer")
    linux = linux_mount(docker=False)
    assert argv[: len(linux)] == linux
    assert argv[len(linux) :] == [
        [*INFISICAL, "env", "WSLENV=COLAB_NAS_SAMBA_PASSWORD/u", mounts.POWERSHELL, "-NoProfile", "-NonInteractive",
         "-ExecutionPolicy", "Bypass", "-Command", WINDOWS_MAP],
    ]  # fmt: skip
    assert "Windows interop works" in printed


KEYCHAIN_STORE = (
    '[ -n "${COLAB_NAS_SAMBA_PASSWORD:-}" ] || { echo "COLAB_NAS_SAMBA_PASSWORD is empty" >&2; exit 3; }; '
    'hex=$(printf %s "$COLAB_NAS_SAMBA_PASSWORD" | od -An -tx1 | tr -d " \\n"); '
    'printf \'add-internet-password -U -a "%s" -s "%s" -r "smb " -l "%s" -T /usr/bin/security '
    '-T /System/Library/CoreServices/NetAuthAgent.app -X %s\\n\' "$1" "$2" "$3" "$hex" | security -i'
)


def test_terminator_stores_the_password_in_the_keychain_and_loads_the_agent() -> None:
    argv, printed = plan(mounts.mount_steps(INV, INV.node("terminator"), sudo=True), "terminator")
    assert "never in argv" in printed
    agent = mounts.AGENT_PATH
    assert argv == [
        [*INFISICAL, "sh", "-c", KEYCHAIN_STORE, "sh", "crtr", "100.64.0.1", "fortress (colab)"],
        ["sh", "-c", file_steps.WRITE_HOME, "sh", agent, "644"],
        ["sh", "-c", 'launchctl bootout "gui/$(id -u)/$1" 2>/dev/null || true', "sh", "colab.fortress"],
        ["sh", "-c", 'launchctl bootstrap "gui/$(id -u)" "$HOME/$1"', "sh", agent],
        [
            "sh", "-c",
            'launchctl kickstart "gui/$(id -u)/$1" || exit 1; i=0; while [ $i -lt 30 ]; do /sbin/mount | grep -q '
            '" on $2 (smbfs" && exit 0; sleep 1; i=$((i+1)); done; echo "fortress did not appear at $2 within 30 s" '
            ">&2; exit 1",
            "sh", "colab.fortress", "/Volumes/fortress",
        ],
    ]  # fmt: skip
    assert not any("sudo" in a for cmd in argv for a in cmd)  # macOS needs no root for any of it
    label, text = mounts.launch_agent(INV, INV.node("terminator"))
    agent_plist = plistlib.loads(text.encode())
    assert label == "colab.fortress" and agent_plist["RunAtLoad"] is True
    assert "smb://crtr@100.64.0.1/fortress" in " ".join(agent_plist["ProgramArguments"])
    assert chezmoi_source.node_files(render_tree(INV), "terminator")[f"{agent}"].decode() == text


def test_the_server_gets_no_mount_and_unknown_nodes_are_named() -> None:
    with pytest.raises(ColabError, match="cooperator is the fortress server"):
        mounts.mount_steps(INV, INV.node("cooperator"), sudo=True)
    with pytest.raises(ColabError, match="unknown node 'nope'; known nodes: cooperator, director"):
        INV.node("nope")


def test_unmount_plans() -> None:
    argv, _ = plan(mounts.unmount_steps(INV, INV.node("director"), sudo=True), "director")
    assert argv == [["sudo", "-n", "systemctl", "disable", "--now", "--", "mnt-fortress.mount"]]
    argv, _ = plan(mounts.unmount_steps(INV, INV.node("writer"), sudo=True), "writer")
    assert argv[0][:6] == [mounts.POWERSHELL, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command"]
    assert argv[0][6] == (
        "Get-SmbMapping -LocalPath 'Z:' -ErrorAction SilentlyContinue | Remove-SmbMapping -Force -UpdateProfile"
    )
    assert argv[1] == ["sudo", "-n", "systemctl", "disable", "--now", "--", "mnt-fortress.mount"]
    argv, _ = plan(mounts.unmount_steps(INV, INV.node("terminator"), sudo=True), "terminator")
    assert argv == [
        ["sh", "-c", 'launchctl bootout "gui/$(id -u)/$1" 2>/dev/null || true', "sh", "colab.fortress"],
        ["sh", "-c", '/sbin/mount | grep -q " on $1 (smbfs" || exit 0; diskutil unmount "$1"',
         "sh", "/Volumes/fortress"],
    ]  # fmt: skip


def test_cooperator_share_plan() -> None:
    host = SambaHost()
    argv, printed = plan(fortress_share.steps(INV, host, sudo=True), "cooperator")
    reload = ["sudo", "-n", "smbcontrol", "-s", "/etc/samba/smb.conf", "smbd", "reload-config"]
    folders = [
        cmd
        for folder in ("docker", "data", "cache")
        for cmd in (
            ["sudo", "-n", "mkdir", "-p", f"/srv/fortress/{folder}"],
            ["sudo", "-n", "chgrp", "fortress", f"/srv/fortress/{folder}"],
            ["sudo", "-n", "chmod", "2775", f"/srv/fortress/{folder}"],
        )
    ]
    boot_mount = [
        [*WRITE, f"{UNITS}/srv-fortress.mount", "644"],
        RELOAD,
        ["sudo", "-n", "systemctl", "enable", "--now", "--", "srv-fortress.mount"],
    ]
    dropins = [
        [*WRITE, f"{UNITS}/smbd.service.d/colab-fortress.conf", "644"], RELOAD,
        [*WRITE, f"{UNITS}/docker.service.d/colab-fortress.conf", "644"], RELOAD,
    ]  # fmt: skip
    assert argv == [
        *boot_mount,
        ["sudo", "-n", "groupadd", "fortress"],
        ["sudo", "-n", "sh", "-c", fortress_share._JOIN, "sh", "crtr", "fortress", fortress_share.USER_COMMENT],
        *folders,
        *dropins,
        ["sudo", "-n", "sh", "-c", samba._APPLY_INCLUDE, "sh", "/etc/samba/colab-fortress.conf", "/etc/samba/smb.conf",
         "include = /etc/samba/colab-fortress.conf", samba.MARKER],
        reload,
        ["sudo", "-n", "sh", "-c", samba._APPLY_LINE, "sh", "/etc/samba/smb.conf",
         "include = /etc/samba/colab-fortress.conf", samba.MARKER],
        reload,
        ["sudo", "-n", "systemctl", "enable", "--now", "smbd"],
        [*INFISICAL, "sh", "-c",
         '[ -n "${COLAB_NAS_SAMBA_PASSWORD:-}" ] || { echo "COLAB_NAS_SAMBA_PASSWORD is empty" >&2; exit 3; }; '
         'printf "%s\\n%s\\n" "$COLAB_NAS_SAMBA_PASSWORD" "$COLAB_NAS_SAMBA_PASSWORD" '
         '| sudo -n smbpasswd -c "$1" -s -a "$2" && sudo -n smbpasswd -c "$1" -e "$2" </dev/null >/dev/null',
         "sh", "/etc/samba/smb.conf", "crtr"],
    ]  # fmt: skip
    # removing users no longer listed depends on what the server has: the plan says the rule
    assert "Samba users (pdbedit -L) in group fortress that fortress.users does not list are removed" in printed
    assert "/srv/fortress is the xfs file system of /dev/mmcblk0" in printed
    assert "#   | What=/dev/disk/by-uuid/<UUID of the xfs file system on /dev/mmcblk0, found with lsblk>" in printed
    rendered = chezmoi_source.node_files(render_tree(INV), "cooperator")
    for name in ("fortress/smbd-fortress.conf", "docker/fortress.conf"):  # the same bytes chezmoi installs
        for line in rendered[f"dot_config/colab/{name}"].decode().splitlines():
            assert f"#   | {line}".rstrip() in printed
    assert 'RequiresMountsFor="/srv/fortress"' in printed
    assert (
        "#   | [fortress]" in printed and "#   |    hosts allow = 192.168.254.0/24 100.64.0.0/16 127.0.0.1" in printed
    )


def test_the_server_mount_unit_finds_fortress_by_uuid() -> None:
    assert boot.server_unit(INV, "0d6f-42") == (
        "# srv-fortress.mount on cooperator: fortress at /srv/fortress, its file system found by UUID at boot.\n"
        "# Written by `inv fortress.share` from the inventory (fortress.device, .filesystem, .path) and the UUID it\n"
        "# found there; smbd and Docker require it (drop-ins from `inv render`). Do not edit: run it again.\n"
        "[Unit]\n"
        "Description=fortress (xfs on /dev/mmcblk0) at /srv/fortress\n"
        "\n"
        "[Mount]\n"
        "What=/dev/disk/by-uuid/0d6f-42\n"
        "Where=/srv/fortress\n"
        "Type=xfs\n"
        "Options=defaults\n"
        "\n"
        "[Install]\n"
        "WantedBy=local-fs.target\n"
    )
    lsblk = "/dev/mmcblk0   \n/dev/mmcblk0p1 vfat 1A2B-3C4D\n/dev/mmcblk0p2 xfs 8d3e5f1c-aaaa-4bbb-8ccc-0123456789ab\n"
    assert boot.pick_uuid(lsblk, "xfs") == ("/dev/mmcblk0p2", "8d3e5f1c-aaaa-4bbb-8ccc-0123456789ab")
    assert boot.pick_uuid(lsblk, "ext4") is None  # none
    assert boot.pick_uuid(lsblk + "/dev/mmcblk0p3 xfs 0e0e-1f1f\n", "xfs") is None  # two: which one is fortress?
    assert boot.pick_uuid("/dev/mmcblk0 xfs\n", "xfs") is None  # no UUID


def test_share_config_for_the_default_inventory() -> None:
    assert samba.render(INV) == (
        "# The fortress share of the colab cluster, from the inventory.\n"
        "# Generated by `inv fortress.share`; do not edit: change the inventory and run it again.\n"
        "[global]\n"
        "   server min protocol = SMB3\n"
        "\n"
        "[fortress]\n"
        "   comment = colab fortress\n"
        "   path = /srv/fortress\n"
        "   valid users = @fortress\n"
        "   force group = fortress\n"
        "   read only = no\n"
        "   guest ok = no\n"
        "   browseable = yes\n"
        "   create mask = 0664\n"
        "   directory mask = 2775\n"
        "   hosts allow = 192.168.254.0/24 100.64.0.0/16 127.0.0.1\n"
        "   hosts deny = ALL\n"
    )


def test_another_cluster_needs_no_code_change() -> None:
    text = samba.render(OTHER)
    assert f"[{OTHER.fortress.share}]" in text
    assert f"hosts allow = {OTHER.networks.lan} {OTHER.networks.mesh} 127.0.0.1" in text
    client = next(n for n in OTHER.nodes.values() if n.name != OTHER.fortress.server and n.os == "debian")
    argv, _ = plan(mounts.mount_steps(OTHER, client, sudo=False), client.name)
    stem = quoting.systemd_escape_path(OTHER.fortress.mounts.linux)
    assert argv == linux_mount(stem, sudo=())
    assert mounts.units(OTHER, client)[f"{stem}.mount"].count(f"What=//{OTHER.nodes[OTHER.fortress.server].mesh}/")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        (
            "/srv/fortress\n   guest ok = yes",
            "a newline (U+000A) is not allowed in a path: control characters never are",
        ),
        ("/srv/100%U", "'%' is not allowed in the share's path: Samba expands %-variables"),
    ],
)
def test_share_config_refuses_a_path_smb_conf_cannot_carry(path: str, why: str) -> None:
    """The inventory refuses these; a model built without validation is refused here too, in one line."""
    unchecked = INV.model_copy(update={"fortress": INV.fortress.model_copy(update={"path": path})})
    with pytest.raises(ColabError) as info:
        samba.render(unchecked)
    assert str(info.value).startswith(f"fortress.path: {why}") and "\n" not in str(info.value)


def test_mount_with_a_space_starts_the_escaped_unit_as_one_word() -> None:
    spaced = INV.model_copy(
        update={"fortress": INV.fortress.model_copy(
            update={"mounts": INV.fortress.mounts.model_copy(update={"linux": "/mnt/my fortress"})})}
    )  # fmt: skip
    stem = quoting.systemd_escape_path("/mnt/my fortress")
    assert stem == "mnt-my\\x20fortress"
    argv, _ = plan(mounts.mount_steps(spaced, spaced.node("director"), sudo=True), "director")
    assert argv == linux_mount(stem)  # the unit name is one argv word; systemctl gets it after `--`
    assert 'RequiresMountsFor="/mnt/my fortress"' in dict((d, t) for d, t, _ in mounts.boot_files(spaced, spaced.node(
        "director")))[f"{UNITS}/docker.service.d/colab-fortress.conf"]  # fmt: skip


def test_fstab_line_escapes_the_mount_point_and_the_label_fits() -> None:
    spaced = INV.model_copy(update={"raid": INV.raid.model_copy(update={"mount": "/mnt/my backups \\ ü"})})
    p = raid.plan_from(spaced)
    argv, _ = plan(raid.create_steps(spaced, p, sudo=True), "cooperator")
    fstab = next(a for a in argv if a[4:5] == [raid._FSTAB_ADD])
    assert fstab[6:] == ["/dev/md0", "/mnt/my\\040backups\\040\\134\\040ü", "ext4", raid.FSTAB_OPTIONS, "/etc/fstab"]
    line = "UUID=0d6f /mnt/my\\040backups\\040\\134\\040ü ext4 defaults,nofail 0 2\n"
    assert raid.fstab_entry(line, "/mnt/my backups \\ ü") == line.split()
    assert (
        raid.plan_from(INV.model_copy(update={"raid": INV.raid.model_copy(update={"mount": "/mnt/" + "ü" * 8})})).label
        == "üüüüüü"
    )
    assert p.label == "my backups \\"


def test_raid_plan_for_the_default_inventory() -> None:
    p = raid.plan_from(INV)
    argv, printed = plan(raid.create_steps(INV, p, sudo=True), "cooperator")
    d1, d2 = INV.raid.disks
    assert argv == [
        ["sudo", "-n", "mdadm", "--create", "/dev/md0", "--level=1", "--metadata=1.2", "--bitmap=internal",
         "--raid-devices=2", d1, d2],
        ["sudo", "-n", "mkfs.ext4", "-L", "backup", "/dev/md0"],
        ["sudo", "-n", "sh", "-c", raid._CONF_ARRAY, "sh", "/etc/mdadm/mdadm.conf", "/dev/md0"],
        ["sudo", "-n", "update-initramfs", "-u"],
        ["sudo", "-n", "sh", "-c", raid._FSTAB_ADD, "sh", "/dev/md0", "/mnt/backup", "ext4",
         "defaults,nofail,x-systemd.device-timeout=30s", "/etc/fstab"],
        ["sudo", "-n", "mkdir", "-p", "/mnt/backup"],
        ["sudo", "-n", "mount", "/mnt/backup"],
        ["sudo", "-n", "sh", "-c", file_steps.WRITE, "sh", "/usr/local/sbin/colab-mdadm-alert", "755"],
        ["sudo", "-n", "sh", "-c", raid._CONF_MONITOR, "sh", "/etc/mdadm/mdadm.conf", "MAILADDR root",
         "PROGRAM /usr/local/sbin/colab-mdadm-alert"],
    ]  # fmt: skip
    assert "names under /dev/disk/by-id/" in printed and "sizes within 1%" in printed


def test_raid_plan_with_wipe_erases_first_and_kernel_names_need_the_flag() -> None:
    with pytest.raises(ColabError, match=r"sdb: give disks as /dev/disk/by-id/… .*--allow-kernel-names"):
        raid.plan_from(INV, ["/dev/sdb", "/dev/sdd"])
    p = raid.plan_from(INV, ["/dev/sdb", "/dev/sdd"], wipe=True, allow_kernel_names=True)
    argv, _ = plan([raid.array_step(p, sudo=False)], "cooperator")
    wipe = 'mdadm --zero-superblock "$1" 2>/dev/null; wipefs --all "$1"'
    assert argv == [
        ["sh", "-c", wipe, "sh", "/dev/sdb"],
        ["sh", "-c", wipe, "sh", "/dev/sdd"],
        ["mdadm", "--create", "/dev/md0", "--level=1", "--metadata=1.2", "--bitmap=internal", "--raid-devices=2",
         "/dev/sdb", "/dev/sdd"],
    ]  # fmt: skip


def test_monitor_config_and_alert_program() -> None:
    assert mdstat.monitor_lines() == ["MAILADDR root", "PROGRAM /usr/local/sbin/colab-mdadm-alert"]
    program = mdstat.alert_program(INV)
    assert program.startswith("#!/bin/sh\n") and "url=''" in program  # the default inventory has no ping URL
    hooked = INV.model_copy(update={"backup": INV.backup.model_copy(update={"ping_url": "https://hc.example/abc"})})
    assert "url=https://hc.example/abc" in mdstat.alert_program(hooked)
    assert "Fail|FailSpare|DegradedArray|DeviceDisappeared|SparesMissing|TestMessage)" in program


def _inv_with(inv: Inventory, **fortress: object) -> Inventory:
    return inv.model_copy(update={"fortress": inv.fortress.model_copy(update=fortress)})


def test_macos_mount_point_must_be_where_macos_puts_the_share() -> None:
    odd = _inv_with(INV, mounts=INV.fortress.mounts.model_copy(update={"macos": "/Volumes/elsewhere"}))
    with pytest.raises(ColabError, match="macOS mounts the share 'fortress' at /Volumes/fortress"):
        mounts.mount_steps(odd, odd.node("terminator"), sudo=False)


class _Answers:
    """A node that answers the identity check (run through sh as root) with `out` and exit `code`."""

    def __init__(self, code: int, out: str) -> None:
        self.code, self.out, self.calls = code, out, []  # type: ignore[var-annotated]

    def run(self, argv, env, stdin, cwd, timeout):  # type: ignore[no-untyped-def]
        from colab.runner import Result

        self.calls.append(list(argv))
        return Result(self.code, self.out)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("code", "out", "status"),
    [
        (0, "", Status.OK),
        (1, "/etc/colab/infisical/client-secret is not root-only (root, 0600)\n", Status.FAILED),
    ],
)
def test_the_machine_identity_is_checked_as_root_and_a_problem_says_how_to_fix_it(
    code: int, out: str, status: Status
) -> None:
    t = _Answers(code, out)
    r = Runner("director", transport_factory=lambda: t, console=Console(file=io.StringIO()))
    outcome = run_steps("identity", [mounts.identity_step(sudo=True)], r).outcomes[0]
    assert t.calls == [["sudo", "-n", "sh", "-c", mounts._IDENTITY, "sh", "/etc/colab/infisical"]]
    assert outcome.status == status
    if status == Status.FAILED:  # one line: the cause, then the two commands that put it there (stdin, root-only)
        assert outcome.detail == (
            "no machine identity on director (/etc/colab/infisical/client-secret is not root-only (root, 0600)); "
            "create a machine identity for director in Infisical (Universal Auth, read access to the password's "
            "folder), then on director: `sudo install -d -m 0700 /etc/colab/infisical` and, pasting each value, "
            "`sudo sh -c 'umask 077; cat > /etc/colab/infisical/client-id'` and `… > "
            "/etc/colab/infisical/client-secret` (docs/storage.md, Boot mounts)"
        )


def test_the_identity_check_itself_on_real_files(tmp_path: Path) -> None:
    """The check's sh with the real stat: what it accepts and what it names (as this user, not root, so the owner
    part is exercised by the mode checks only when the tests run as root)."""
    d = tmp_path / "infisical"
    d.mkdir(mode=0o700)
    who = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()

    def check() -> str:
        res = subprocess.run(["sh", "-c", mounts._IDENTITY, "sh", str(d)], capture_output=True, text=True)
        return "ok" if res.returncode == 0 else res.stderr.strip()

    if who != "root":
        require_root("the machine identity's files must be root's")  # fails in CI, skips elsewhere
    assert check() == f"{d}/client-id is missing or empty"
    for name in ("client-id", "client-secret"):
        (d / name).write_text("x\n")
        (d / name).chmod(0o600)
    assert check() == "ok"
    (d / "client-secret").chmod(0o644)
    assert check() == f"{d}/client-secret is not root-only (root, 0600)"
    (d / "client-secret").chmod(0o600)
    d.chmod(0o755)
    assert check() == f"{d}: not a root-only folder (root, 0700)"
