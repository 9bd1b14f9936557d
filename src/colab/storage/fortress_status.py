"""`inv fortress.status`: is fortress mounted where the inventory says, writable, and how fast it reads.

On a client the mount point must hold an SMB mount of //<server>/<share>; on the server the share path
must hold the fortress device's file system. Where systemd runs (Debian, WSL with systemd), the boot units tell
how it got there (colab.storage.boot): `since boot` (the boot mount did it while the node started), `by hand`
(some other way, or later; a warning when it would not come back after a reboot), or, when it is not mounted,
why: the password unit still `waiting` ("waiting for the password: Infisical is not reachable …"), `failed`.
Each inventory folder gets a tiny file written and removed (as the login user). The read sample times `dd`
over a probe file (64 MiB of random bytes, created once in the last inventory folder, `cache/` by default),
with O_DIRECT where the client supports it so the page cache does not flatter the figure, and compares it
with `fortress.read_mbps` (91 MB/s in the seed).

Exit status: 1 when fortress is not mounted where it should be, or a folder is not writable (or, on a WSL
node, the Windows drive is not mapped); 2 when the read sample is under half the baseline, or fortress is
mounted by hand and would not come back after a reboot; else 0.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.runner import Runner
from colab.steps import Outcome, Report, Status
from colab.storage import boot, mounts
from colab.storage.mount_table import MountEntry, is_device_or_partition, parse_mount_table

PROBE_NAME = ".colab-read-probe"
PROBE_MB = 64
SLOW_FRACTION = 0.5

# $1 probe file, $2 size in MiB: create it once (random bytes, renamed into place), then time one read of
# it with O_DIRECT (GNU dd), or a plain read where dd has no iflag (BSD dd on macOS).
_READ_PROBE = r"""
f=$1 bytes=$(($2 * 1048576))
size=$(wc -c < "$f" 2>/dev/null | tr -d ' ')
if [ "$size" != "$bytes" ]; then
  head -c "$bytes" /dev/urandom > "$f.tmp.$$" && mv -f "$f.tmp.$$" "$f" || { rm -f "$f.tmp.$$"; exit 3; }
fi
dd if="$f" of=/dev/null bs=1048576 iflag=direct 2>&1 || dd if="$f" of=/dev/null bs=1048576 2>&1
""".strip()

_WRITABLE = 'f="$1/.colab-status.$$" && : > "$f" && rm -f "$f"'

# GNU: "67108864 bytes (67 MB, 64 MiB) copied, 0.61 s, 110 MB/s"; BSD: "67108864 bytes transferred in
# 0.612345 secs (109586797 bytes/sec)".
_DD = re.compile(r"^(\d+) bytes .*?(?:copied, |transferred in )([0-9.]+) s", re.MULTILINE)


def parse_dd(text: str) -> tuple[int, float] | None:
    """(bytes, seconds) of the last complete `dd` summary in `text`."""
    found = _DD.findall(text)
    if not found:
        return None
    nbytes, secs = found[-1]
    return int(nbytes), float(secs)


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / max(seconds, 1e-6) / 1e6


@dataclass
class FortressStatus:
    node: str
    role: str  # "server" or the client kind
    mountpoint: str
    expected_source: str
    mounted: bool = False
    source: str = ""
    fstype: str = ""
    writable: dict[str, bool] = field(default_factory=dict)
    read_mbps: float | None = None
    baseline_mbps: int = 0
    windows_drive: str = ""
    windows_status: str = ""
    boot: str = ""  # since boot, by hand, waiting, failed, off; "" without systemd (macOS) or not asked
    boot_detail: str = ""
    comes_back: bool | None = None  # mounts by itself after a reboot (the boot units are installed and enabled)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 2 if self.warnings else 0

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "exit_code": self.exit_code}, indent=2)

    def report(self) -> Report:
        rep = Report(f"fortress on {self.node}")

        def add(step: str, status: Status, detail: str) -> None:
            rep.outcomes.append(Outcome(self.node, step, status, detail))

        where = f"{self.source} ({self.fstype})" if self.mounted else "not mounted"
        if self.boot:
            where = f"{where}, {self.boot}" + (f": {self.boot_detail}" if self.boot_detail else "")
        add(f"mounted at {self.mountpoint}", Status.OK if self.mounted else Status.FAILED, where)
        for folder, ok in self.writable.items():
            add(f"writable {folder}/", Status.OK if ok else Status.FAILED, "" if ok else "cannot create a file")
        if self.read_mbps is not None:
            slow = self.read_mbps < self.baseline_mbps * SLOW_FRACTION
            detail = f"{self.read_mbps:.1f} MB/s (baseline {self.baseline_mbps} MB/s)"
            add("read throughput", Status.WARNING if slow else Status.OK, detail)
        if self.windows_drive:
            ok = self.windows_status == "OK"
            add(f"windows drive {self.windows_drive}", Status.OK if ok else Status.FAILED, self.windows_status)
        return rep


def _expected(inv: Inventory, node: Node) -> tuple[str, str]:
    """(role, expected source) for this node."""
    if node.name == inv.fortress.server:
        return "server", inv.fortress.device
    return mounts.client_kind(inv, node), f"//{mounts.server_address(inv)}/{inv.fortress.share}"


def _find(entries: list[MountEntry], target: str, role: str, inv: Inventory) -> MountEntry | None:
    here = [e for e in entries if e.target.rstrip("/") == target.rstrip("/")]
    if role == "server":
        here = [e for e in here if e.fstype == inv.fortress.filesystem]
    else:
        here = [e for e in here if e.fstype in ("cifs", "smb3", "smbfs")]
    return here[-1] if here else None


def _source_matches(found: str, expected: str, role: str) -> bool:
    if role == "server":
        return is_device_or_partition(found, expected)
    # macOS shows //user@server/share
    return re.sub(r"^//[^@/]+@", "//", found).lower() == expected.lower()


def probe(r: Runner, inv: Inventory, node: Node, *, measure: bool = True) -> FortressStatus:
    role, expected = _expected(inv, node)
    target = inv.fortress_mount(node)
    st = FortressStatus(node.name, role, target, expected, baseline_mbps=inv.fortress.read_mbps)
    res = r.run("mount", check=False)
    if r.dry_run:
        _plan(r, inv, target, role)
        return st
    entry = _find(parse_mount_table(res.stdout), target, role, inv)
    if entry is not None:
        st.mounted, st.source, st.fstype = True, entry.source, entry.fstype
    _boot(r, inv, st, role)
    if entry is None:
        why = f": {st.boot_detail}" if st.boot_detail else ""
        st.problems.append(f"fortress is not mounted at {target} on {node.name}{why}")
    elif not _source_matches(entry.source, expected, role):
        st.problems.append(f"{target} is mounted from {entry.source}, wants {expected}")
    elif st.comes_back is False:
        st.warnings.append(f"fortress is mounted by hand at {target}: {st.boot_detail}")
    if st.mounted:
        for folder in inv.fortress.folders:
            ok = r.run("sh", "-c", _WRITABLE, "sh", f"{target}/{folder}", check=False).ok
            st.writable[folder] = ok
            if not ok:
                st.problems.append(f"{target}/{folder} is not writable on {node.name}")
        if measure and st.writable.get(inv.fortress.folders[-1]):
            st.read_mbps = _read_sample(r, f"{target}/{inv.fortress.folders[-1]}/{PROBE_NAME}")
            if st.read_mbps is not None and st.read_mbps < inv.fortress.read_mbps * SLOW_FRACTION:
                st.warnings.append(
                    f"reads at {st.read_mbps:.1f} MB/s, under half the {inv.fortress.read_mbps} MB/s baseline"
                )
    if role == "wsl":
        _windows(r, inv, st)
    return st


def _boot(r: Runner, inv: Inventory, st: FortressStatus, role: str) -> None:
    """How the boot units got fortress mounted (or why they did not), where systemd runs; nothing elsewhere."""
    if role == "macos":
        return
    unit = boot.mount_unit(st.mountpoint)
    units = [unit] if role == "server" else [boot.PASSWORD_UNIT, unit]
    res = r.run(*boot.state_argv(units), check=False, mutating=False)
    state = boot.parse_state(res.stdout) if res.ok else None
    if state is None:
        return
    verdict = (boot.server_verdict if role == "server" else boot.client_verdict)(state, unit, st.mounted)
    st.boot, st.boot_detail, st.comes_back = verdict.kind, verdict.detail, verdict.comes_back


def read_sample(r: Runner, inv: Inventory, node: Node) -> float | None:
    """MB/s of one timed read of the probe file in this node's fortress (`inv status --read-sample`)."""
    return _read_sample(r, f"{inv.fortress_mount(node)}/{inv.fortress.folders[-1]}/{PROBE_NAME}")


def _read_sample(r: Runner, path: str) -> float | None:
    res = r.run("sh", "-c", _READ_PROBE, "sh", path, str(PROBE_MB), env={"LC_ALL": "C"}, check=False, timeout=300)
    parsed = parse_dd(res.stdout + res.stderr)
    if not res.ok or parsed is None:
        raise ColabError(f"cannot time a read of {path} on {r.node} ({res.last_line})")
    return round(mbps(*parsed), 1)


def _windows(r: Runner, inv: Inventory, st: FortressStatus) -> None:
    st.windows_drive = inv.fortress.mounts.windows
    if not r.ok("test", "-x", mounts.POWERSHELL):
        st.windows_status = "no Windows interop"
    else:
        found = mounts.windows_mapping(r, inv)
        want = mounts.unc(inv)
        if found is None:
            st.windows_status = "not mapped"
        elif found[1].lower() != want.lower():
            st.windows_status = f"mapped to {found[1]}, wants {want}"
        else:
            st.windows_status = found[0]
    if st.windows_status != "OK":
        st.problems.append(f"Windows drive {st.windows_drive}: {st.windows_status}")


def _plan(r: Runner, inv: Inventory, target: str, role: str) -> None:
    """Dry run: the probes status would run, printed, none run."""
    if role != "macos":
        unit = boot.mount_unit(target)
        r.run(*boot.state_argv([unit] if role == "server" else [boot.PASSWORD_UNIT, unit]), check=False)
    for folder in inv.fortress.folders:
        r.run("sh", "-c", _WRITABLE, "sh", f"{target}/{folder}", check=False)
    folder = inv.fortress.folders[-1]
    r.run("sh", "-c", _READ_PROBE, "sh", f"{target}/{folder}/{PROBE_NAME}", str(PROBE_MB), env={"LC_ALL": "C"})
    if role == "wsl":
        r.run(*mounts.powershell(mounts.windows_query_script(inv)), check=False)
