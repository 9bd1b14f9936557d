"""Facts about one node, derived from the inventory: how it mounts fortress, its boot mount, its Docker daemon
settings, the backup schedule as cron lines.

`inv render` lays them out (`colab.render.context` hands them to the templates); `inv fortress.mount` and
`inv status` ask the same questions (`fortress_client`: does this node mount fortress, and how), so the answers
live here, apart from the templates.
"""

from __future__ import annotations

from typing import Any

from colab.backup import install as backup_install
from colab.errors import RenderError
from colab.inventory import Inventory, Node
from colab.quoting import systemd_escape_path
from colab.storage import boot

_CRON_DAYS = {"Sun": 0, "Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6}


def cron_time(when: str) -> str:
    """`HH:MM` -> `M H * * *`; `Day HH:MM` -> `M H * * D` (the inventory's schedule formats)."""
    day, _, clock = when.rpartition(" ")
    hour, minute = (int(x) for x in clock.split(":"))
    return f"{minute} {hour} * * {_CRON_DAYS[day] if day else '*'}"


def backup_cron(inv: Inventory) -> dict[str, str]:
    """The backup node's cron times and what they run (root's own install, not the node user's checkout)."""
    offsite = inv.backup.offsite
    return {
        "daily": cron_time(inv.backup.schedule.daily),
        "weekly": cron_time(inv.backup.schedule.weekly),
        "offsite": cron_time(offsite.schedule) if offsite else "",
        "offsite_check": cron_time(offsite.check_schedule) if offsite and offsite.check_schedule else "",
        "script": backup_install.cron_script(),
        "install": backup_install.ROOT,
    }


# ------------------------------------------------------------------------------------------- Docker


def docker_daemon(inv: Inventory) -> dict[str, Any]:
    """Docker daemon settings for every node: bounded json-file logs, overlay2, non-colliding pools."""
    d = inv.docker
    taken = [*inv.production_networks(), d.cluster_subnet]
    for pool in d.address_pools:
        for net in taken:
            if pool.base.overlaps(net):  # the inventory check refuses this; never render it anyway
                raise RenderError(f"docker.address_pools: {pool.base} collides with {net}; pick another base")
    return {
        "default-address-pools": [{"base": str(p.base), "size": p.size} for p in d.address_pools],
        "log-driver": "json-file",
        "log-opts": {"max-file": str(d.log_max_file), "max-size": d.log_max_size},
        "storage-driver": "overlay2",
    }


# What Docker Desktop manages itself: the storage of the engine inside its VM. With its containerd image
# store (the default for new installs since Docker Desktop 4.34), "storage-driver": "overlay2" names a
# snapshotter containerd does not have and pulls fail (moby/moby#46254), so Docker Desktop does not get it.
_DESKTOP_MANAGED = ("storage-driver",)


def docker_desktop_daemon(inv: Inventory) -> dict[str, Any]:
    """The daemon settings for Docker Desktop (macOS, and Windows under WSL nodes): logs and pools as everywhere."""
    return {k: v for k, v in docker_daemon(inv).items() if k not in _DESKTOP_MANAGED}


def node_docker_daemon(inv: Inventory, node: Node) -> dict[str, Any]:
    """A node's daemon settings: Docker Engine on Debian, Docker Desktop on WSL (its Windows side) and macOS."""
    return docker_daemon(inv) if node.os == "debian" else docker_desktop_daemon(inv)


# ----------------------------------------------------------------------------------------- fortress


def fortress_client(inv: Inventory, node: Node) -> str:
    """How this node mounts fortress: "" (it is the server), "systemd", "wsl" or "macos".

    "wsl": the Linux side as "systemd" (the same mount + automount units), plus the Windows drive, which
    `inv fortress.mount` maps through interop.
    """
    if node.name == inv.fortress.server:
        return ""
    return {"debian": "systemd", "wsl": "wsl", "macos": "macos"}[node.os]


def fortress_units(inv: Inventory, node: Node) -> bool:
    """Whether the node gets the systemd mount + automount units: Debian clients and WSL nodes."""
    return fortress_client(inv, node) in ("systemd", "wsl")


def boot_mount(inv: Inventory, node: Node) -> dict[str, Any]:
    """What the boot-mount files need (colab.storage.boot): unit names, paths, retry timing, files to install."""
    server = node.name == inv.fortress.server
    return {
        "server": server,
        "docker": node.os == "debian",  # Docker Engine with a systemd unit (WSL and macOS run Docker Desktop)
        "password_unit": boot.PASSWORD_UNIT,
        "script": boot.PASSWORD_SCRIPT,
        "runtime_dir": boot.RUNTIME_DIR.rsplit("/", 1)[1],
        "credentials": boot.CREDENTIALS,
        "identity_dir": boot.IDENTITY_DIR,
        "mount_unit": boot.mount_unit(inv.fortress_mount(node)),
        "after_units": boot.after_units(node),
        "first_delay": boot.FIRST_DELAY,
        "max_delay": boot.MAX_DELAY,
        "mount_wait": boot.MOUNT_WAIT,
        "files": boot.server_files() if server else boot.client_files(inv, node) if fortress_units(inv, node) else [],
    }


def fortress(inv: Inventory, node: Node) -> dict[str, Any]:
    """How this node reaches fortress: client kind, mount point, server address, units, login, boot mount."""
    server = inv.nodes[inv.fortress.server]
    client = fortress_client(inv, node)
    mount = inv.fortress_mount(node)
    login = inv.fortress_login(node) if client else None  # a client mounts as its own user
    if client == "macos" and mount != f"/Volumes/{inv.fortress.share}":
        raise RenderError(
            f"fortress.mounts.macos: macOS mounts the share {inv.fortress.share!r} at "
            f"/Volumes/{inv.fortress.share}, not {mount}; set it to /Volumes/{inv.fortress.share}"
        )
    return {
        "client": client,
        "mount": mount,
        # The mesh address: stable wherever the node is (the LAN one is not reachable from away).
        "server": str(server.mesh),
        "unc": f"//{server.mesh}/{inv.fortress.share}",
        "unit": systemd_escape_path(mount),
        "units": fortress_units(inv, node),
        "drive": inv.fortress.mounts.windows,
        "user": login.user if login else "",
        "password_name": login.password_name if login else "",
        "boot": boot_mount(inv, node),
    }
