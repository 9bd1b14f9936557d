"""backup.daily, backup.weekly, backup.prune, backup.list (alias backup.status), backup.restore, backup.check,
backup.offsite.

Thin: options in, one call to colab.backup.commands, its exit code out (0/1/2). Run anywhere: without
--source/--target a task started off the backup node re-runs itself there over SSH (colab.backup.remote).
"""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, err, finish, load_inventory, out, user_errors

H = {
    "inventory": HELP["inventory"],
    "dry_run": HELP["dry_run"],
    "json": HELP["json"],
    "source": "back up this folder instead of backup.source (runs here, not on the backup node)",
    "target": "use this backup volume instead of backup.target (runs here, not on the backup node)",
    "now": "pretend it is this time, YYYY-MM-DDTHH:MM (tests, drills)",
    "wait": "if another backup run holds the lock, wait for it instead of exiting 1",
}


@task(
    help={**H, "dumps": "dump the inventory's PostgreSQL databases too (default; --no-dumps to skip)"},
)
@user_errors
def daily(
    c: Context,
    source: str | None = None,
    target: str | None = None,
    now: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    wait: bool = False,
    inventory: str | None = None,
    dumps: bool = True,
) -> None:
    """Take today's snapshot (rsync --link-dest, built under a temporary name) and the database dumps; prune."""
    from colab.backup import commands

    code = commands.snapshot(
        load_inventory(inventory), "daily", out(), err(),
        source=source, target=target, now=now, dry_run=dry_run, as_json=json, wait=wait, dumps=dumps,
    )  # fmt: skip
    finish(code)


@task(help=H)
@user_errors
def weekly(
    c: Context,
    source: str | None = None,
    target: str | None = None,
    now: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    wait: bool = False,
    inventory: str | None = None,
) -> None:
    """Snapshot that reads every byte (rsync --checksum), or an independent full copy if backup.full_copy; prune."""
    from colab.backup import commands

    code = commands.snapshot(
        load_inventory(inventory), "weekly", out(), err(),
        source=source, target=target, now=now, dry_run=dry_run, as_json=json, wait=wait, dumps=False,
    )  # fmt: skip
    finish(code)


@task(help={k: H[k] for k in ("target", "dry_run", "json", "wait", "inventory")})
@user_errors
def prune(
    c: Context,
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    wait: bool = False,
    inventory: str | None = None,
) -> None:
    """Apply retention (7 daily / 4 weekly / 12 monthly by default) to snapshots and dumps; --dry-run says why."""
    from colab.backup import commands

    inv = load_inventory(inventory)
    finish(commands.prune(inv, out(), err(), target=target, dry_run=dry_run, as_json=json, wait=wait))


@task(name="list", aliases=["status"], help={k: H[k] for k in ("target", "now", "json", "inventory")})
@user_errors
def list_(
    c: Context, target: str | None = None, now: str | None = None, json: bool = False, inventory: str | None = None
) -> None:
    """Snapshots and dumps on the backup volume: date, kind, size, files, age (--json for data)."""
    from colab.backup import commands

    inv = load_inventory(inventory)
    finish(commands.listing_of(inv, out(), err(), target=target, now=now, as_json=json))


@task(
    help={
        "snapshot": "latest (default), YYYY-MM-DD or fortress-YYYYMMDD",
        "path": "a file or folder inside the snapshot (relative, or absolute under the source); default everything",
        "into": "restore into this new (or empty) folder",
        "in_place": "restore over the live data (asks for confirmation; --yes without a terminal)",
        "yes": "confirm --in-place without asking",
        "dump": "restore a database dump instead: SERVICE/DATABASE (see backup.list)",
        "date": "which dump: latest (default) or YYYY-MM-DD",
        "database": "the database to restore the dump into (created when missing)",
        "from": "where from: volume (the backup volume, default) or offsite (the restic copy; needs --into)",
        "mirror": "with --in-place: also delete live files that are not in the snapshot (shows the plan; --yes)",
        "source": "the live folder instead of backup.source: where --in-place writes, what an absolute --path "
        "is under (runs here, not on the backup node)",
        **{k: H[k] for k in ("target", "dry_run", "wait", "inventory")},
    }
)
@user_errors
def restore(
    c: Context,
    snapshot: str = "latest",
    path: str = "",
    into: str | None = None,
    in_place: bool = False,
    yes: bool = False,
    dump: str | None = None,
    date: str = "latest",
    database: str | None = None,
    from_: str = "volume",
    mirror: bool = False,
    source: str | None = None,
    target: str | None = None,
    dry_run: bool = False,
    wait: bool = False,
    inventory: str | None = None,
) -> None:
    """Restore a path (or everything) from a snapshot into a new folder, or a dump into a named database."""
    from colab.backup import commands

    code = commands.restore(
        load_inventory(inventory), out(), err(),
        snapshot=snapshot, path=path, into=into, in_place=in_place, yes=yes, dump=dump, date=date,
        database=database, from_=from_, mirror=mirror, source=source, target=target, dry_run=dry_run, wait=wait,
    )  # fmt: skip
    finish(code)


@task(
    help={
        "full": "trial-restore the whole latest snapshot to a scratch folder and compare every file",
        "sample": "how many files to hash in the spot check (default 32)",
        "scratch": "folder for the --full trial restore (default: on the backup volume)",
        "source": "compare with this folder instead of backup.source (runs here, not on the backup node)",
        **{k: H[k] for k in ("target", "json", "wait", "inventory")},
    }
)
@user_errors
def check(
    c: Context,
    full: bool = False,
    sample: int = 32,
    scratch: str | None = None,
    source: str | None = None,
    target: str | None = None,
    json: bool = False,
    wait: bool = False,
    inventory: str | None = None,
) -> None:
    """Check the latest snapshot against the source: counts and sampled hashes, or everything with --full."""
    from colab.backup import commands

    code = commands.check(
        load_inventory(inventory), out(), err(),
        full=full, sample=sample, scratch=scratch, source=source, target=target, as_json=json, wait=wait,
    )  # fmt: skip
    finish(code)


@task(
    help={
        "check": "run restic check on the off-site repository, reading backup.offsite.check_subset of the data",
        **{k: H[k] for k in ("target", "now", "dry_run", "json", "wait", "inventory")},
    }
)
@user_errors
def offsite(
    c: Context,
    check: bool = False,
    target: str | None = None,
    now: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    wait: bool = False,
    inventory: str | None = None,
) -> None:
    """Copy the newest snapshot and the dumps to the off-site restic repository (3-2-1); --check verifies it."""
    from colab.backup import commands

    code = commands.offsite(
        load_inventory(inventory), out(), err(),
        check=check, target=target, now=now, dry_run=dry_run, as_json=json, wait=wait,
    )  # fmt: skip
    finish(code)
