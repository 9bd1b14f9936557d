"""The boot-mount files laid out for `systemd-analyze verify`, which loads unit files without a running systemd.

verify checks that ExecStart= is executable, so the password unit's command is pointed at the script's copy here
(the one change); Docker's drop-in is verified on a stand-in docker.service beside it (verify reads a unit's
`.d/` folder next to it, and reports a bad drop-in line there).
"""

from __future__ import annotations

from pathlib import Path

from colab.inventory import Inventory, Node
from colab.storage import boot, mounts


def lay_out(inv: Inventory, node: Node, dest: Path) -> list[str]:
    """Write `node`'s boot-mount files under `dest`; returns the unit files to pass to `systemd-analyze verify`."""
    dest.mkdir(parents=True, exist_ok=True)
    script = dest / "fortress-password"
    units: list[str] = []
    for path, text, mode in mounts.boot_files(inv, node):
        if path == boot.PASSWORD_SCRIPT:
            script.write_text(text)
            script.chmod(int(mode, 8))
            continue
        if path == boot.DOCKER_DROPIN:
            (dest / "docker.service").write_text("[Service]\nExecStart=/bin/true\n")
            (dest / "docker.service.d").mkdir(exist_ok=True)
            (dest / "docker.service.d" / boot.DROPIN).write_text(text)
            units.append(str(dest / "docker.service"))
            continue
        name = path.rsplit("/", 1)[1]
        if name == boot.PASSWORD_UNIT:
            text = text.replace(f"ExecStart={boot.PASSWORD_SCRIPT}\n", f"ExecStart={script}\n")
        (dest / name).write_text(text)
        units.append(str(dest / name))
    return units
