"""backup.daily, backup.weekly, backup.prune, backup.list (alias backup.status), backup.restore, backup.check,
backup.offsite.

Thin: parse options, call colab.backup, print, exit 0/1/2. Run anywhere: without --source/--target a task
started off the backup node re-runs itself there over SSH (colab.backup.remote).
"""

from __future__ import annotations

import sys

from invoke import task

from colab.backup import check as checks
from colab.backup import config, engine, listing, offsite_run, remote
from colab.backup import restore as restores
from colab.backup.output import report_json, retention_table, verdicts_json
from colab.cli import HELP, conclude, err, finish, load_inventory, out, user_errors
from colab.errors import ColabError
from colab.metrics import backup as backup_metrics
from colab.steps import Report, print_report

H = {
    "inventory": HELP["inventory"],
    "dry_run": HELP["dry_run"],
    "json": HELP["json"],
    "source": "back up this folder instead of backup.source (runs here, not on the backup node)",
    "target": "use this backup volume instead of backup.target (runs here, not on the backup node)",
    "now": "pretend it is this time, YYYY-MM-DDTHH:MM (tests, drills)",
    "wait": "if another backup run holds the lock, wait for it instead of exiting 1",
}


def _options(**opts: object) -> list[str]:
    """Re-create the command-line options for the same task on the backup node."""
    argv: list[str] = []
    for key, value in opts.items():
        flag = "--" + key.strip("_").replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False and key == "dumps":
            argv.append("--no-dumps")
        elif isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            argv += [flag, str(value)]
    return argv


def _elsewhere(inv: object, source: str | None, target: str | None) -> bool:
    return config.runs_elsewhere(inv, source, target)  # type: ignore[arg-type]


def _show(report: Report, json: bool, **extra: object) -> None:
    if json:
        print(report_json(report, **extra))
    else:
        print_report(report, out())


def _snapshot_task(kind: engine.Kind, inventory, source, target, now, dry_run, json, wait, dumps) -> None:  # type: ignore[no-untyped-def]
    name = f"backup.{kind}"
    inv = load_inventory(inventory)
    config.parse_now(now)  # a bad --now is refused here, before anything runs anywhere
    if _elsewhere(inv, source, target):
        opts = _options(now=now, json=json, wait=wait, **({"dumps": dumps} if kind == "daily" else {}))
        finish(remote.delegate(inv, name, opts, dry_run=dry_run, console=err()))
        return
    cfg = config.make(inv, source=source, target=target, now=now, dry_run=dry_run, wait=wait)
    with backup_metrics.recording(cfg, name, warn=lambda text: err().print(f"warning: {text}")) as metrics:
        result = engine.run(cfg, task=name, kind=kind, with_dumps=dumps and kind == "daily", console=err())
        metrics.done(result.report)  # colab-backup.prom for Prometheus, written whatever the outcome
    if dry_run and result.verdicts:
        if json:
            print(report_json(result.report, retention=verdicts_json(result.verdicts), **result.data))
        else:
            print_report(result.report, out())
            out().print(retention_table(result.verdicts, "retention once this snapshot exists"))
        return
    _show(result.report, json, **result.data)
    finish(result.report.exit_code)


@task(
    help={**H, "dumps": "dump the inventory's PostgreSQL databases too (default; --no-dumps to skip)"},
)
@user_errors
def daily(c, source=None, target=None, now=None, dry_run=False, json=False, wait=False, inventory=None, dumps=True):
    """Take today's snapshot (rsync --link-dest, built under a temporary name) and the database dumps; prune."""
    _snapshot_task("daily", inventory, source, target, now, dry_run, json, wait, dumps)


@task(help=H)
@user_errors
def weekly(c, source=None, target=None, now=None, dry_run=False, json=False, wait=False, inventory=None):
    """Snapshot that reads every byte (rsync --checksum), or an independent full copy if backup.full_copy; prune."""
    _snapshot_task("weekly", inventory, source, target, now, dry_run, json, wait, False)


@task(help={k: H[k] for k in ("target", "dry_run", "json", "wait", "inventory")})
@user_errors
def prune(c, target=None, dry_run=False, json=False, wait=False, inventory=None):
    """Apply retention (7 daily / 4 weekly / 12 monthly by default) to snapshots and dumps; --dry-run says why."""
    inv = load_inventory(inventory)
    if _elsewhere(inv, None, target):
        finish(remote.delegate(inv, "backup.prune", _options(json=json, wait=wait), dry_run=dry_run, console=err()))
        return
    cfg = config.make(inv, target=target, dry_run=dry_run, wait=wait)
    result = engine.prune_run(cfg, task="backup.prune", console=err())
    if json:
        print(report_json(result.report, retention=verdicts_json(result.verdicts)))
    else:
        out().print(retention_table(result.verdicts, f"retention in {cfg.target}"))
        print_report(result.report, out())
    finish(result.report.exit_code)


@task(name="list", aliases=["status"], help={k: H[k] for k in ("target", "now", "json", "inventory")})
@user_errors
def list_(c, target=None, now=None, json=False, inventory=None):
    """Snapshots and dumps on the backup volume: date, kind, size, files, age (--json for data)."""
    inv = load_inventory(inventory)
    config.parse_now(now)
    if _elsewhere(inv, None, target):
        finish(remote.delegate(inv, "backup.list", _options(now=now, json=json), dry_run=False, console=err()))
        return
    cfg = config.make(inv, target=target, now=now)
    config.check_target(cfg)
    items = listing.entries(cfg.target, cfg.now)
    if json:
        print(listing.as_json(items, cfg.target))
    else:
        out().print(listing.table(items, cfg.target))


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        return False
    answer = input(f"{question} Type yes to go on: ")
    return answer.strip().lower() == "yes"


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
        **{k: H[k] for k in ("source", "target", "dry_run", "wait", "inventory")},
    }
)
@user_errors
def restore(
    c,
    snapshot="latest",
    path="",
    into=None,
    in_place=False,
    yes=False,
    dump=None,
    date="latest",
    database=None,
    from_="volume",
    mirror=False,
    source=None,
    target=None,
    dry_run=False,
    wait=False,
    inventory=None,
):
    """Restore a path (or everything) from a snapshot into a new folder, or a dump into a named database."""
    inv = load_inventory(inventory)
    if from_ not in ("volume", "offsite"):
        raise ColabError(f"--from {from_!r}: use volume (the backup volume) or offsite (the restic copy)")
    if _elsewhere(inv, source, target):
        opts = _options(
            snapshot=snapshot,
            path=path,
            into=into,
            in_place=in_place,
            yes=yes,
            dump=dump,
            date=date,
            database=database,
            from_=from_ if from_ != "volume" else "",
            mirror=mirror,
            wait=wait,
        )
        finish(remote.delegate(inv, "backup.restore", opts, dry_run=dry_run, console=err()))
        return
    cfg = config.make(inv, source=source, target=target, dry_run=dry_run, wait=wait)
    if from_ == "offsite":
        if in_place or dump or mirror:
            raise ColabError("--from offsite restores into a new folder only (--into); not with --in-place or --dump")
        conclude(offsite_run.restore(cfg, console=err(), snapshot=snapshot, path=path, into=into))
        return
    if mirror and not in_place:
        raise ColabError("--mirror goes with --in-place: it makes the live folder exactly the snapshot")
    if mirror:
        conclude(restores.mirror(cfg, console=err(), snapshot=snapshot, path=path, yes=yes))
        return
    confirmed = False
    if in_place and not dry_run:
        what = f"database {database}" if dump else f"{cfg.source}/{path}".rstrip("/")
        confirmed = _confirm(f"This overwrites the live {what} with the backup.", yes)
        if not confirmed:
            raise ColabError("not confirmed: nothing restored (without a terminal, add --yes)")
    if dump:
        report = restores.restore_dump(
            cfg,
            console=err(),
            key=dump,
            database=database,
            when=date,
            in_place=in_place,
            confirmed=confirmed or dry_run,
        )
    else:
        report = restores.restore_files(
            cfg,
            console=err(),
            snapshot=snapshot,
            path=path,
            into=into,
            in_place=in_place,
            confirmed=confirmed or dry_run,
        )
    conclude(report)


@task(
    help={
        "full": "trial-restore the whole latest snapshot to a scratch folder and compare every file",
        "sample": "how many files to hash in the spot check (default 32)",
        "scratch": "folder for the --full trial restore (default: on the backup volume)",
        **{k: H[k] for k in ("source", "target", "json", "wait", "inventory")},
    }
)
@user_errors
def check(c, full=False, sample=32, scratch=None, source=None, target=None, json=False, wait=False, inventory=None):
    """Check the latest snapshot against the source: counts and sampled hashes, or everything with --full."""
    inv = load_inventory(inventory)
    if _elsewhere(inv, source, target):
        opts = _options(full=full, sample=sample, scratch=scratch, json=json, wait=wait)
        finish(remote.delegate(inv, "backup.check", opts, dry_run=False, console=err()))
        return
    cfg = config.make(inv, source=source, target=target, wait=wait)
    if full:
        report = checks.full_check(cfg, console=err(), scratch=scratch)
    else:
        report = checks.spot_check(cfg, console=err(), sample=int(sample))
    _show(report, json)
    finish(report.exit_code)


@task(
    help={
        "check": "run restic check on the off-site repository, reading backup.offsite.check_subset of the data",
        **{k: H[k] for k in ("target", "now", "dry_run", "json", "wait", "inventory")},
    }
)
@user_errors
def offsite(c, check=False, target=None, now=None, dry_run=False, json=False, wait=False, inventory=None):
    """Copy the newest snapshot and the dumps to the off-site restic repository (3-2-1); --check verifies it."""
    inv = load_inventory(inventory)
    config.parse_now(now)
    if _elsewhere(inv, None, target):
        opts = _options(check=check, now=now, json=json, wait=wait)
        finish(remote.delegate(inv, "backup.offsite", opts, dry_run=dry_run, console=err()))
        return
    cfg = config.make(inv, target=target, now=now, dry_run=dry_run, wait=wait)
    if check:
        report = offsite_run.check(cfg, console=err())
        _show(report, json)
        finish(report.exit_code)
        return
    with backup_metrics.recording(cfg, "backup.offsite", warn=lambda text: err().print(f"warning: {text}")) as metrics:
        report, data = offsite_run.copy(cfg, console=err())
        metrics.done(report)
    _show(report, json, **data)
    finish(report.exit_code)
