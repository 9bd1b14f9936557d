"""`inv fortress.share` against a real smbd, and real smbclient sessions against what it configured.

The site (module scope, root needed): a small ext4 file system on a loop device mounted as the fortress
path; a private smb.conf with private state folders (the system's /etc/samba is never touched) and smbd
listening on a free high port; two network namespaces, each joined to this host by a veth pair the test
numbers itself: one address inside the inventory's LAN (hosts allow lets it in), one outside it (refused).
The inventory is tests/fixtures/inventories/loopback.toml with that LAN, the fortress pointed at the loop file
system, a throw-away group and two throw-away Samba users (`fortress.share` makes the group and both Unix
users); the Infisical stand-in serves their passwords (the CANARY and a second canary). A third user, made by
the test with a Samba password but outside the group, must be refused. `fortress.share` runs through the same
code as the task, on a local runner (COLAB_NODE=cooperator).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomlkit
from plumbum import local
from rich.console import Console

from colab import inventory
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.steps import Report, Status
from colab.storage import commands, samba
from colab.storage.samba import SambaHost
from tests.conftest import CANARY, INVENTORIES, FakeInfisical, require_root, require_tool, unavailable

pytestmark = [pytest.mark.integration, pytest.mark.tools]

TOOLS = (
    *("smbd", "smbclient", "testparm", "smbpasswd", "smbcontrol", "pdbedit", "ip", "losetup", "mkfs.ext4"),
    *("useradd", "usermod", "userdel", "groupadd", "groupdel", "gpasswd"),
)
SHARE = "fortress"
CANARY_B = "b-" + CANARY[::-1]  # the second user's password: a canary of its own
NAME_A, NAME_B = "COLAB_NAS_SAMBA_PASSWORD", "SAMBA_PASSWORD_B"


def _run(
    *argv: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, env=env, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _taken_networks() -> list[ipaddress.IPv4Network]:
    taken = []
    for line in _run("ip", "-4", "-o", "addr", "show").stdout.splitlines():
        m = re.search(r"inet (\S+)", line)
        if m:
            taken.append(ipaddress.ip_interface(m.group(1)).network)
    for line in _run("ip", "-4", "route", "show").stdout.splitlines():
        first = line.split()[0]
        if first != "default":
            with contextlib.suppress(ValueError):
                taken.append(ipaddress.ip_network(first, strict=False))
    return taken


def _free_subnets(count: int) -> list[ipaddress.IPv4Network]:
    """/24s in 10.213-10.223 that no interface or route of this host uses."""
    taken = _taken_networks()
    found = []
    for second in range(213, 224):
        for third in range(10, 250, 17):
            net = ipaddress.ip_network(f"10.{second}.{third}.0/24")
            if not any(net.overlaps(t) for t in taken) and all(not net.overlaps(f) for f in found):
                found.append(net)
                if len(found) == count:
                    return found
    unavailable("no free 10.213-223.x.0/24 subnet for the test namespaces")


@dataclass
class Namespace:
    name: str
    host_if: str
    host_ip: str
    ns_ip: str

    def create(self) -> None:
        peer = self.host_if.replace("ch", "cn", 1)
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", self.name)
        _run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        _run("ip", "link", "set", self.host_if, "up")
        _run("ip", "netns", "exec", self.name, "ip", "addr", "add", f"{self.ns_ip}/30", "dev", peer)
        _run("ip", "netns", "exec", self.name, "ip", "link", "set", peer, "up")
        _run("ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up")

    def delete(self) -> None:
        _run("ip", "link", "del", self.host_if, check=False)
        _run("ip", "netns", "del", self.name, check=False)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _remove_leftovers() -> None:
    """Namespaces (their veth pairs go with them), users and groups of an earlier run killed before its teardown."""
    for line in _run("ip", "netns", "list").stdout.splitlines():
        m = re.match(r"colab-smb-(\d+)-[ab]\b", line)
        if m and not _alive(int(m.group(1))):
            _run("ip", "netns", "del", line.split()[0], check=False)
    for line in Path("/etc/passwd").read_text().splitlines():
        m = re.match(r"(colab-smb(\d+)[a-c]?):", line)
        if m and not _alive(int(m.group(2))):
            _run("userdel", m.group(1), check=False)
    for line in Path("/etc/group").read_text().splitlines():
        m = re.match(r"(colab-smb(\d+)[a-c]?):", line)
        if m and not _alive(int(m.group(2))):
            _run("groupdel", m.group(1), check=False)


def _namespace(tag: str, net: ipaddress.IPv4Network) -> Namespace:
    base = int(net.network_address) + 200  # a /30 at .200: .201 this host, .202 the namespace
    return Namespace(
        f"colab-smb-{os.getpid()}-{tag}",
        f"ch{os.getpid() % 100000}{tag}",
        str(ipaddress.ip_address(base + 1)),
        str(ipaddress.ip_address(base + 2)),
    )


PRIVATE_CONF = """[global]
   workgroup = COLABTEST
   server role = standalone server
   smb ports = {port}
   interfaces = {interfaces}
   bind interfaces only = yes
   disable netbios = yes
   lock directory = {root}/lock
   state directory = {root}/state
   cache directory = {root}/cache
   private dir = {root}/private
   pid directory = {root}/run
   ncalrpc dir = {root}/run/ncalrpc
   log file = {root}/log/log.%m
   passdb backend = tdbsam:{root}/private/passdb.tdb
   load printers = no
   printing = bsd
   printcap name = /dev/null
   disable spoolss = yes
   map to guest = never
"""


@dataclass
class Site:
    root: Path
    inv: Inventory
    host: SambaHost
    user: str  # the first Samba user of the group (password: the CANARY)
    other: str  # the second one (CANARY_B)
    outsider: str  # a Samba user outside the group
    group: str
    fortress: Path
    inside: Namespace
    outside: Namespace
    first: Report
    mp: pytest.MonkeyPatch
    vault: FakeInfisical
    argv_hits: list[str] = field(default_factory=list)

    def smbclient(
        self, *args: str, password: str | None = CANARY, address: str = "127.0.0.1", netns: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PASSWD", "USER")}
        if password is not None:
            env["PASSWD"] = password  # smbclient reads it from the environment: never argv
        argv = ["smbclient", "-p", str(self.host.port), *args]
        argv = [a.replace("//ADDR/", f"//{address}/") for a in argv]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        return _run(*argv, check=False, env=env, timeout=60)

    def share(self, inv: Inventory | None = None, console: Console | None = None) -> Report:
        console = console or Console(file=io.StringIO())
        return commands.share(inv or self.inv, host=self.host, sudo=False, console=console)

    def passwords(self) -> None:
        self.vault.set("/samba", **{NAME_A: CANARY, NAME_B: CANARY_B})


def _scan_argv(stop: threading.Event, hits: list[str]) -> None:
    """Watch every process's argv for the canary while the share is applied."""
    needle = CANARY.encode()
    while not stop.is_set():
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                data = cmdline.read_bytes()
                if needle in data or CANARY_B.encode() in data:
                    hits.append(data.replace(b"\0", b" ").decode(errors="replace"))
        time.sleep(0.002)


def _inventory(
    root: Path, lan: ipaddress.IPv4Network, group: str, users: dict[str, str], fortress: Path, device: str
) -> Inventory:
    text = (INVENTORIES / "loopback.toml").read_text()
    prefix = str(lan.network_address).rsplit(".", 1)[0]
    text = text.replace("127.0.10.", f"{prefix}.")  # the LAN: node addresses, dns, the network itself
    doc = tomlkit.parse(text)
    doc["fortress"]["path"] = str(fortress)  # type: ignore[index]
    doc["fortress"]["device"] = device  # type: ignore[index]
    doc["fortress"]["filesystem"] = "ext4"  # type: ignore[index]
    doc["fortress"]["group"] = group  # type: ignore[index]
    doc["fortress"]["users"] = users  # type: ignore[index]
    for node in doc["nodes"].values():  # type: ignore[union-attr]
        node["ssh_user"] = next(iter(users))  # a client mounts as its own user, which must be listed
    path = root / f"inventory-{len(users)}.toml"
    path.write_text(tomlkit.dumps(doc))
    return inventory.load(path)


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"smbd exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"smbd did not listen on {port}: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    require_tool(*TOOLS)
    require_root("the Samba site (a Unix user, a loop mount, network namespaces)")
    # Not under pytest's tmp folder (mode 700): the Samba user must be able to reach the share.
    root = Path(tempfile.mkdtemp(prefix="colab-samba-"))
    root.chmod(0o755)
    for sub in ("lock", "state", "cache", "private", "run", "log"):
        (root / sub).mkdir()
    _remove_leftovers()
    group = f"colab-smb{os.getpid()}"
    user, other, outsider = f"{group}a", f"{group}b", f"{group}c"
    lan, away = _free_subnets(2)
    inside, outside = _namespace("a", lan), _namespace("b", away)
    fortress = root / "fortress"
    fortress.mkdir()
    image = root / "fortress.img"
    cleanups: list[tuple[str, ...]] = []
    proc: subprocess.Popen[bytes] | None = None
    mp = pytest.MonkeyPatch()
    stack = contextlib.ExitStack()
    try:
        # fortress.share makes the group and its users; the test removes them (and the outsider) afterwards
        cleanups += [("groupdel", group), ("userdel", user), ("userdel", other), ("userdel", outsider)]
        with image.open("wb") as fh:
            fh.truncate(32 * 1024 * 1024)
        _run("mkfs.ext4", "-q", "-F", str(image))
        device = _run("losetup", "-f", "--show", str(image)).stdout.strip()
        cleanups.append(("losetup", "-d", device))
        _run("mount", device, str(fortress))
        cleanups.append(("umount", str(fortress)))
        for ns in (inside, outside):
            ns.create()
        inv = _inventory(root, lan, group, {user: NAME_A, other: NAME_B}, fortress, device)
        port = _free_port()
        conf = root / "smb.conf"
        interfaces = " ".join(["127.0.0.1", inside.host_ip, outside.host_ip])
        conf.write_text(PRIVATE_CONF.format(port=port, interfaces=interfaces, root=root))
        host = SambaHost(smb_conf=str(conf), include=str(root / "colab-fortress.conf"), port=port, systemd=False)
        log = root / "log" / "smbd.out"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["smbd", "--foreground", "--debug-stdout", "-d", "1", "-s", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # no --no-process-group: smbd makes its own session, and signals only that group when it stops
        _wait_port(port, proc, log)

        mp.setenv("COLAB_NODE", "cooperator")
        vault = FakeInfisical(mp, inv.infisical.project_id)
        # The local runner finds programs through plumbum's copy of PATH, taken at import: add the stand-in there.
        stack.enter_context(local.env(PATH=os.environ["PATH"]))
        vault.set("/samba", **{NAME_A: CANARY, NAME_B: CANARY_B})
        stop, hits = threading.Event(), []
        scanner = threading.Thread(target=_scan_argv, args=(stop, hits), daemon=True)
        scanner.start()
        try:
            first = commands.share(inv, host=host, sudo=False, console=Console(file=io.StringIO()))
        finally:
            stop.set()
            scanner.join()
        # a Samba user with a good password, outside the group: smbd knows it, the share must refuse it
        _run("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", outsider)
        out_pw = subprocess.run(
            ["smbpasswd", "-c", str(conf), "-s", "-a", outsider], input=f"{CANARY}\n{CANARY}\n", text=True,
            capture_output=True, check=True,
        )  # fmt: skip
        assert out_pw.returncode == 0
        yield Site(root, inv, host, user, other, outsider, group, fortress, inside, outside, first, mp, vault, hits)
    finally:
        stack.close()
        mp.undo()
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # smbd leads its own session: its children go too
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for ns in (inside, outside):
            ns.delete()
        for argv in reversed(cleanups):
            for _ in range(20):  # a connection's smbd may take a moment to let go of the mount
                if _run(*argv, check=False).returncode == 0 or argv[0] != "umount":
                    break
                time.sleep(0.25)
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- tests


def test_first_run_configures_everything_and_a_second_changes_nothing(site: Site) -> None:
    first = {o.step: o.status for o in site.first.outcomes}
    assert site.first.exit_code == 0, site.first.to_json()
    assert first[f"group {site.group}"] == Status.CHANGED
    assert first[f"Unix user {site.user} in group {site.group}"] == Status.CHANGED  # made, no login
    assert first[f"Unix user {site.other} in group {site.group}"] == Status.CHANGED
    assert first[f"folder {site.fortress}/data"] == Status.CHANGED
    assert first[f"share config {site.host.include}"] == Status.CHANGED
    assert first[f"include line in {site.host.smb_conf}"] == Status.CHANGED
    assert first[f"samba password of {site.user}"] == Status.CHANGED
    assert first[f"samba password of {site.other}"] == Status.CHANGED
    assert first[f"no other Samba users in group {site.group}"] == Status.OK
    assert first[f"{site.fortress} is {site.inv.fortress.device}"] == Status.OK
    for user in (site.user, site.other):
        entry = _run("getent", "passwd", user).stdout.strip().split(":")
        assert entry[-1] == "/usr/sbin/nologin"  # a Samba user, not a login
        assert site.group in _run("id", "-nG", user).stdout.split()
    second = site.share()
    assert second.exit_code == 0, second.to_json()
    assert [o.status for o in second.outcomes] == [Status.OK] * len(second.outcomes), second.to_json()
    assert Path(site.host.smb_conf).read_text().rstrip("\n").endswith(f"{samba.MARKER}\n{site.host.include_line}")


def test_folders_belong_to_the_group_with_setgid(site: Site) -> None:
    for folder in site.inv.fortress.folders:
        st = (site.fortress / folder).stat()
        assert oct(st.st_mode & 0o7777) == "0o2775"
        assert _run("stat", "-c", "%G", str(site.fortress / folder)).stdout.strip() == site.group


def test_list_write_and_read_back(site: Site, tmp_path: Path) -> None:
    listing = site.smbclient("-L", "//127.0.0.1", "-U", site.user)
    assert listing.returncode == 0, listing.stderr
    assert re.search(rf"^\s*{SHARE}\s+Disk", listing.stdout, re.MULTILINE), listing.stdout
    payload = os.urandom(256 * 1024)
    (tmp_path / "up.bin").write_bytes(payload)
    put = site.smbclient(
        "//ADDR/fortress", "-U", site.user, "-c", f"cd data; put {tmp_path / 'up.bin'} up.bin; mkdir sub; ls"
    )
    assert put.returncode == 0, put.stdout + put.stderr
    assert "up.bin" in put.stdout
    got = site.smbclient("//ADDR/fortress", "-U", site.user, "-c", f"cd data; get up.bin {tmp_path / 'down.bin'}")
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "down.bin").read_bytes() == payload
    on_disk = site.fortress / "data" / "up.bin"
    assert on_disk.read_bytes() == payload
    assert _run("stat", "-c", "%U %G %a", str(on_disk)).stdout.split() == [site.user, site.group, "664"]
    assert _run("stat", "-c", "%G %a", str(site.fortress / "data" / "sub")).stdout.split() == [site.group, "2775"]


def test_wrong_password_is_refused(site: Site) -> None:
    res = site.smbclient("//ADDR/fortress", "-U", site.user, "-c", "ls", password="not-the-password")
    assert res.returncode != 0
    assert "NT_STATUS_LOGON_FAILURE" in res.stdout + res.stderr


def test_guests_are_refused(site: Site) -> None:
    res = site.smbclient("//ADDR/fortress", "-N", "-c", "ls", password=None)
    assert res.returncode != 0
    assert re.search(r"NT_STATUS_(ACCESS_DENIED|LOGON_FAILURE)", res.stdout + res.stderr), res.stdout + res.stderr


def test_smb2_clients_are_refused(site: Site) -> None:
    res = site.smbclient("//ADDR/fortress", "-U", site.user, "--option=client max protocol=SMB2_10", "-c", "ls")
    assert res.returncode != 0
    assert "NT_STATUS_NOT_SUPPORTED" in res.stdout + res.stderr or "negotiat" in res.stdout + res.stderr


def test_hosts_allow_admits_the_lan_and_refuses_other_addresses(site: Site) -> None:
    inside = site.smbclient(
        "//ADDR/fortress", "-U", site.user, "-c", "ls", address=site.inside.host_ip, netns=site.inside.name
    )
    assert inside.returncode == 0, inside.stdout + inside.stderr  # the same path works from inside the LAN ...
    outside = site.smbclient(
        "//ADDR/fortress", "-U", site.user, "-c", "ls", address=site.outside.host_ip, netns=site.outside.name
    )
    assert outside.returncode != 0  # ... and is refused from an address outside LAN, mesh and 127.0.0.1
    assert "NT_STATUS_ACCESS_DENIED" in outside.stdout + outside.stderr, outside.stdout + outside.stderr


def test_passwords_exist_only_in_memory(site: Site) -> None:
    assert site.argv_hits == []  # no process ever had one in argv while the share was applied
    leaked = []
    for path in site.root.rglob("*"):
        if path.is_file() and not path.name.endswith(".img"):
            with contextlib.suppress(OSError):
                data = path.read_bytes()
                if CANARY.encode() in data or CANARY_B.encode() in data:
                    leaked.append(str(path))
    assert leaked == []  # not in smb.conf, the include, smbd's logs or the passdb (which keeps a hash)
    assert CANARY not in site.first.to_json() and CANARY_B not in site.first.to_json()


def test_a_rotated_password_is_applied_and_the_old_one_stops_working(site: Site) -> None:
    rotated = "rotated-" + CANARY[::-1]
    site.vault.set("/samba", **{NAME_A: rotated})
    try:
        report = site.share()
        statuses = {o.step: o.status for o in report.outcomes}
        assert statuses[f"samba password of {site.user}"] == Status.CHANGED, report.to_json()
        assert site.smbclient("//ADDR/fortress", "-U", site.user, "-c", "ls", password=rotated).returncode == 0
        old = site.smbclient("//ADDR/fortress", "-U", site.user, "-c", "ls")
        assert "NT_STATUS_LOGON_FAILURE" in old.stdout + old.stderr
    finally:
        site.passwords()
        assert site.share().exit_code == 0


def test_a_missing_secret_is_one_clear_error_and_changes_nothing(site: Site) -> None:
    before = Path(site.host.smb_conf).read_bytes(), Path(site.host.include).read_bytes()
    site.vault.envs["prod"]["/samba"] = {NAME_A: CANARY}  # the second user's password is gone
    site.vault.set("/samba")
    try:
        with pytest.raises(ColabError) as info:
            site.share()
        assert str(info.value).startswith(f"missing secret(s) {NAME_B} at Infisical path /samba")
        assert "\n" not in str(info.value)
    finally:
        site.passwords()
    assert (Path(site.host.smb_conf).read_bytes(), Path(site.host.include).read_bytes()) == before


def test_lines_appended_after_our_include_cannot_change_the_share(site: Site) -> None:
    conf = Path(site.host.smb_conf)
    good = conf.read_text()
    conf.write_text(good + "   guest ok = yes\n")  # meant for [global], but it lands in the included [fortress]
    try:
        guest = ["testparm", "-s", "--section-name", SHARE, "--parameter-name", "guest ok", str(conf)]
        assert _run(*guest).stdout.strip() == "Yes"
        report = site.share()
        statuses = {o.step: o.status for o in report.outcomes}
        assert statuses[f"include line in {site.host.smb_conf}"] == Status.CHANGED, report.to_json()
        assert report.exit_code == 0, report.to_json()
        assert samba.include_line_ok(conf.read_text(), site.host)
        assert _run(*guest).stdout.strip() == "No"
        assert site.smbclient("//ADDR/fortress", "-N", "-c", "ls", password=None).returncode != 0
    finally:
        conf.write_text(good)
        _run("smbcontrol", "-s", str(conf), "smbd", "reload-config")


def test_a_second_definition_of_the_share_is_reported_not_overwritten(site: Site) -> None:
    conf = Path(site.host.smb_conf)
    good = conf.read_text()
    head, marker, tail = good.partition(samba.MARKER)
    conf.write_text(f"{head}[{SHARE}]\n   comment = made in another tool\n\n{marker}{tail}")  # no path: off
    try:
        report = site.share()
        failed = [o for o in report.outcomes if o.status == Status.FAILED]
        assert report.exit_code == 1
        assert [o.step for o in failed] == [f"effective share {SHARE!r}"], report.to_json()
        assert "available: 'No', wants 'Yes'" in failed[0].detail
        assert "comment: 'made in another tool'" not in failed[0].detail  # ours comes later and wins that one
        assert conf.read_text().startswith(head)  # nothing of it was rewritten
    finally:
        conf.write_text(good)
        _run("smbcontrol", "-s", str(conf), "smbd", "reload-config")
    assert _eventually(lambda: site.smbclient("//ADDR/fortress", "-U", site.user, "-c", "exit").returncode == 0)


def _eventually(probe: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.3)
    return probe()


def test_an_invalid_include_is_refused_and_the_old_one_stays(site: Site) -> None:
    include = Path(site.host.include)
    before = include.read_bytes()
    bad = subprocess.run(
        ["sh", "-c", samba._APPLY_INCLUDE, "sh", site.host.include, site.host.smb_conf, site.host.include_line,
         samba.MARKER],
        input=f"[{SHARE}]\n   pathh = /tmp\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "Unknown parameter" in bad.stderr
    assert include.read_bytes() == before
    assert not list(include.parent.glob("*.colab-new.*")) and not list(include.parent.glob("*.colab-trial.*"))


def test_effective_share_matches_what_testparm_reads(site: Site) -> None:
    values = _run("sh", "-c", samba._VALUES, "sh", site.host.smb_conf, SHARE, "hosts allow", "valid users")
    got = samba.parse_values(values.stdout)
    assert got == {"hosts allow": " ".join(samba.hosts_allow(site.inv)), "valid users": f"@{site.group}"}
    assert samba.hosts_allow(site.inv)[0] == str(site.inv.networks.lan)
    assert json.loads(site.first.to_json())["exit_code"] == 0


# ------------------------------------------------------------------------------------- the group's users


def test_two_users_of_the_group_write_and_read_each_others_files(site: Site, tmp_path: Path) -> None:
    first, second = os.urandom(64 * 1024), os.urandom(64 * 1024)
    (tmp_path / "first.bin").write_bytes(first)
    (tmp_path / "second.bin").write_bytes(second)
    a = site.smbclient(
        "//ADDR/fortress", "-U", site.user, "-c", f"cd data; put {tmp_path / 'first.bin'} shared.bin; mkdir from-a"
    )
    assert a.returncode == 0, a.stdout + a.stderr
    # b reads a's file, overwrites it (group write), and writes into the folder a made
    b = site.smbclient(
        "//ADDR/fortress", "-U", site.other, "-c",
        f"cd data; get shared.bin {tmp_path / 'b-got.bin'}; put {tmp_path / 'second.bin'} shared.bin; "
        f"cd from-a; put {tmp_path / 'second.bin'} by-b.bin", password=CANARY_B,
    )  # fmt: skip
    assert b.returncode == 0, b.stdout + b.stderr
    assert (tmp_path / "b-got.bin").read_bytes() == first
    back = site.smbclient(
        "//ADDR/fortress", "-U", site.user, "-c",
        f"cd data; get shared.bin {tmp_path / 'a-got.bin'}; cd from-a; get by-b.bin {tmp_path / 'a-got-2.bin'}; "
        "del by-b.bin",
    )  # fmt: skip
    assert back.returncode == 0, back.stdout + back.stderr
    assert (tmp_path / "a-got.bin").read_bytes() == second == (tmp_path / "a-got-2.bin").read_bytes()
    data = site.fortress / "data"
    assert _run("stat", "-c", "%U %G %a", str(data / "shared.bin")).stdout.split() == [site.user, site.group, "664"]
    assert _run("stat", "-c", "%U %G %a", str(data / "from-a")).stdout.split() == [site.user, site.group, "2775"]
    assert not (data / "from-a" / "by-b.bin").exists()  # a removed b's file: the group shares the tree


def test_a_samba_user_outside_the_group_is_refused_and_left_alone(site: Site) -> None:
    res = site.smbclient("//ADDR/fortress", "-U", site.outsider, "-c", "ls")
    assert res.returncode != 0
    assert "NT_STATUS_ACCESS_DENIED" in res.stdout + res.stderr, res.stdout + res.stderr  # logged in, no share
    again = site.share()
    assert again.exit_code == 0 and again.changed == 0, again.to_json()  # another share's user: not ours
    assert site.outsider in _run("pdbedit", "-s", site.host.smb_conf, "-L").stdout


def test_a_user_no_longer_listed_is_removed_after_saying_so(site: Site) -> None:
    fewer = _inventory(
        site.root, site.inv.networks.lan, site.group, {site.user: NAME_A}, site.fortress, site.inv.fortress.device
    )
    assert site.smbclient("//ADDR/fortress", "-U", site.other, "-c", "ls", password=CANARY_B).returncode == 0
    out = io.StringIO()
    try:
        report = site.share(fewer, Console(file=out, width=300))
        statuses = {o.step: (o.status, o.detail) for o in report.outcomes}
        assert report.exit_code == 0, report.to_json()
        assert statuses[f"no other Samba users in group {site.group}"] == (
            Status.CHANGED, f"removed Samba user(s) {site.other}: in group {site.group}, no longer in fortress.users",
        )  # fmt: skip
        assert f"fortress.share: removing Samba user {site.other} (in group {site.group}" in out.getvalue()
        gone = site.smbclient("//ADDR/fortress", "-U", site.other, "-c", "ls", password=CANARY_B)
        assert gone.returncode != 0 and "NT_STATUS_LOGON_FAILURE" in gone.stdout + gone.stderr, gone.stdout
        assert site.group not in _run("id", "-nG", site.other).stdout.split()
        assert site.other not in _run("pdbedit", "-s", site.host.smb_conf, "-L").stdout
        assert site.share(fewer).changed == 0  # said and done once
        assert site.smbclient("//ADDR/fortress", "-U", site.user, "-c", "ls").returncode == 0  # the rest work on
    finally:
        back = site.share()  # listed again: back in the group with its password
        assert back.exit_code == 0, back.to_json()
    assert site.smbclient("//ADDR/fortress", "-U", site.other, "-c", "ls", password=CANARY_B).returncode == 0
