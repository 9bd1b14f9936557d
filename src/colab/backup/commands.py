"""The backup tasks as functions: options checked, the run delegated to the backup node or done here, the result
printed (table or JSON); each returns the exit code. tasks/backup.py only parses options and calls these.

Without --source/--target, a task started off the backup node re-runs itself there over SSH (`remote`): the
same options are written back as a command line (`remote.options`).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from colab import confirm
from colab.backup import check as checks
from colab.backup import config, listing, offsite_run, remote, runs
from colab.backup import restore as restores
from colab.backup.output import report_json, retention_table, verdicts_json
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.metrics import backup_metrics
from colab.steps import Report, print_report


def _show(report: Report, out: Console, as_json: bool, **extra: Any) -> int:
    if as_json:
        print(report_json(report, **extra))
    else:
        print_report(report, out)
    return report.exit_code


def _warner(err: Console) -> Any:
    return lambda text: err.print(f"warning: {text}")


def snapshot(
    inv: Inventory,
    kind: runs.Kind,
    out: Console,
    err: Console,
    *,
    source: str | None,
    target: str | None,
    now: str | None,
    dry_run: bool,
    as_json: bool,
    wait: bool,
    dumps: bool,
) -> int:
    """backup.daily / backup.weekly."""
    name = f"backup.{kind}"
    config.parse_now(now)  # a bad --now is refused here, before anything runs anywhere
    if config.runs_elsewhere(inv, source, target):
        opts = remote.options(now=now, json=as_json, wait=wait, **({"dumps": dumps} if kind == "daily" else {}))
        return remote.delegate(inv, name, opts, dry_run=dry_run, console=err)
    cfg = config.make(inv, source=source, target=target, now=now, dry_run=dry_run, wait=wait)
    with backup_metrics.recording(cfg, name, warn=_warner(err)) as metrics:
        result = runs.run(cfg, task=name, kind=kind, with_dumps=dumps and kind == "daily", console=err)
        metrics.done(result.report)  # colab-backup.prom for Prometheus, written whatever the outcome
    if dry_run and result.verdicts:
        if as_json:
            print(report_json(result.report, retention=verdicts_json(result.verdicts), **result.data))
        else:
            print_report(result.report, out)
            out.print(retention_table(result.verdicts, "retention once this snapshot exists"))
        return 0
    return _show(result.report, out, as_json, **result.data)


def prune(
    inv: Inventory, out: Console, err: Console, *, target: str | None, dry_run: bool, as_json: bool, wait: bool
) -> int:
    """backup.prune."""
    if config.runs_elsewhere(inv, None, target):
        opts = remote.options(json=as_json, wait=wait)
        return remote.delegate(inv, "backup.prune", opts, dry_run=dry_run, console=err)
    cfg = config.make(inv, target=target, dry_run=dry_run, wait=wait)
    result = runs.prune_run(cfg, task="backup.prune", console=err)
    if as_json:
        print(report_json(result.report, retention=verdicts_json(result.verdicts)))
    else:
        out.print(retention_table(result.verdicts, f"retention in {cfg.target}"))
        print_report(result.report, out)
    return result.report.exit_code


def listing_of(
    inv: Inventory, out: Console, err: Console, *, target: str | None, now: str | None, as_json: bool
) -> int:
    """backup.list (backup.status)."""
    config.parse_now(now)
    if config.runs_elsewhere(inv, None, target):
        return remote.delegate(inv, "backup.list", remote.options(now=now, json=as_json), dry_run=False, console=err)
    cfg = config.make(inv, target=target, now=now)
    config.check_target(cfg)
    items = listing.entries(cfg.target, cfg.now)
    if as_json:
        print(listing.as_json(items, cfg.target))
    else:
        out.print(listing.table(items, cfg.target))
    return 0


def restore(
    inv: Inventory,
    out: Console,
    err: Console,
    *,
    snapshot: str,
    path: str,
    into: str | None,
    in_place: bool,
    yes: bool,
    dump: str | None,
    date: str,
    database: str | None,
    from_: str,
    mirror: bool,
    source: str | None,
    target: str | None,
    dry_run: bool,
    wait: bool,
    ask: confirm.Ask | None = None,
) -> int:
    """backup.restore: files or a dump, from the volume or the off-site copy, into a folder or in place."""
    if from_ not in ("volume", "offsite"):
        raise ColabError(f"--from {from_!r}: use volume (the backup volume) or offsite (the restic copy)")
    if config.runs_elsewhere(inv, source, target):
        opts = remote.options(
            snapshot=snapshot, path=path, into=into, in_place=in_place, yes=yes, dump=dump, date=date,
            database=database, from_=from_ if from_ != "volume" else "", mirror=mirror, wait=wait,
        )  # fmt: skip
        return remote.delegate(inv, "backup.restore", opts, dry_run=dry_run, console=err)
    cfg = config.make(inv, source=source, target=target, dry_run=dry_run, wait=wait)
    if from_ == "offsite":
        if in_place or dump or mirror:
            raise ColabError("--from offsite restores into a new folder only (--into); not with --in-place or --dump")
        return _show(offsite_run.restore(cfg, console=err, snapshot=snapshot, path=path, into=into), out, False)
    if mirror and not in_place:
        raise ColabError("--mirror goes with --in-place: it makes the live folder exactly the snapshot")
    if mirror:
        return _show(restores.mirror(cfg, console=err, snapshot=snapshot, path=path, yes=yes), out, False)
    ok = False
    if in_place and not dry_run:
        what = f"database {database}" if dump else f"{cfg.source}/{path}".rstrip("/")
        ok = confirm.confirmed(f"This overwrites the live {what} with the backup.", yes, ask)
        if not ok:
            raise ColabError("not confirmed: nothing restored (without a terminal, add --yes)")
    if dump:
        report = restores.restore_dump(
            cfg, console=err, key=dump, database=database, when=date, in_place=in_place, confirmed=ok or dry_run
        )
    else:
        report = restores.restore_files(
            cfg, console=err, snapshot=snapshot, path=path, into=into, in_place=in_place, confirmed=ok or dry_run
        )
    return _show(report, out, False)


def check(
    inv: Inventory,
    out: Console,
    err: Console,
    *,
    full: bool,
    sample: int,
    scratch: str | None,
    source: str | None,
    target: str | None,
    as_json: bool,
    wait: bool,
) -> int:
    """backup.check."""
    if config.runs_elsewhere(inv, source, target):
        opts = remote.options(full=full, sample=sample, scratch=scratch, json=as_json, wait=wait)
        return remote.delegate(inv, "backup.check", opts, dry_run=False, console=err)
    cfg = config.make(inv, source=source, target=target, wait=wait)
    if full:
        return _show(checks.full_check(cfg, console=err, scratch=scratch), out, as_json)
    return _show(checks.spot_check(cfg, console=err, sample=int(sample)), out, as_json)


def offsite(
    inv: Inventory,
    out: Console,
    err: Console,
    *,
    check: bool,
    target: str | None,
    now: str | None,
    dry_run: bool,
    as_json: bool,
    wait: bool,
) -> int:
    """backup.offsite (and --check)."""
    config.parse_now(now)
    if config.runs_elsewhere(inv, None, target):
        opts = remote.options(check=check, now=now, json=as_json, wait=wait)
        return remote.delegate(inv, "backup.offsite", opts, dry_run=dry_run, console=err)
    cfg = config.make(inv, target=target, now=now, dry_run=dry_run, wait=wait)
    if check:
        return _show(offsite_run.check(cfg, console=err), out, as_json)
    with backup_metrics.recording(cfg, "backup.offsite", warn=_warner(err)) as metrics:
        report, data = offsite_run.copy(cfg, console=err)
        metrics.done(report)
    return _show(report, out, as_json, **data)
