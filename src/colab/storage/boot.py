"""Fortress at boot: which units mount it, where their files go, and how `inv status` reads their state.

Clients (Debian nodes and the Linux side of WSL nodes) get, from the same templates chezmoi renders:
- `colab-fortress-password.service` (Type=notify) running `/usr/local/lib/colab/fortress-password`: it logs in to
  Infisical with the node's machine identity (Universal Auth; the client id and secret in root-only files under
  /etc/colab/infisical), reads the Samba password into memory, writes it for mount.cifs into a root-only file on
  tmpfs (/run/colab-fortress/credentials), reports ready, starts the mount, waits for it, removes the file, and
  starts Docker if it is enabled and not running (a failed mount or an unmount stopped it). While Infisical (a
  service on the fortress server) or its node is not up, it retries with back-off (1 s doubling to 30 s, for
  ever) and says why in its status text: "waiting for the password: …".
- `<mount>.mount` (CIFS, `credentials=` that file), Wants= and After= the password unit, WantedBy=remote-fs.target.
- On Debian nodes a Docker drop-in, `RequiresMountsFor=<mount>`: Docker, and the containers its restart policies
  bring back, start only once fortress is mounted; if the mount fails, Docker does not start at all.
The fortress server gets a mount unit by UUID (written by `inv fortress.share`, which finds the UUID on the
node) and drop-ins making smbd and Docker require it.

The password never reaches systemd's manager environment, a unit's environment, an argv, the journal or a
disk: it is in the script's shell variables, in the environment of the one `infisical run` child that
prints it, in the tmpfs file while the mount runs, and in the kernel (for reconnects, as any CIFS mount).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from colab import quoting
from colab.inventory import Inventory, Node

UNIT_DIR = "/etc/systemd/system"
PASSWORD_UNIT = "colab-fortress-password.service"
PASSWORD_SCRIPT = "/usr/local/lib/colab/fortress-password"
RUNTIME_DIR = "/run/colab-fortress"  # RuntimeDirectory= of the password unit: tmpfs, 0700 root
CREDENTIALS = f"{RUNTIME_DIR}/credentials"
IDENTITY_DIR = "/etc/colab/infisical"  # root:root 0700; client-id and client-secret, 0600
IDENTITY_FILES = ("client-id", "client-secret")
DROPIN = "colab-fortress.conf"
DOCKER_DROPIN = f"{UNIT_DIR}/docker.service.d/{DROPIN}"
SMBD_DROPIN = f"{UNIT_DIR}/smbd.service.d/{DROPIN}"
FIRST_DELAY = 1  # seconds before the first retry; doubles up to MAX_DELAY
MAX_DELAY = 30  # so a node notices Infisical back within half a minute, however long it was away
MOUNT_WAIT = 90  # seconds the password unit waits for the mount it started (the mount's own timeout is 30)

# Rendered source (under ~/.config/colab/) -> where the installer puts it, and its mode.
CLIENT_FILES = (
    ("fortress/fortress-password.sh", PASSWORD_SCRIPT, "755"),
    ("fortress/fortress-password.service", f"{UNIT_DIR}/{PASSWORD_UNIT}", "644"),
    ("fortress/fortress.mount", "", "644"),  # the unit's name comes from the mount point
    ("docker/fortress.conf", DOCKER_DROPIN, "644"),  # Debian only: WSL's Docker is Docker Desktop on Windows
)
SERVER_FILES = (
    ("fortress/smbd-fortress.conf", SMBD_DROPIN, "644"),
    ("docker/fortress.conf", DOCKER_DROPIN, "644"),
)


def mount_unit(path: str) -> str:
    """The name of the mount unit for `path` (`systemd-escape --path --suffix=mount`)."""
    return f"{quoting.systemd_escape_path(path)}.mount"


def client_files(inv: Inventory, node: Node) -> list[tuple[str, str, str]]:
    """(rendered source under ~/.config/colab, installed path, mode) of a client's boot-mount files."""
    unit = mount_unit(inv.fortress_mount(node))
    out = []
    for source, dest, mode in CLIENT_FILES:
        if source.startswith("docker/") and node.os != "debian":
            continue
        out.append((source, dest or f"{UNIT_DIR}/{unit}", mode))
    return out


def server_files() -> list[tuple[str, str, str]]:
    return list(SERVER_FILES)


def after_units(node: Node) -> list[str]:
    """Units the drop-ins make wait for fortress on this node, started again after a mount that had failed."""
    return ["docker.service"] if node.os == "debian" else []


# ----------------------------------------------------------------------------------------- the server


def server_unit(inv: Inventory, uuid: str) -> str:
    """The fortress server's mount unit: the file system by UUID at `fortress.path` (WantedBy local-fs.target, so a
    missing device does not stop the boot; smbd and Docker require it through their drop-ins)."""
    f = inv.fortress
    path = quoting.systemd(f.path)
    return (
        f"# {mount_unit(f.path)} on {f.server}: fortress at {f.path}, its file system found by UUID at boot.\n"
        "# Written by `inv fortress.share` from the inventory (fortress.device, .filesystem, .path) and the UUID it\n"
        "# found there; smbd and Docker require it (drop-ins from `inv render`). Do not edit: run it again.\n"
        "[Unit]\n"
        f"Description=fortress ({quoting.systemd(f.filesystem)} on {quoting.systemd(f.device)}) at {path}\n"
        "\n"
        "[Mount]\n"
        f"What=/dev/disk/by-uuid/{uuid}\n"
        f"Where={path}\n"
        f"Type={f.filesystem}\n"
        "Options=defaults\n"
        "\n"
        "[Install]\n"
        "WantedBy=local-fs.target\n"
    )


_UUID = re.compile(r"^[0-9A-Fa-f][0-9A-Fa-f-]{3,63}$")


def pick_uuid(lsblk: str, filesystem: str) -> tuple[str, str] | None:
    """(device path, UUID) of the one `filesystem` in `lsblk -rnpo PATH,FSTYPE,UUID <device>` output."""
    found = []
    for line in lsblk.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == filesystem and _UUID.fullmatch(parts[2]):
            found.append((parts[0], parts[2]))
    return found[0] if len(found) == 1 else None


# ------------------------------------------------------------------------------------ state, for status


# What `inv status` runs on a Linux node (as the login user: `systemctl show` needs no privileges): the boot
# units' properties, and when systemd finished starting up. Prints `@none` without systemd (macOS, a WSL
# distribution without it).
PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "Result",
    "UnitFileState",
    "FragmentPath",
    "StatusText",
    "ActiveEnterTimestampMonotonic",
)
STATE_SCRIPT = (
    "[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 || { echo @none; exit 0; }; "
    "echo @manager; systemctl show -p FinishTimestampMonotonic; "
    "for u; do echo @unit; systemctl show -p " + ",".join(PROPERTIES) + ' -- "$u"; done'
)


def state_argv(units: list[str]) -> list[str]:
    return ["sh", "-c", STATE_SCRIPT, "sh", *units]


@dataclass
class UnitState:
    name: str
    props: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> str:
        return self.props.get(key, "")

    @property
    def loaded(self) -> bool:
        return self.get("LoadState") == "loaded"

    @property
    def active(self) -> bool:
        return self.get("ActiveState") == "active"

    @property
    def entered(self) -> int:
        value = self.get("ActiveEnterTimestampMonotonic")
        return int(value) if value.isdigit() else 0


@dataclass
class BootState:
    """The boot units of one node as systemd reports them; `None` fields when there is no systemd."""

    finished: int  # monotonic µs when startup finished; 0 while it has not
    units: dict[str, UnitState]

    def unit(self, name: str) -> UnitState:
        return self.units.get(name) or UnitState(name)


def parse_state(text: str) -> BootState | None:
    """The output of STATE_SCRIPT; None when the node has no systemd."""
    if text.strip() == "@none" or "@manager" not in text:
        return None
    finished = 0
    units: dict[str, UnitState] = {}
    current: UnitState | None = None
    section = ""
    for line in text.splitlines():
        if line in ("@manager", "@unit"):
            section = line
            current = UnitState("") if line == "@unit" else None
            continue
        key, eq, value = line.partition("=")
        if not eq:
            continue
        if section == "@manager" and key == "FinishTimestampMonotonic":
            finished = int(value) if value.isdigit() else 0
        elif current is not None:
            current.props[key] = value
            if key == "Id":
                current.name = value
                units[value] = current
    return BootState(finished, units)


@dataclass(frozen=True)
class BootVerdict:
    """How fortress got (or did not get) mounted on a node with systemd.

    kind: `since boot` (mounted by the boot units while the node started), `by hand` (mounted some other way,
    or later), `waiting` (the password unit is still trying), `failed`, or `off` (not mounted, nothing trying).
    detail: what to say after "mounted …" or "not mounted at …" ("" when nothing). comes_back: the boot units are
    installed and enabled, so it mounts by itself after a reboot.
    """

    kind: str
    detail: str
    comes_back: bool


NO_REBOOT = "it will not mount by itself after a reboot"


def _ours(unit: UnitState, name: str) -> tuple[bool, bool]:
    """(installed from our file, enabled at boot)."""
    ours = unit.loaded and unit.get("FragmentPath") == f"{UNIT_DIR}/{name}"
    return ours, ours and unit.get("UnitFileState") in ("enabled", "enabled-runtime", "linked")


def _during_boot(state: BootState, unit: UnitState) -> bool:
    return unit.active and (state.finished == 0 or unit.entered <= state.finished)


def client_verdict(state: BootState, mount: str, mounted: bool) -> BootVerdict:
    """For a client: mounted through the boot units while it started, by hand, or why it is not mounted."""
    pw, mu = state.unit(PASSWORD_UNIT), state.unit(mount)
    ours, enabled = _ours(mu, mount)
    installed = ours and pw.loaded
    if mounted:
        if not installed:
            return BootVerdict("by hand", f"no boot units ({mount}, {PASSWORD_UNIT}): {NO_REBOOT}", False)
        if not enabled:
            return BootVerdict("by hand", f"{mount} is not enabled: {NO_REBOOT}", False)
        if _during_boot(state, mu):
            return BootVerdict("since boot", "", True)
        return BootVerdict("by hand", "after boot; the boot mount is enabled", True)
    status = pw.get("StatusText")
    if pw.get("ActiveState") == "activating":
        return BootVerdict("waiting", status or "waiting for the password", enabled)
    if pw.get("ActiveState") == "failed":
        return BootVerdict(
            "failed", f"the boot mount failed: {status or PASSWORD_UNIT + ' ' + pw.get('Result')}", enabled
        )
    if mu.get("ActiveState") == "failed":
        return BootVerdict("failed", f"{mount} failed ({mu.get('Result')}; journalctl -u {mount})", enabled)
    if not installed:
        return BootVerdict("off", f"no boot mount ({mount} is not installed: inv fortress.mount)", False)
    return BootVerdict("off", "" if enabled else f"{mount} is not enabled (inv fortress.mount)", enabled)


def server_verdict(state: BootState, mount: str, mounted: bool) -> BootVerdict:
    """For the server: its file system mounted by the UUID unit while it started, or by hand."""
    mu = state.unit(mount)
    ours, enabled = _ours(mu, mount)
    if mounted:
        if not enabled:
            why = "is not enabled" if ours else "is not written yet (inv fortress.share)"
            return BootVerdict("by hand", f"{mount} {why}: {NO_REBOOT}", False)
        if _during_boot(state, mu):
            return BootVerdict("since boot", "", True)
        return BootVerdict("by hand", "after boot; the boot mount is enabled", True)
    if mu.get("ActiveState") == "failed":
        return BootVerdict("failed", f"{mount} failed ({mu.get('Result')}; journalctl -u {mount})", enabled)
    return BootVerdict("off", "" if enabled else f"no boot mount ({mount}: inv fortress.share)", enabled)
