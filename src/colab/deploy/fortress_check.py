"""Deploy only onto a node whose fortress is there.

A service's files go to `<fortress>/docker/<service>` and its data to `<fortress>/data/<service>` on the target.
On a node where fortress is not mounted, the mount point is a bare folder on the node's own disk: writing there
would put the service's files and data beside fortress, hidden (and split from the real data) once fortress
mounts over them. The inventory's fortress folders (docker/, data/, cache/) exist only on the share itself
(`inv fortress.share` makes them), so their absence means "not mounted": the deploy stops before it changes
anything, in one line.
"""

from __future__ import annotations

from colab.errors import ColabError
from colab.inventory import Inventory

from .session import Session

# Prints each folder of $@ that is not a directory, one a line.
SCRIPT = 'for d; do [ -d "$d" ] || printf "%s\\n" "$d"; done'


def argv(inv: Inventory, fortress: str) -> list[str]:
    return ["sh", "-c", SCRIPT, "sh", *(f"{fortress}/{folder}" for folder in inv.fortress.folders)]


def require_folders(inv: Inventory, s: Session) -> None:
    """Raise ColabError (nothing changed) when fortress's folders are missing on the target node."""
    t = s.target
    res = s.node.run(*argv(inv, t.fortress), check=False, mutating=False)
    if s.node.dry_run:
        return
    if not res.ok:
        raise ColabError(f"cannot look at {t.fortress} on {t.node.name}: {res.last_line}")
    missing = [line for line in res.stdout.splitlines() if line]
    if missing:
        fix = (
            f"inv fortress.share --node {t.node.name}"
            if t.node.name == inv.fortress.server
            else f"inv fortress.mount --node {t.node.name}"
        )
        raise ColabError(
            f"fortress is not mounted on {t.node.name}: {', '.join(missing)} missing, and {t.service.name} would "
            f"be written onto the bare mount point; mount it (`{fix}`), then deploy again (nothing was changed)"
        )
