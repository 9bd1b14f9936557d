"""`backup.restore`: a path (or everything) from a snapshot into a new folder, or over the live data with
--in-place and a confirmation; or a database dump into a named database.

Restore reads only what is inside the snapshot and writes only inside the destination, as root too: the path
is walked one folder at a time without following symlinks on both sides (`walk.py`), and rsync reads and
writes through the opened folders, copying symlinks as symlinks.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path, PurePosixPath

from rich.console import Console

from colab.backup import dumps, lock, rsync, snapshots, state, walk
from colab.backup.config import Config, check_target
from colab.backup.output import Out, outcome, rsync_progress
from colab.errors import ColabError
from colab.steps import Report, Status


def relative_path(cfg: Config, path: str) -> str:
    """The path inside a snapshot: relative as given, or absolute under the backup source."""
    if not path or path in (".", "/"):
        return ""
    p = PurePosixPath(path)
    if p.is_absolute():
        try:
            p = p.relative_to(PurePosixPath(str(cfg.source)))
        except ValueError:
            raise ColabError(
                f"--path {path} is not under the backup source {cfg.source}; give it relative to the source"
            ) from None
    if ".." in p.parts:
        raise ColabError(f"--path {path}: '..' is not allowed; give a path inside the snapshot")
    return str(p) if str(p) != "." else ""


def _located(cfg: Config, snapshot: str, path: str) -> tuple[snapshots.Snapshot, str, tuple[str, ...]]:
    """The snapshot named on the command line and the path inside it (as text and as parts), or one line."""
    check_target(cfg)
    try:
        snap = snapshots.resolve(cfg.target, snapshot)
    except LookupError as e:
        raise ColabError(f"{e}; see inv backup.list") from None
    rel = relative_path(cfg, path)
    return snap, rel, PurePosixPath(rel).parts if rel else ()


def _fresh_folder(into: Path) -> None:
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise ColabError(f"--into {into} exists and is not an empty folder; restore into a new folder")


def restore_files(
    cfg: Config,
    *,
    console: Console,
    snapshot: str = "latest",
    path: str = "",
    into: str | None = None,
    in_place: bool = False,
    confirmed: bool = False,
    task: str = "backup.restore",
) -> Report:
    out = Out(cfg.node, console, cfg.dry_run)
    snap, rel, parts = _located(cfg, snapshot, path)
    if in_place and into:
        raise ColabError("--into and --in-place exclude each other; pick one")
    with walk.descriptors() as fds:
        source = walk.snapshot(snap, parts, fds)
        if in_place:
            if not confirmed:
                raise ColabError("restoring over live data needs a confirmation: run it in a terminal, or add --yes")
            dest_root = cfg.source
            if not dest_root.is_dir():
                raise ColabError(f"the live data {dest_root} is not a folder: is fortress mounted? (or pass --source)")
        elif into:
            dest_root = Path(os.path.abspath(into))
            _fresh_folder(dest_root)
        else:
            raise ColabError("say where to restore: --into NEW_FOLDER, or --in-place to overwrite the live data")
        dest = dest_root / rel if rel else dest_root
        folders = parts if source.is_dir else parts[:-1]
        shown_into = dest if source.is_dir else dest.parent
        where = "over the live data" if in_place else "into a new folder"
        report = Report(f"{task} {snap.name}:{rel or '/'} → {dest}" + (" (dry run)" if cfg.dry_run else ""))
        shown_src = snap.path / rel if rel else snap.path
        if cfg.dry_run:
            if not in_place and not dest_root.exists():
                missing = [str(dest_root)]
            else:
                _, missing = walk.destination(dest_root, folders, walk.snapshot_root(snap, fds), fds, make=False)
            if missing:
                out.command(["mkdir", "-p", str(shown_into)])
            out.command(rsync.copy_argv(shown_src, shown_into, checksum=in_place, is_dir=source.is_dir))
            report.outcomes.append(outcome(cfg.node, f"restore {rel or 'everything'}", Status.PLANNED, where))
            return report
        with lock.hold(cfg.target, task, wait=cfg.wait, on_wait=out.say):
            state.validate(cfg.target)
            dest_root.mkdir(parents=True, exist_ok=True)
            into_fd, _ = walk.destination(dest_root, folders, walk.snapshot_root(snap, fds), fds, make=True)
            assert into_fd is not None
            out.say(f"restoring {snap.name}/{rel} {where}: {dest}")
            argv = rsync.copy_argv(
                walk.fd_path(source.parent, source.name),
                walk.fd_path(into_fd),
                progress=console.is_terminal,
                checksum=in_place,
                is_dir=source.is_dir,
            )
            with rsync_progress(console, f"restore {rel or snap.name}") as hook:
                res = rsync.run(argv, on_progress=hook, keep_fds=[source.parent, into_fd])
    verdict = rsync.classify(res.returncode, res.stderr)
    status = {"ok": Status.CHANGED, "warning": Status.WARNING, "failed": Status.FAILED}[verdict.status]
    detail = verdict.message or f"{res.stats.files:,} entries, {res.stats.total_size:,} bytes {where}"
    report.outcomes.append(outcome(cfg.node, f"restore {rel or 'everything'} from {snap.name}", status, detail))
    return report


def restore_dump(
    cfg: Config,
    *,
    console: Console,
    key: str,
    database: str | None,
    when: str = "latest",
    in_place: bool = False,
    confirmed: bool = False,
    task: str = "backup.restore",
) -> Report:
    out = Out(cfg.node, console, cfg.dry_run)
    check_target(cfg)
    spec = dumps.find_spec(cfg.inv, key)
    if not database:
        raise ColabError(f"say which database to restore into: --database NAME (the live one is {spec.db.name})")
    if database == spec.db.name:
        if not in_place:
            raise ColabError(
                f"{database} is the live database of {spec.key}; restore into another name, or add --in-place"
            )
        if not confirmed:
            raise ColabError("restoring over a live database needs a confirmation: run it in a terminal, or add --yes")
    series = [f for f in dumps.existing(cfg.target) if f.key == spec.key]
    if not series:
        raise ColabError(f"no dump of {spec.key} in {dumps.dumps_root(cfg.target)}")
    digits = when.replace("-", "")
    chosen = series[-1] if when in ("", "latest") else next((f for f in series if f"{f.date:%Y%m%d}" == digits), None)
    if chosen is None:
        have = ", ".join(f.date.isoformat() for f in series[-5:])
        raise ColabError(f"no dump of {spec.key} from {when}; newest: {have}")
    report = Report(f"{task} {chosen.path.name} → database {database}" + (" (dry run)" if cfg.dry_run else ""))
    if cfg.dry_run:
        out.command(dumps.exists_argv(cfg.inv, spec, database))
        out.command(dumps.create_argv(cfg.inv, spec, database), "(if missing)")
        out.command(dumps.restore_argv(cfg.inv, spec, database), f"< {chosen.path}")
        report.outcomes.append(outcome(cfg.node, f"restore {spec.key}", Status.PLANNED, f"into {database}"))
        return report
    with lock.hold(cfg.target, task, wait=cfg.wait, on_wait=out.say):
        out.say(f"restoring {chosen.path.name} into database {database} (service {spec.service.name})")
        try:
            detail = dumps.restore(cfg.inv, spec, chosen.path, database)
        except ColabError as e:
            report.outcomes.append(outcome(cfg.node, f"restore {spec.key}", Status.FAILED, str(e)))
            return report
    report.outcomes.append(outcome(cfg.node, f"restore {spec.key}", Status.CHANGED, detail))
    return report


# ---------------------------------------------------------------------------------------------- mirror

PLAN_SHOWN = 20  # deletions listed by name in the plan; the rest are counted


def mirror_argv(source: Path, dest: Path, *, dry_run: bool) -> list[str]:
    """Make `dest` exactly the snapshot's folder `source`: add, update (by content) and delete."""
    argv = [rsync.RSYNC, "-a", "--numeric-ids", "--stats", "--checksum", "--delete", "--itemize-changes"]
    return [*argv, *(["--dry-run"] if dry_run else []), f"{source}/", f"{dest}/"]


def _plan(itemized: list[str]) -> tuple[list[str], int]:
    """(paths rsync deletes, entries it creates or updates) from --itemize-changes lines."""
    deleted = [line.split(" ", 1)[1].strip() for line in itemized if line.startswith("*deleting ")]
    changed = sum(1 for line in itemized if not line.startswith("*deleting ") and line[:1] in "<>ch")
    return deleted, changed


def mirror(
    cfg: Config, *, console: Console, snapshot: str = "latest", path: str = "", yes: bool = False,
    task: str = "backup.restore --in-place --mirror",
) -> Report:  # fmt: skip
    """`--in-place --mirror`: the live folder becomes exactly the snapshot's, files the snapshot lacks deleted.
    The plan (what goes, how much changes) is always computed and shown first, with rsync --dry-run on the same
    opened folders; it is carried out only with --yes (or `yes` typed on a terminal)."""
    out = Out(cfg.node, console, cfg.dry_run)
    snap, rel, parts = _located(cfg, snapshot, path)
    dest_root = cfg.source
    if not dest_root.is_dir():
        raise ColabError(f"the live data {dest_root} is not a folder: is fortress mounted? (or pass --source)")
    report = Report(f"{task} {snap.name}:{rel or '/'} → {dest_root / rel if rel else dest_root}")
    held = contextlib.nullcontext() if cfg.dry_run else lock.hold(cfg.target, task, wait=cfg.wait, on_wait=out.say)
    with held, walk.descriptors() as fds:  # a dry run takes no lock: it writes nothing, not even the lock's pid
        state.validate(cfg.target)
        source = walk.snapshot(snap, parts, fds)
        if not source.is_dir:
            raise ColabError(
                f"--mirror makes a folder match the snapshot; {rel} is a file: restore it without --mirror"
            )
        into_fd, _ = walk.destination(dest_root, parts, walk.snapshot_root(snap, fds), fds, make=False)
        if into_fd is None:
            raise ColabError(f"{dest_root / rel} does not exist: restore it without --mirror (nothing to delete)")
        src, dst = walk.fd_path(source.parent), walk.fd_path(into_fd)
        shown = [snap.path / rel, dest_root / rel]
        out.command(mirror_argv(shown[0], shown[1], dry_run=True), "(the plan)")
        planned = rsync.run(mirror_argv(src, dst, dry_run=True), keep_fds=[source.parent, into_fd])
        verdict = rsync.classify(planned.returncode, planned.stderr)
        if verdict.status == "failed":
            raise ColabError(f"cannot plan the mirror: {verdict.message}")
        deleted, changed = _plan(planned.itemized)
        listing = ", ".join(deleted[:PLAN_SHOWN]) + (
            f" … and {len(deleted) - PLAN_SHOWN} more" if len(deleted) > PLAN_SHOWN else ""
        )
        plan = f"{len(deleted):,} live entries not in {snap.name} deleted, {changed:,} added or updated"
        out.say(f"plan: {plan}" + (f": deletes {listing}" if deleted else ""))
        if cfg.dry_run:
            out.command(mirror_argv(shown[0], shown[1], dry_run=False))
            report.outcomes.append(outcome(cfg.node, f"mirror {rel or 'everything'}", Status.PLANNED, plan))
            return report
        if not yes and not _ask(console, plan):
            raise ColabError(f"not confirmed: nothing changed ({plan}); add --yes to carry out this plan")
        out.say(f"mirroring {snap.name}/{rel} over the live data: {dest_root / rel if rel else dest_root}")
        res = rsync.run(mirror_argv(src, dst, dry_run=False), keep_fds=[source.parent, into_fd])
    verdict = rsync.classify(res.returncode, res.stderr)
    status = {"ok": Status.CHANGED, "warning": Status.WARNING, "failed": Status.FAILED}[verdict.status]
    done_deleted, done_changed = _plan(res.itemized)
    detail = (
        verdict.message or f"{len(done_deleted):,} deleted, {done_changed:,} added or updated; now as in {snap.name}"
    )
    if verdict.status == "ok" and not done_deleted and not done_changed:
        status, detail = Status.OK, f"already as in {snap.name}"
    report.outcomes.append(outcome(cfg.node, f"mirror {rel or 'everything'} from {snap.name}", status, detail))
    return report


def _ask(console: Console, plan: str) -> bool:
    import sys

    if not sys.stdin.isatty():
        return False
    answer = console.input(f"This makes the live data exactly the snapshot: {plan}. Type yes to go on: ")
    return answer.strip().lower() == "yes"
