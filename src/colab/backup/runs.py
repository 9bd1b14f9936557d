"""The daily and weekly runs: lock, ping, dumps, one snapshot, retention, ping.

A snapshot is built under a temporary name (`snapshot_plan` picks the tree to start from) and renamed only when
rsync succeeded, so a final name always holds a complete snapshot. rsync exit 23/24 keeps the snapshot and
ends with a warning (exit 2); any other failure leaves no new snapshot, moves the temporary tree to the
trash and leaves the older snapshots untouched (exit 1). Retention moves expired snapshots to the trash
while the lock is held; the trash is emptied after the lock is released.

Why not Steps (colab.steps): a Step is a check -> act -> verify unit that converges on a state and reports `ok`
when it is already there. A backup run converges on nothing: each run makes a new snapshot, under a lock, in an
order that matters (dumps before the snapshot, retention only after a snapshot was made), and what it did is
data (names, sizes, verdicts) for --json, the metrics and the next run. So the run records `Outcome`s in the same
`Report` (one table, one JSON shape, one exit-code rule with every other task) but does its work here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from colab.backup import dumps, lock, ping, prune, rsync, snapshots, space, state, vanish
from colab.backup.config import Config, check_source, check_target
from colab.backup.output import Out, outcome, rsync_progress
from colab.backup.retention import decide
from colab.backup.snapshot_plan import SnapshotPlan, plan_snapshot
from colab.errors import ColabError
from colab.steps import Outcome, Report, Status

Kind = Literal["daily", "weekly"]


@dataclass
class RunResult:
    report: Report
    data: dict[str, Any] = field(default_factory=dict)
    verdicts: list[prune.Verdict] = field(default_factory=list)


class Interrupted(ColabError):
    exit_code = 130


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (systemd stop, timeout) unwinds like Ctrl-C: rsync stopped, lock released."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(f"stopped by signal {signum}; the next run continues from the unfinished snapshot")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(cfg: Config, *, task: str, kind: Kind, with_dumps: bool, console: Console) -> RunResult:
    out = Out(cfg.node, console, cfg.dry_run)
    independent = kind == "weekly" and cfg.full_copy
    if cfg.dry_run:
        check_target(cfg)
        check_source(cfg)
        return _dry_run(cfg, out, task=task, kind=kind, with_dumps=with_dumps, independent=independent)
    report = Report(f"{task} {snapshots.name_for(cfg.now.date())} on {cfg.node}")
    data: dict[str, Any] = {
        "task": task,
        "node": cfg.node,
        "source": str(cfg.source),
        "target": str(cfg.target),
        "now": cfg.now.isoformat(timespec="minutes"),
    }
    with sigterm_interrupts():
        try:
            check_target(cfg)
            check_source(cfg)
            with lock.hold(cfg.target, task, wait=cfg.wait, on_wait=out.say) as held:
                state.validate(cfg.target)
                if held.took_over:
                    out.warn(held.took_over)
                    report.outcomes.append(outcome(cfg.node, "lock", Status.WARNING, held.took_over))
                else:
                    report.outcomes.append(outcome(cfg.node, "lock", Status.OK))
                _ping(cfg, out, report, "start", task, "")
                taken = _dumps(cfg, out, report) if with_dumps else None
                if taken is not None:
                    data["dumps"] = taken
                snap = _snapshot(cfg, out, report, held, kind=kind, independent=independent, dumps_taken=taken)
                data["snapshot"] = snap
                if snap.get("made"):
                    data["pruned"] = _prune(cfg, out, report)
            _empty_trash(cfg, out, report)
        except lock.Busy:
            raise
        except BaseException as e:
            why = str(e) or type(e).__name__
            _ping(cfg, out, report, "failure", task, f"{task} stopped: {why}")
            raise
    summary = "\n".join(f"{o.step}: {o.status} {o.detail}".strip() for o in report.outcomes)
    _ping(cfg, out, report, "failure" if report.exit_code == 1 else "success", task, summary)
    return RunResult(report, data)


# ------------------------------------------------------------------------------------------- steps


def _ping(cfg: Config, out: Out, report: Report, event: ping.Event, task: str, message: str) -> None:
    if not cfg.ping_url:
        return
    problem = ping.ping(cfg.ping_url, cfg.ping_kind, event, task, message)
    if problem:
        out.warn(problem)
        report.outcomes.append(outcome(cfg.node, f"ping {event}", Status.WARNING, problem))
    else:
        report.outcomes.append(outcome(cfg.node, f"ping {event}", Status.OK))


def _dumps(cfg: Config, out: Out, report: Report) -> list[dict[str, Any]]:
    done = []
    for spec in dumps.specs(cfg.inv):
        step = f"dump {spec.key}"
        if spec.service.node != cfg.node:
            why = (
                f"{spec.service.name} runs on {spec.service.node}, not here ({cfg.node}): only databases of "
                "services on the backup node are dumped"
            )
            report.outcomes.append(outcome(cfg.node, step, Status.WARNING, why))
            done.append({"database": spec.key, "status": "skipped", "detail": why})
            continue
        out.say(f"dump {spec.key}: pg_dump -Fc in service {spec.service.name}/{spec.db.service}")
        try:
            detail = dumps.take(cfg.inv, spec, cfg.target, cfg.now.date())
        except Interrupted:
            raise
        except (ColabError, OSError) as e:
            report.outcomes.append(outcome(cfg.node, step, Status.FAILED, str(e)))
            done.append({"database": spec.key, "status": "failed", "detail": str(e)})
            continue
        report.outcomes.append(outcome(cfg.node, step, Status.CHANGED, detail))
        done.append({"database": spec.key, "status": "changed", "detail": detail})
    return done


def _room_for_full_copy(cfg: Config) -> tuple[int, int]:
    need = space.usage(cfg.source).bytes
    return need, space.free(cfg.target)


def _no_room(cfg: Config, need: int, free: int) -> str:
    return (
        f"not enough room on {cfg.target} for an independent full copy: it needs {space.human(need)} plus a "
        f"reserve, {space.human(free)} is free; nothing was written. Prune older snapshots "
        "(inv backup.prune) or set backup.full_copy = false"
    )


def _current_plan(cfg: Config, independent: bool) -> SnapshotPlan:
    t = cfg.target
    return plan_snapshot(
        day=cfg.now.date(),
        complete=[s.date for s in snapshots.complete(t)],
        leftovers=snapshots.leftovers(t),
        trash=snapshots.trash_entries(t),
        policy=cfg.policy,
        independent=independent,
    )


def _prepare(cfg: Config, out: Out, plan: SnapshotPlan) -> str:
    """Put the tree rsync starts from at the temporary name; returns what it is."""
    t = cfg.target
    temp = t / plan.temp
    for name in plan.discard:
        entry = prune.to_trash(t, name)
        out.say(f"moved the unfinished {name} to the trash ({entry})")
    if plan.reuse_kind == "leftover" and plan.reuse == plan.temp:
        return f"continuing the unfinished {plan.temp}"
    if plan.reuse_kind == "leftover" and plan.reuse:
        os.rename(t / plan.reuse, temp)
        return f"continuing the unfinished {plan.reuse}"
    if plan.reuse_kind == "trash" and plan.reuse and prune.claim_from_trash(t, Path(plan.reuse).name, temp):
        return f"reusing the expired {Path(plan.reuse).name} from the trash"
    if plan.reuse_kind == "expired" and plan.reuse:
        os.rename(t / plan.reuse, temp)
        snapshots.drop_meta(t, plan.reuse)
        return f"reusing {plan.reuse}, which retention drops once this snapshot exists"
    temp.mkdir()
    return "into an empty folder"


def _dump_summary(taken: list[dict[str, Any]]) -> dict[str, list[str]]:
    """By status, the databases this run dumped (kept in the snapshot's record: `inv status` reads it)."""
    out: dict[str, list[str]] = {}
    for d in taken:
        out.setdefault(str(d["status"]), []).append(str(d["database"]))
    return out


def _snapshot(
    cfg: Config,
    out: Out,
    report: Report,
    held: lock.Held,
    *,
    kind: Kind,
    independent: bool,
    dumps_taken: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One snapshot: its outcome in the report, what happened as data (`made`, or `error`)."""
    plan = _current_plan(cfg, independent)
    label = "full copy" if independent else kind
    info: dict[str, Any] = {"name": plan.name, "kind": label, "link_dest": plan.link_dest, "made": False}
    try:
        status, detail = _take(cfg, out, held, plan, kind=kind, label=label, info=info, dumps_taken=dumps_taken)
    except Interrupted:
        raise
    except ColabError as e:
        status, detail = Status.FAILED, str(e)
    except OSError as e:
        status, detail = Status.FAILED, f"{e.strerror or e} ({e.filename}); no new snapshot"
    if status == Status.FAILED:
        info["error"] = detail
    report.outcomes.append(outcome(cfg.node, f"snapshot {plan.name}", status, detail))
    return info


def _take(
    cfg: Config,
    out: Out,
    held: lock.Held,
    plan: SnapshotPlan,
    *,
    kind: Kind,
    label: str,
    info: dict[str, Any],
    dumps_taken: list[dict[str, Any]] | None = None,
) -> tuple[Status, str]:
    """Room, starting tree, rsync, then the tree's final name and its record; the outcome's status and detail."""
    if plan.independent:
        need, free = _room_for_full_copy(cfg)
        if not space.room_for(need, free):
            raise ColabError(_no_room(cfg, need, free))
    how = info["start"] = _prepare(cfg, out, plan)
    res, wall, elapsed = _copy(cfg, out, held, plan, kind=kind, label=label, how=how)
    verdict = rsync.classify(res.returncode, res.stderr)
    if verdict.status == "failed":
        entry = prune.to_trash(cfg.target, plan.temp)
        return Status.FAILED, f"{verdict.message}; no new snapshot, the unfinished tree goes to the trash ({entry})"
    loss = _loss(cfg, plan, res.returncode)
    name = _hold_back(cfg, plan) if loss is not None else _finalize(cfg, plan)
    meta = _meta(cfg, plan, res, label=label, how=how, wall=wall, elapsed=elapsed, loss=loss)
    if dumps_taken is not None:
        meta["dumps"] = _dump_summary(dumps_taken)
    snapshots.write_meta(cfg.target, name, meta)
    info.update(meta, made=True, name=name)
    if loss is not None:
        info["partial"] = True
    st = res.stats
    detail = (
        f"{label}: {st.files:,} entries, {space.human(st.total_size)}; copied {st.transferred:,} files "
        f"({space.human(st.transferred_size)}) in {elapsed:.1f}s; {how}"
    )
    warnings = _warnings(cfg, plan, verdict, res, loss, name, info)
    for w in warnings:
        out.warn(w)
    out.say(f"{name}: held back" if loss is not None else f"{plan.name}: complete")
    if warnings:
        return Status.WARNING, "; ".join(warnings) + f". {detail}"
    return Status.CHANGED, detail


def _copy(
    cfg: Config, out: Out, held: lock.Held, plan: SnapshotPlan, *, kind: Kind, label: str, how: str
) -> tuple[rsync.Run, datetime, float]:
    """rsync from the source into the temporary tree (checksums on weekly runs that link); result, start, secs."""
    t = cfg.target
    checksum = kind == "weekly" and not plan.independent
    argv = rsync.snapshot_argv(
        cfg.source,
        t / plan.temp,
        t / plan.link_dest if plan.link_dest else None,
        checksum=checksum,
        itemize=checksum,
        progress=out.console.is_terminal,
        exact_times=snapshots.keeps_nanoseconds(t),
    )
    base = f"linking unchanged files to {plan.link_dest}" if plan.link_dest else "no earlier snapshot to link to"
    out.say(f"{plan.name} ({label}): rsync {cfg.source}/ → {plan.temp}/, {how}, {base}")
    out.command(argv)
    started, wall = time.monotonic(), datetime.now()
    with rsync_progress(out.console, f"{plan.name} ({label})") as hook:
        res = rsync.run(argv, on_progress=hook, keep_fds=[held.fd])
    return res, wall, time.monotonic() - started


def _meta(
    cfg: Config,
    plan: SnapshotPlan,
    res: rsync.Run,
    *,
    label: str,
    how: str,
    wall: datetime,
    elapsed: float,
    loss: vanish.Loss | None,
) -> dict[str, Any]:
    """The snapshot's record in meta/ (backup.list, the status page and the metrics read it)."""
    st = res.stats
    meta: dict[str, Any] = {
        "kind": label,
        "created": cfg.now.isoformat(timespec="minutes"),
        "started": wall.isoformat(),
        "finished": datetime.now().isoformat(timespec="seconds"),
        "files": st.files,
        "regular": st.regular,
        "size": st.total_size,
        "copied": st.transferred_size,
        "copied_files": st.transferred,
        "link_dest": plan.link_dest,
        "start": how,
        "rsync_exit": res.returncode,
        "seconds": round(elapsed, 2),
    }
    if loss is not None:
        meta["partial"] = {"compared_with": loss.previous, "files_before": loss.before, "files_after": loss.after}
    return meta


def _warnings(
    cfg: Config,
    plan: SnapshotPlan,
    verdict: rsync.Verdict,
    res: rsync.Run,
    loss: vanish.Loss | None,
    name: str,
    info: dict[str, Any],
) -> list[str]:
    """What the owner should know about a kept snapshot: vanished files, rsync warnings, silent changes."""
    warnings = []
    if loss is not None:
        warnings.append(f"{verdict.message}; {vanish.message(loss, cfg.vanish_threshold, name)}")
    elif verdict.status == "warning":
        warnings.append(verdict.message + "; the snapshot is kept")
    changed = rsync.content_changes(res.itemized)
    if changed:
        shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
        warnings.append(
            f"{len(changed)} file(s) had the size and time of {plan.link_dest} but other content (changed "
            f"silently, or rotted in the backup); copied fresh: {shown}"
        )
        info["content_changes"] = changed
    return warnings


def _loss(cfg: Config, plan: SnapshotPlan, returncode: int) -> vanish.Loss | None:
    """After rsync 23/24: how much of the newest complete snapshot the new tree lacks, when that is at least
    the threshold (None otherwise, or when there is nothing to compare with)."""
    if returncode not in vanish.CODES:
        return None
    previous = snapshots.newest(cfg.target)
    if previous is None:
        return None
    loss = vanish.measure(previous.path, cfg.target / plan.temp)
    return loss if vanish.judge(loss.before, loss.after, cfg.vanish_threshold) else None


def _hold_back(cfg: Config, plan: SnapshotPlan) -> str:
    """Keep the tree as fortress-partial-YYYYMMDD (replacing one of the same day); fortress-latest stays."""
    name = snapshots.partial_name(plan.day)
    final = cfg.target / name
    _put_in_place(cfg.target, plan.temp, name, replace=final.is_dir() and not final.is_symlink())
    return name


def _finalize(cfg: Config, plan: SnapshotPlan) -> str:
    """Give the finished tree its final name (taking the place of the same day's older snapshot, if any)."""
    _put_in_place(cfg.target, plan.temp, plan.name, replace=plan.replaces and (cfg.target / plan.name).is_dir())
    snapshots.set_latest(cfg.target, plan.name)
    return plan.name


def _put_in_place(t: Path, temp: str, name: str, *, replace: bool) -> None:
    """Rename temp to name; with `replace`, the folder there is swapped out atomically (or set aside) and trashed."""
    final = t / name
    if replace:
        if snapshots.exchange(t / temp, final):
            prune.to_trash(t, temp)  # the replaced tree, now under the temporary name
        else:
            aside = f".{name}.replaced"
            os.rename(final, t / aside)
            os.rename(t / temp, final)
            prune.to_trash(t, aside)
    else:
        os.rename(t / temp, final)
    snapshots.fsync_dir(t)


def _prune(cfg: Config, out: Out, report: Report) -> list[str]:
    verdicts = prune.snapshot_verdicts(cfg.target, cfg.policy) + prune.dump_verdicts(cfg.target, cfg.policy)
    moved = prune.apply_snapshots(cfg.target, verdicts)
    removed = prune.apply_dumps(cfg.target, verdicts)
    gone = moved + removed
    if gone:
        out.say(f"retention: {', '.join(gone)} expired")
        report.outcomes.append(outcome(cfg.node, "retention", Status.CHANGED, f"expired: {', '.join(gone)}"))
    else:
        report.outcomes.append(outcome(cfg.node, "retention", Status.OK, "nothing expired"))
    return gone


def _empty_trash(cfg: Config, out: Out, report: Report) -> None:
    started = time.monotonic()
    try:
        deleted = prune.empty_trash(cfg.target)
    except state.Unsafe as e:
        report.outcomes.append(outcome(cfg.node, "delete expired", Status.FAILED, str(e)))
        return
    except OSError as e:
        report.outcomes.append(outcome(cfg.node, "delete expired", Status.WARNING, f"{e}; the next run retries"))
        return
    if deleted:
        detail = f"deleted {', '.join(deleted)} in {time.monotonic() - started:.1f}s (after releasing the lock)"
        out.say(detail)
        report.outcomes.append(outcome(cfg.node, "delete expired", Status.CHANGED, detail))


# ----------------------------------------------------------------------------------------- dry run


def _dry_run(cfg: Config, out: Out, *, task: str, kind: Kind, with_dumps: bool, independent: bool) -> RunResult:
    t = cfg.target
    day = cfg.now.date()
    report = Report(f"{task} {snapshots.name_for(day)} on {cfg.node} (dry run: nothing changed)")
    state.validate(t)  # what the real run would refuse, a dry run refuses too
    node = cfg.node
    planned = Status.PLANNED
    holder = lock.holder(lock.path_of(t))
    report.outcomes.append(outcome(node, "lock", planned, f"now held by {holder}" if holder else "free"))
    if cfg.ping_url:
        report.outcomes.append(outcome(node, "ping start", planned, ping.kind_of(cfg.ping_url, cfg.ping_kind)))
    if with_dumps:
        for spec in dumps.specs(cfg.inv):
            step = f"dump {spec.key}"
            if spec.service.node != node:
                report.outcomes.append(outcome(node, step, Status.SKIPPED, f"runs on {spec.service.node}, not here"))
                continue
            final = dumps.final_path(t, spec, day)
            tmp = final.with_name(f".{final.name}.tmp")
            out.command(dumps.dump_argv(cfg.inv, spec), f"> {tmp}")
            out.command(dumps.list_argv(cfg.inv, spec), f"< {tmp}")
            out.command(["mv", str(tmp), str(final)])
            report.outcomes.append(outcome(node, step, planned, final.name))
    plan = _current_plan(cfg, independent)
    for name in plan.discard:
        out.command(["mv", str(t / name), str(snapshots.trash_dir(t)) + "/"])
    temp = t / plan.temp
    if independent:
        need, free = _room_for_full_copy(cfg)
        if not space.room_for(need, free):
            report.outcomes.append(outcome(node, f"snapshot {plan.name}", Status.FAILED, _no_room(cfg, need, free)))
            return RunResult(report, {"task": task, "plan": _plan_json(plan)})
    if plan.reuse and plan.reuse != plan.temp:
        out.command(["mv", str(t / plan.reuse), str(temp)])
    elif not plan.reuse:
        out.command(["mkdir", str(temp)])
    checksum = kind == "weekly" and not independent
    link = t / plan.link_dest if plan.link_dest else None
    exact = snapshots.keeps_nanoseconds(t)
    out.command(rsync.snapshot_argv(cfg.source, temp, link, checksum=checksum, itemize=checksum, exact_times=exact))
    if plan.replaces:
        out.command(["mv", "--exchange", str(temp), str(t / plan.name)])
        out.command(["mv", str(temp), str(snapshots.trash_dir(t)) + "/"])
    else:
        out.command(["mv", str(temp), str(t / plan.name)])
    out.command(["ln", "-sfn", plan.name, str(t / snapshots.LATEST)])
    label = "full copy" if independent else kind
    start = f"from {plan.reuse} ({plan.reuse_kind})" if plan.reuse else "into an empty folder"
    report.outcomes.append(outcome(node, f"snapshot {plan.name}", planned, f"{label}, {start}"))
    verdicts = _verdicts_after(cfg, plan)
    gone = [v.name for v in verdicts if not v.keep]
    for name in gone:
        if name == plan.reuse:
            continue
        if name.startswith(snapshots.DUMPS + "/"):
            out.command(["rm", str(t / name)])
        else:
            out.command(["mv", str(t / name), str(snapshots.trash_dir(t)) + "/"])
    if gone or plan.replaces or plan.discard:
        out.command(["rm", "-rf", "--one-file-system", f"{snapshots.trash_dir(t)}/<each entry>"], "(after the lock)")
    report.outcomes.append(outcome(node, "retention", planned, f"expires: {', '.join(gone)}" if gone else "nothing"))
    if cfg.ping_url:
        report.outcomes.append(outcome(node, "ping success", planned))
    return RunResult(report, {"task": task, "plan": _plan_json(plan)}, verdicts)


def _verdicts_after(cfg: Config, plan: SnapshotPlan) -> list[prune.Verdict]:
    """Retention as it will stand once the planned snapshot exists (the reused one already gone)."""
    days = {s.date for s in snapshots.complete(cfg.target)} | {plan.day}
    if plan.reuse_kind == "expired" and plan.reuse:
        days.discard(snapshots.date_of(plan.reuse) or plan.day)
    out = []
    for d in decide(days, cfg.policy):
        name = snapshots.name_for(d.when) + (" (new)" if d.when == plan.day else "")
        out.append(prune.Verdict(name, "snapshot", d.keep, d.reason))
    if plan.reuse_kind == "expired" and plan.reuse:
        out.append(prune.Verdict(plan.reuse, "snapshot", False, "expired: reused as the new snapshot's starting tree"))
    out += prune.partial_verdicts(cfg.target, cfg.policy, days)
    return out + prune.dump_verdicts(cfg.target, cfg.policy)


def _plan_json(plan: SnapshotPlan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "temp": plan.temp,
        "link_dest": plan.link_dest,
        "reuse": plan.reuse,
        "reuse_kind": plan.reuse_kind,
        "replaces": plan.replaces,
        "independent": plan.independent,
    }


def prune_run(cfg: Config, *, task: str, console: Console) -> RunResult:
    """`backup.prune`: apply retention to snapshots and dumps now."""
    out = Out(cfg.node, console, cfg.dry_run)
    t = cfg.target
    check_target(cfg)
    verdicts = prune.snapshot_verdicts(t, cfg.policy) + prune.dump_verdicts(t, cfg.policy)
    gone = [v.name for v in verdicts if not v.keep]
    if cfg.dry_run:
        state.validate(t)
        report = Report(f"{task} on {cfg.node} (dry run: nothing changed)")
        for name in gone:
            if name.startswith(snapshots.DUMPS + "/"):
                out.command(["rm", str(t / name)])
            else:
                out.command(["mv", str(t / name), str(snapshots.trash_dir(t)) + "/"])
        if gone or snapshots.trash_entries(t):
            out.command(
                ["rm", "-rf", "--one-file-system", f"{snapshots.trash_dir(t)}/<each entry>"], "(after the lock)"
            )
        detail = f"expires: {', '.join(gone)}" if gone else "nothing expired"
        report.outcomes.append(outcome(cfg.node, "retention", Status.PLANNED, detail))
        return RunResult(report, {"task": task}, verdicts)
    report = Report(f"{task} on {cfg.node}")
    with sigterm_interrupts():
        with lock.hold(t, task, wait=cfg.wait, on_wait=out.say) as held:
            state.validate(t)
            if held.took_over:
                out.warn(held.took_over)
                report.outcomes.append(outcome(cfg.node, "lock", Status.WARNING, held.took_over))
            _prune(cfg, out, report)
        _empty_trash(cfg, out, report)
    return RunResult(report, {"task": task, "pruned": gone}, verdicts)


def outcomes_of(report: Report, status: Status) -> list[Outcome]:
    return [o for o in report.outcomes if o.status == status]
