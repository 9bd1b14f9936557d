"""The RAID1 backup volume: guards on the disks, then the exact mdadm / mkfs / mdadm.conf / fstab steps.

Guards (all read-only, all problems reported at once, nothing changed when any fails):
- disks are named by /dev/disk/by-id/… (kernel names like sdb can swap across boots) unless
  --allow-kernel-names; each exists and is a block device; no two name the same disk;
- not mounted (the disk or any partition, swap included) and not held by anything (an md array,
  LVM/device-mapper): never bypassed;
- no signature (file system, partition table, old RAID superblock) per `wipefs` / `blkid -p` /
  `mdadm --examine`, unless --wipe, which erases them first;
- sizes within 1% of each other (mdadm would otherwise ask, and the mirror wastes the difference).

Then: `mdadm --create DEVICE --level=1 --metadata=1.2 --bitmap=internal --raid-devices=N DISKS…`, mkfs,
the ARRAY line from `mdadm --detail --scan` into mdadm.conf and `update-initramfs -u`, an fstab line by
file-system UUID with `nofail`, the mount, and the monitor configuration (see `mdstat`). Each step checks
first, so on an existing healthy array every step is `ok` and nothing runs.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field

from colab import quoting
from colab.errors import ColabError
from colab.file_steps import file_step
from colab.inventory import Inventory
from colab.privilege import as_root
from colab.runner import Runner
from colab.steps import Step, note
from colab.storage import mdstat

BY_ID = "/dev/disk/by-id/"
SIZE_TOLERANCE = 0.01
FSTAB = "/etc/fstab"
FSTAB_OPTIONS = "defaults,nofail,x-systemd.device-timeout=30s"

# $1 a disk path: facts about it as key=value lines (read-only; run as root for wipefs/blkid/mdadm).
_PROBE = r"""
d=$1
[ -e "$d" ] || { echo exists=no; exit 0; }
echo exists=yes
real=$(readlink -f "$d"); echo "real=$real"
[ -b "$real" ] || { echo block=no; exit 0; }
echo block=yes
echo "size=$(blockdev --getsize64 "$real" 2>/dev/null)"
echo "mounts=$(lsblk -nr -o MOUNTPOINT "$real" 2>/dev/null | grep -v '^$' | tr '\n' ' ')"
k=$(basename "$real"); h=""
for x in /sys/class/block/"$k"/holders/* /sys/class/block/"$k"/"$k"*/holders/*; do
  [ -e "$x" ] && h="$h $(basename "$x")"
done
echo "holders=$h"
echo "signatures=$(wipefs --no-act --noheadings --output TYPE,OFFSET "$real" 2>/dev/null | tr -s ' ' | tr '\n' ';')"
echo "blkid=$(blkid -p -o value -s TYPE "$real" 2>/dev/null) $(blkid -p -o value -s PTTYPE "$real" 2>/dev/null)"
if mdadm --examine "$real" >/dev/null 2>&1; then echo md=yes; else echo md=no; fi
""".strip()


@dataclass
class Disk:
    path: str
    exists: bool = False
    real: str = ""
    block: bool = False
    size: int = 0
    mounts: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    md_superblock: bool = False

    @property
    def dirty(self) -> bool:
        return bool(self.signatures) or self.md_superblock


def parse_probe(path: str, text: str) -> Disk:
    kv = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            kv[key.strip()] = value.strip()
    disk = Disk(path, exists=kv.get("exists") == "yes", real=kv.get("real", ""), block=kv.get("block") == "yes")
    disk.size = int(kv["size"]) if kv.get("size", "").isdigit() else 0
    disk.mounts = kv.get("mounts", "").split()
    disk.holders = kv.get("holders", "").split()
    sigs = [s.strip() for s in kv.get("signatures", "").split(";") if s.strip()]
    sigs += [f"{t} (blkid)" for t in kv.get("blkid", "").split() if not any(s.startswith(t) for s in sigs)]
    disk.signatures = sigs
    disk.md_superblock = kv.get("md") == "yes"
    return disk


def probe_disks(r: Runner, disks: list[str], sudo: bool) -> list[Disk]:
    found = []
    for path in disks:
        res = r.run(*as_root(sudo, "sh", "-c", _PROBE, "sh", path), check=False, mutating=False)
        if not res.ok:
            raise ColabError(f"cannot examine {path} on {r.node} ({res.last_line})")
        found.append(parse_probe(path, res.stdout))
    return found


def name_problems(disks: list[str], allow_kernel_names: bool) -> list[str]:
    """Problems visible from the names alone (no need to look at the node)."""
    problems = []
    if len(disks) < 2:
        problems.append(f"RAID1 needs at least two disks, got {len(disks)}")
    if len(set(disks)) != len(disks):
        problems.append("a disk is listed twice")
    for path in disks:
        if not path.startswith(BY_ID) and not allow_kernel_names:
            problems.append(
                f"{path}: give disks as {BY_ID}… (kernel names like sdb can swap across boots), "
                "or pass --allow-kernel-names"
            )
    return problems


def guard_problems(disks: list[Disk], *, allow_kernel_names: bool = False, wipe: bool = False) -> list[str]:
    """Everything that forbids building the mirror on these disks; empty when they are fit."""
    problems = name_problems([d.path for d in disks], allow_kernel_names)
    for d in disks:
        shown = f"{d.path} ({d.real})" if d.real and d.real != d.path else d.path
        if not d.exists:
            problems.append(f"{d.path} does not exist")
            continue
        if not d.block:
            problems.append(f"{shown} is not a block device")
            continue
        if d.mounts:
            problems.append(f"{shown} is in use: mounted at {', '.join(d.mounts)}; unmount it (--wipe does not help)")
        if d.holders:
            problems.append(
                f"{shown} is held by {', '.join(d.holders)} (an md array or device-mapper/LVM); release it first"
            )
        if d.dirty and not wipe:
            what = ", ".join(d.signatures) or "an md superblock"
            problems.append(f"{shown} carries {what}; pass --wipe to erase it (destroys what is on it)")
    reals = [d.real for d in disks if d.real]
    if len(set(reals)) != len(reals):
        problems.append(f"two of the names are the same disk ({', '.join(reals)})")
    sizes = [d.size for d in disks if d.size]
    if len(sizes) == len(disks) and sizes and min(sizes) > 0:
        spread = max(sizes) / min(sizes) - 1
        if (max(sizes) - min(sizes)) * round(1 / SIZE_TOLERANCE) > min(sizes):  # exact: 1 % itself passes
            problems.append(
                f"disk sizes differ by {spread:.1%} ({', '.join(f'{d.path}: {d.size} bytes' for d in disks)}); "
                f"a mirror needs disks within {SIZE_TOLERANCE:.0%}"
            )
    return problems


# ------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class RaidPlan:
    device: str
    disks: tuple[str, ...]
    filesystem: str
    mount: str
    wipe: bool = False
    allow_kernel_names: bool = False

    @property
    def label(self) -> str:
        """The mount point's last name, cut to 12 bytes (XFS labels hold 12, ext4 16) on a character boundary."""
        base = posixpath.basename(self.mount.rstrip("/")) or "backup"
        return base.encode()[:12].decode(errors="ignore")

    def create_argv(self) -> list[str]:
        return [
            "mdadm", "--create", self.device, "--level=1", "--metadata=1.2", "--bitmap=internal",
            f"--raid-devices={len(self.disks)}", *self.disks,
        ]  # fmt: skip

    def mkfs_argv(self) -> list[str]:
        return [f"mkfs.{self.filesystem}", "-L", self.label, self.device]


def plan_from(
    inv: Inventory, disks: list[str] | None = None, *, wipe: bool = False, allow_kernel_names: bool = False
) -> RaidPlan:
    chosen = tuple(disks) if disks else tuple(inv.raid.disks)
    problems = name_problems(list(chosen), allow_kernel_names)
    if problems:
        raise ColabError("; ".join(problems))
    return RaidPlan(inv.raid.device, chosen, inv.raid.filesystem, inv.raid.mount, wipe, allow_kernel_names)


def _detail(r: Runner, device: str, sudo: bool) -> str | None:
    res = r.run(*as_root(sudo, "mdadm", "--detail", device), check=False, mutating=False)
    return res.stdout if res.ok else None


def array_step(plan: RaidPlan, sudo: bool) -> Step:
    def check(r: Runner) -> str | None:
        text = _detail(r, plan.device, sudo)
        if text is None:
            return f"{plan.device} does not exist"
        detail = mdstat.parse_detail(text)
        bad = {"degraded", "failed", "inactive"} & set(detail.state)
        if bad:
            raise ColabError(
                f"{plan.device} exists but is {', '.join(detail.state)}; see `inv raid.status`, nothing was changed"
            )
        members = sorted(dev for _, dev in detail.devices if dev != "-")
        wanted = sorted(d.real or d.path for d in probe_disks(r, list(plan.disks), sudo))
        if members and members != wanted:
            raise ColabError(
                f"{plan.device} exists with {', '.join(members)}, not the disks asked for ({', '.join(wanted)}); "
                "nothing was changed"
            )
        return None

    def act(r: Runner) -> None:
        if r.dry_run:
            note(r, f"guards, on {r.node} before anything changes (read-only):")
            note(
                r,
                f"  names under {BY_ID}"
                + (" (or kernel names: --allow-kernel-names)" if plan.allow_kernel_names else ""),
            )
            note(
                r,
                "  each exists, is a block device, is not mounted (nor its partitions, nor swap), not held by md/LVM",
            )
            note(
                r,
                "  no signature (wipefs --no-act, blkid -p, mdadm --examine)"
                + (": erased below (--wipe)" if plan.wipe else ""),
            )
            note(r, f"  sizes within {SIZE_TOLERANCE:.0%} (blockdev --getsize64)")
        else:
            problems = guard_problems(
                probe_disks(r, list(plan.disks), sudo), allow_kernel_names=plan.allow_kernel_names, wipe=plan.wipe
            )
            if problems:
                raise ColabError(f"refusing to build {plan.device}: " + "; ".join(problems))
        if plan.wipe:
            for disk in plan.disks:
                r.run(
                    *as_root(
                        sudo, "sh", "-c", 'mdadm --zero-superblock "$1" 2>/dev/null; wipefs --all "$1"', "sh", disk
                    )
                )
        r.run(*as_root(sudo, *plan.create_argv()), stdin="", timeout=300)

    def verify(r: Runner) -> str | None:
        return None if _detail(r, plan.device, sudo) is not None else f"{plan.device} did not appear"

    return Step(f"array {plan.device} (RAID1 of {len(plan.disks)})", check, act, verify)


def filesystem_step(plan: RaidPlan, sudo: bool) -> Step:
    def check(r: Runner) -> str | None:
        res = r.run(
            *as_root(sudo, "blkid", "-p", "-o", "value", "-s", "TYPE", plan.device), check=False, mutating=False
        )
        have = res.stdout.strip()
        if not have:
            return f"{plan.device} has no file system"
        if have != plan.filesystem:
            raise ColabError(
                f"{plan.device} holds {have}, the inventory says {plan.filesystem}; refusing to reformat it"
            )
        return None

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, *plan.mkfs_argv()), stdin="", timeout=1800)

    return Step(f"{plan.filesystem} on {plan.device}", check, act)


# $1 mdadm.conf, $2 array device: its ARRAY line from `mdadm --detail --scan` replaces any older line for the
# same device or UUID; written to a temporary file, renamed into place.
_CONF_ARRAY = r"""
conf=$1 dev=$2
line=$(mdadm --detail --scan | awk -v d="$dev" '$1 == "ARRAY" && $2 == d')
[ -n "$line" ] || { echo "mdadm --detail --scan does not list $dev" >&2; exit 1; }
uuid=$(printf '%s\n' "$line" | sed -n 's/.*UUID=\([^ ]*\).*/\1/p')
mkdir -p "$(dirname "$conf")" && touch "$conf" || exit 1
next="$conf.colab-next.$$"; trap 'rm -f "$next"' EXIT
cp -p "$conf" "$next" || exit 1
keep='!($1 == "ARRAY" && ($2 == d || index($0, u)))'
{ awk -v d="$dev" -v u="UUID=$uuid" "$keep" "$conf"; printf '%s\n' "$line"; } > "$next"
mv -f "$next" "$conf"
""".strip()


def _scan_uuid(r: Runner, device: str, sudo: bool) -> str:
    out = r.run(*as_root(sudo, "mdadm", "--detail", "--scan"), check=False, mutating=False).stdout
    for line in out.splitlines():
        words = line.split()
        if words[:2] == ["ARRAY", device]:
            return next((w.removeprefix("UUID=") for w in words if w.startswith("UUID=")), "")
    return ""


def conf_step(plan: RaidPlan, sudo: bool) -> Step:
    def check(r: Runner) -> str | None:
        uuid = _scan_uuid(r, plan.device, sudo)
        conf = r.run("cat", mdstat.MDADM_CONF, check=False, mutating=False).stdout
        listed = any(line.split()[:1] == ["ARRAY"] and f"UUID={uuid}" in line for line in conf.splitlines() if uuid)
        return None if listed else f"{mdstat.MDADM_CONF} does not list {plan.device}"

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "sh", "-c", _CONF_ARRAY, "sh", mdstat.MDADM_CONF, plan.device))
        r.run(*as_root(sudo, "update-initramfs", "-u"), timeout=600)

    return Step(f"{plan.device} in {mdstat.MDADM_CONF} and the initramfs", check, act)


# $1 device, $2 mount point (escaped for fstab: \040 for a space), $3 file system, $4 options, $5 the fstab:
# append `UUID=… mnt fs options 0 2` to it.
_FSTAB_ADD = r"""
dev=$1 mnt=$2 fs=$3 opts=$4 fstab=$5
uuid=$(blkid -s UUID -o value "$dev") && [ -n "$uuid" ] || { echo "$dev has no file system UUID" >&2; exit 1; }
line="UUID=$uuid $mnt $fs $opts 0 2"
next="$fstab.colab-next.$$"; trap 'rm -f "$next"' EXIT
cp -p "$fstab" "$next" && printf '%s\n' "$line" >> "$next" && mv -f "$next" "$fstab" || exit 1
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
""".strip()


def fstab_entry(text: str, mount: str) -> list[str] | None:
    """The fields of the fstab line that mounts `mount`, if any (fields as written: \040 for a space)."""
    for line in text.splitlines():
        fields = line.split()
        if (
            len(fields) >= 4
            and not fields[0].startswith("#")
            and quoting.fstab_unescape(fields[1]).rstrip("/") == mount.rstrip("/")
        ):
            return fields
    return None


def fstab_add_args(plan: RaidPlan, fstab: str = FSTAB) -> list[str]:
    """The arguments of `_FSTAB_ADD`: the mount point escaped as fstab reads it (a space is \\040)."""
    return [plan.device, quoting.fstab(plan.mount), plan.filesystem, FSTAB_OPTIONS, fstab]


def fstab_step(plan: RaidPlan, sudo: bool) -> Step:
    def check(r: Runner) -> str | None:
        uuid = r.run(*as_root(sudo, "blkid", "-s", "UUID", "-o", "value", plan.device), check=False, mutating=False)
        entry = fstab_entry(r.run("cat", FSTAB, check=False, mutating=False).stdout, plan.mount)
        if entry is None:
            return f"{FSTAB} has no line for {plan.mount}"
        want = f"UUID={uuid.stdout.strip()}"
        if entry[0] != want:
            raise ColabError(
                f"{FSTAB} already mounts {entry[0]} at {plan.mount}, not {plan.device} ({want}); "
                "remove that line, then run again"
            )
        if "nofail" not in entry[3].split(","):
            return f"the {FSTAB} line for {plan.mount} lacks nofail"
        return None

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "sh", "-c", _FSTAB_ADD, "sh", *fstab_add_args(plan)))

    return Step(f"{FSTAB}: UUID of {plan.device} at {plan.mount} (nofail)", check, act)


def mounted_step(plan: RaidPlan, sudo: bool) -> Step:
    def check(r: Runner) -> str | None:
        res = r.run("findmnt", "-rn", "-o", "SOURCE", "--mountpoint", plan.mount, check=False, mutating=False)
        source = res.stdout.strip().splitlines()[-1] if res.ok and res.stdout.strip() else ""
        if not source:
            return f"nothing is mounted at {plan.mount}"
        real = r.run("readlink", "-f", plan.device, check=False, mutating=False).stdout.strip()
        if source not in (plan.device, real):
            raise ColabError(f"{plan.mount} holds {source}, not {plan.device}; unmount it first")
        return None

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "mkdir", "-p", plan.mount))
        r.run(*as_root(sudo, "mount", plan.mount), timeout=120)

    return Step(f"{plan.device} mounted at {plan.mount}", check, act)


# ----------------------------------------------------------------------------------------- monitor

# $1 mdadm.conf, then the wanted lines: every MAILADDR/PROGRAM line is replaced by them.
_CONF_MONITOR = r"""
conf=$1; shift
mkdir -p "$(dirname "$conf")" && touch "$conf" || exit 1
next="$conf.colab-next.$$"; trap 'rm -f "$next"' EXIT
cp -p "$conf" "$next" || exit 1
{ grep -vE '^[[:space:]]*(MAILADDR|PROGRAM)[[:space:]]' "$conf"; printf '%s\n' "$@"; } > "$next"
mv -f "$next" "$conf"
if [ -d /run/systemd/system ]; then systemctl try-restart mdmonitor.service 2>/dev/null || true; fi
""".strip()


def monitor_lines_ok(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines() if line.strip().split()[:1] in (["MAILADDR"], ["PROGRAM"])]
    return sorted(lines) == sorted(mdstat.monitor_lines())


def monitor_steps(inv: Inventory, sudo: bool) -> list[Step]:
    def check(r: Runner) -> str | None:
        conf = r.run("cat", mdstat.MDADM_CONF, check=False, mutating=False).stdout
        return None if monitor_lines_ok(conf) else f"{mdstat.MDADM_CONF} lacks `{' / '.join(mdstat.monitor_lines())}`"

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "sh", "-c", _CONF_MONITOR, "sh", mdstat.MDADM_CONF, *mdstat.monitor_lines()))

    return [
        file_step(mdstat.ALERT_PROGRAM, mdstat.alert_program(inv), "755", sudo=sudo),
        Step(f"alerts in {mdstat.MDADM_CONF}", check, act),
    ]


def create_steps(inv: Inventory, plan: RaidPlan, sudo: bool) -> list[Step]:
    return [
        array_step(plan, sudo),
        filesystem_step(plan, sudo),
        conf_step(plan, sudo),
        fstab_step(plan, sudo),
        mounted_step(plan, sudo),
        *monitor_steps(inv, sudo),
    ]


# ------------------------------------------------------------------------------------------ status


def status(r: Runner, inv: Inventory, sudo: bool) -> mdstat.RaidStatus:
    device = inv.raid.device
    stat = r.run("cat", "/proc/mdstat", check=False)
    detail = r.run(*as_root(sudo, "mdadm", "--detail", device), check=False)
    real = r.run("readlink", "-f", device, check=False)
    conf = r.run("cat", mdstat.MDADM_CONF, check=False)
    if r.dry_run:
        return mdstat.RaidStatus(device, mdstat.CLEAN, detail="(dry run: nothing read)")
    st = mdstat.raid_status(device, stat.stdout, detail.stdout if detail.ok else None, real.stdout.strip())
    st.alerts = "configured" if monitor_lines_ok(conf.stdout) else "not configured (run `inv raid.monitor`)"
    return st


def describe_plan(plan: RaidPlan) -> str:
    return " ".join(shlex.quote(a) for a in plan.create_argv())
