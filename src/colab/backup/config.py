"""What a backup run works with: the inventory's backup section, overridden by --source/--target/--now."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from colab.backup import snapshots, state
from colab.backup.retention import Policy
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.options import NOW_FORMAT as NOW_FORMAT  # re-exported: snapshot names and --now share it
from colab.options import parse_now as parse_now  # re-exported: backup tasks check --now before anything runs
from colab.runner import this_node


@dataclass(frozen=True)
class Config:
    inv: Inventory
    node: str  # the node this runs on (for reports)
    source: Path
    target: Path
    now: datetime
    policy: Policy
    full_copy: bool = False
    ping_url: str = ""
    ping_kind: str = "auto"
    vanish_threshold: int = 25  # percent of the previous snapshot's files (backup.vanish_threshold)
    overridden: bool = False  # --source or --target was given
    target_given: bool = False  # --target was given (what to say when it is wrong)
    dry_run: bool = False
    wait: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def _abs(option: str, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = Path.cwd() / path
    return Path(os.path.normpath(path))


def make(
    inv: Inventory,
    *,
    source: str | None = None,
    target: str | None = None,
    now: str | None = None,
    dry_run: bool = False,
    wait: bool = False,
) -> Config:
    b = inv.backup
    return Config(
        inv=inv,
        node=this_node(),
        source=_abs("--source", source) if source else Path(b.source),
        target=_abs("--target", target) if target else Path(b.target),
        now=parse_now(now),
        policy=Policy(b.retention.daily, b.retention.weekly, b.retention.monthly),
        full_copy=b.full_copy,
        ping_url=b.ping_url,
        ping_kind=b.ping_kind,
        vanish_threshold=b.vanish_threshold,
        overridden=bool(source or target),
        target_given=bool(target),
        dry_run=dry_run,
        wait=wait,
    )


def runs_elsewhere(inv: Inventory, source: str | None, target: str | None) -> bool:
    """True when the task must run on the backup node instead: we are elsewhere and no path was overridden."""
    return not (source or target) and this_node() != inv.backup.node


def check_target(cfg: Config) -> None:
    """The backup volume is there: a directory, and when it comes from the inventory, a mounted volume
    (or one this project already uses), so an unmounted /mnt/backup never fills the root file system; and
    nobody but its owner can write its top folder (`state.check_target`)."""
    t = cfg.target
    if not t.is_dir():
        if cfg.target_given:
            how = "create it (an empty folder of your own) or give --target an existing folder"
        elif cfg.overridden:
            how = "pass --target (backup.target is used with --source alone)"
        else:
            how = f"mount the backup volume at {t} (or fix backup.target)"
        raise ColabError(f"backup target {t} is not a directory; {how}")
    if cfg.overridden or os.path.ismount(t) or snapshots.state_dir(t).is_dir():
        state.check_target(t)
        return
    raise ColabError(
        f"backup target {t} is not a mounted volume and holds no backups: is the RAID mounted? "
        f"Mount it, or create {snapshots.state_dir(t)} to back up into a plain folder"
    )


def check_source(cfg: Config) -> None:
    s, t = cfg.source, cfg.target
    if not s.is_dir():
        raise ColabError(
            f"backup source {s} is not a directory; is fortress mounted? (or fix backup.source / --source)"
        )
    rs, rt = s.resolve(), t.resolve()
    if rs == rt or rt.is_relative_to(rs) or rs.is_relative_to(rt):
        raise ColabError(f"backup source {s} and target {t} overlap; they must be separate folders")
    with os.scandir(s) as it:
        if next(it, None) is None:
            raise ColabError(f"backup source {s} is empty: is fortress mounted? refusing to take an empty snapshot")
