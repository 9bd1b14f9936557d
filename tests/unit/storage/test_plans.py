"""The storage plans besides their cases (tests/unit/storage/cases/: each fortress.mount, fortress.unmount,
fortress.share and raid.plan, exactly): what they install is what `inv render` gives chezmoi, the pure pieces
(the server's mount unit, smb.conf, fstab and label), the refusals, and the machine identity check.
"""

from __future__ import annotations

import io
import plistlib
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory, quoting
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.render import chezmoi_source
from colab.render.tree import render_tree
from colab.runner import Result, Runner
from colab.steps import Status, run_steps
from colab.storage import boot, mdstat, mounts, raid, samba
from tests.conftest import require_root
from tests.harness import plan_cases

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")
OTHER = inventory.load(ROOT / "tests" / "fixtures" / "inventories" / "other.toml")
UNITS = "/etc/systemd/system"


def printed_files(tmp: Path, line: str) -> str:
    """The `#   | ` lines a dry run prints for the files it would write."""
    return "\n".join(x for x in plan_cases.output(line, tmp).stdout.splitlines() if "#   |" in x)


@pytest.mark.parametrize(
    ("line", "node", "files"),
    [
        ("fortress.mount --node director --dry-run", "director",
         ["fortress/fortress.mount", "fortress/fortress-password.service", "fortress/fortress-password.sh",
          "docker/fortress.conf"]),
        ("fortress.share --dry-run", "cooperator", ["fortress/smbd-fortress.conf", "docker/fortress.conf"]),
    ],
)  # fmt: skip
def test_the_plan_writes_the_files_render_gives_chezmoi(line: str, node: str, files: list[str], tmp_path: Path) -> None:
    """A task and chezmoi install the same bytes: every line of the rendered file is in the printed plan."""
    shown = printed_files(tmp_path, line)
    rendered = chezmoi_source.node_files(render_tree(INV), node)
    for name in files:
        for text in rendered[f"dot_config/colab/{name}"].decode().splitlines():
            assert f"[{node}] #   | {text}".rstrip() in shown, (name, text)


def test_no_password_passes_through_the_linux_mount(tmp_path: Path) -> None:
    """On Debian the boot unit fetches the password on the node (its machine identity): no command of the task asks
    Infisical for it, and the plan says so."""
    shown = plan_cases.output("fortress.mount --node director --dry-run", tmp_path).stdout.splitlines()
    commands = [line for line in shown if line.startswith("[director] $ ")]
    assert commands and not [line for line in commands if "infisical" in line]
    assert (
        "[director] # colab-fortress-password.service fetches the password on director (its machine identity); none"
        " passes here" in shown
    )


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


def test_the_launch_agent_is_the_one_render_writes() -> None:
    label, text = mounts.launch_agent(INV, INV.node("terminator"))
    agent_plist = plistlib.loads(text.encode())
    assert label == "colab.fortress" and agent_plist["RunAtLoad"] is True
    assert "smb://crtr@100.64.0.1/fortress" in " ".join(agent_plist["ProgramArguments"])
    assert chezmoi_source.node_files(render_tree(INV), "terminator")[mounts.AGENT_PATH].decode() == text


def test_the_server_gets_no_mount_and_unknown_nodes_are_named() -> None:
    with pytest.raises(ColabError, match="cooperator is the fortress server"):
        mounts.mount_steps(INV, INV.node("cooperator"), sudo=True)
    with pytest.raises(ColabError, match="unknown node 'nope'; known nodes: cooperator, director"):
        INV.node("nope")


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
    """Its share and mount unit (the mount plan: the case storage/mount-other-cluster-as-root)."""
    text = samba.render(OTHER)
    assert f"[{OTHER.fortress.share}]" in text
    assert f"hosts allow = {OTHER.networks.lan} {OTHER.networks.mesh} 127.0.0.1" in text
    client = next(n for n in OTHER.nodes.values() if n.name != OTHER.fortress.server and n.os == "debian")
    stem = quoting.systemd_escape_path(OTHER.fortress.mounts.linux)
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


def test_fstab_entries_are_read_back_with_their_escapes_and_the_label_fits() -> None:
    """The fstab line of a mount point with spaces, a backslash and a non-ASCII letter (the case
    storage/raid-mount-with-space writes it) is found again; a label is cut to 16 bytes, never inside a letter."""
    line = "UUID=0d6f /mnt/my\\040backups\\040\\134\\040ü ext4 defaults,nofail 0 2\n"
    assert raid.fstab_entry(line, "/mnt/my backups \\ ü") == line.split()
    assert raid.fstab_entry(line, "/mnt/my backups") is None
    assert raid.plan_from(
        INV.model_copy(update={"raid": INV.raid.model_copy(update={"mount": "/mnt/" + "ü" * 8})})
    ).label == ("üüüüüü")


def test_kernel_disk_names_need_the_flag() -> None:
    with pytest.raises(ColabError, match=r"sdb: give disks as /dev/disk/by-id/… .*--allow-kernel-names"):
        raid.plan_from(INV, ["/dev/sdb", "/dev/sdd"])


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
    """A node that answers every command with `out` and exit `code`, recording what it was asked."""

    def __init__(self, code: int, out: str) -> None:
        self.code, self.out = code, out
        self.calls: list[list[str]] = []

    def run(self, argv, env, stdin, cwd, timeout):  # type: ignore[no-untyped-def]
        self.calls.append(list(argv))
        return Result(self.code, self.out)

    def close(self) -> None:
        pass


def identity_check(code: int, out: str) -> tuple[list[str], Status, str]:
    """The one command the identity step runs on director, and its outcome when the node answers so."""
    t = _Answers(code, out)
    r = Runner("director", transport_factory=lambda: t, console=Console(file=io.StringIO()))
    outcome = run_steps("identity", [mounts.identity_step(sudo=True)], r).outcomes[0]
    (argv,) = t.calls
    return argv, outcome.status, outcome.detail


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
    argv, got, detail = identity_check(code, out)
    assert argv[:4] == ["sudo", "-n", "sh", "-c"] and argv[5:] == ["sh", "/etc/colab/infisical"]  # the script: below
    assert got == status
    if status == Status.FAILED:  # one line: the cause, then the two commands that put it there (stdin, root-only)
        assert detail == (
            "no machine identity on director (/etc/colab/infisical/client-secret is not root-only (root, 0600)); "
            "create a machine identity for director in Infisical (Universal Auth, read access to the password's "
            "folder), then on director: `sudo install -d -m 0700 /etc/colab/infisical` and, pasting each value, "
            "`sudo sh -c 'umask 077; cat > /etc/colab/infisical/client-id'` and `… > "
            "/etc/colab/infisical/client-secret` (docs/storage.md, Boot mounts)"
        )


def test_the_identity_check_itself_on_real_files(tmp_path: Path) -> None:
    """The script the identity step runs, with the real stat, on a folder of ours: what it accepts and what it names
    (the owner part needs root: the files must be root's)."""
    d = tmp_path / "infisical"
    d.mkdir(mode=0o700)
    argv, _, _ = identity_check(0, "")
    script = argv[4]
    who = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()

    def check() -> str:
        res = subprocess.run(["sh", "-c", script, "sh", str(d)], capture_output=True, text=True)
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
