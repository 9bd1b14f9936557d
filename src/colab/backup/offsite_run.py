"""`backup.offsite`: copy, check and restore the off-site restic repository (`offsite.py` has the commands)."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from rich.console import Console

from colab import secrets
from colab.backup import dumps, lock, offsite, snapshots, state
from colab.backup.config import Config, check_target
from colab.backup.offsite import DUMPS, FORTRESS, PASSWORD_ENV, Repo
from colab.backup.output import Out, outcome
from colab.backup.space import human
from colab.errors import ColabError
from colab.runner import Runner
from colab.steps import Report, Status


def _env_names(cfg: Config) -> list[str]:
    return [PASSWORD_ENV, *offsite.settings(cfg.inv).secrets]


def _show(out: Out, cfg: Config, argv: list[str], suffix: str = "", cwd: Path | None = None) -> None:
    out.command(argv, suffix, env=_env_names(cfg), cwd=cwd)


def _created(target: Path, snap: snapshots.Snapshot) -> datetime:
    text = snapshots.read_meta(target, snap.name).get("created")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return datetime(snap.date.year, snap.date.month, snap.date.day)


def _sets(cfg: Config) -> list[tuple[str, str, Path, datetime]]:
    """What one run copies: (kind, label, folder, time) for the newest snapshot and, when any, the dumps."""
    newest = snapshots.newest(cfg.target)
    if newest is None:
        raise ColabError(f"no complete snapshot in {cfg.target} to copy off-site; run inv backup.daily first")
    out = [(FORTRESS, offsite.label(FORTRESS, newest.date), newest.path, _created(cfg.target, newest))]
    day = offsite.newest_dump_day(cfg.target)
    if day is not None:
        when = datetime(day.year, day.month, day.day, cfg.now.hour, cfg.now.minute)
        out.append((DUMPS, offsite.label(DUMPS, day), dumps.dumps_root(cfg.target), when))
    return out


def copy(cfg: Config, *, console: Console, task: str = "backup.offsite") -> tuple[Report, dict[str, Any]]:
    out = Out(cfg.node, console, cfg.dry_run)
    check_target(cfg)
    repo = offsite.repository(cfg.inv)
    keep = offsite.policy(cfg.inv)
    sets = _sets(cfg)
    where = offsite.where(cfg.inv)
    report = Report(f"{task} {sets[0][1]} → {where}" + (" (dry run: nothing changed)" if cfg.dry_run else ""))
    data: dict[str, Any] = {"task": task, "repository": where, "copies": []}
    runner = Runner(cfg.node, dry_run=cfg.dry_run, console=console)
    if cfg.dry_run:
        state.validate(cfg.target)
        off = offsite.settings(cfg.inv)
        out.command(secrets.check_argv(cfg.inv, off.password_path), "(read into memory: the password, never shown)")
        _show(out, cfg, offsite.probe_argv(repo))
        _show(out, cfg, offsite.init_argv(repo), "(only when there is no repository yet)")
        for kind, name, folder, when in sets:
            _show(out, cfg, offsite.snapshots_argv(repo, name), f"(skip {kind} when {name} is there already)")
            _show(out, cfg, offsite.snapshots_argv(repo, kind), f"(the newest {kind} copy is the parent)")
            _show(out, cfg, offsite.backup_argv(repo, kind, name, when, "<parent>"), cwd=folder)
            report.outcomes.append(outcome(cfg.node, f"copy {name}", Status.PLANNED, f"from {folder}"))
        for kind in (FORTRESS, DUMPS):
            _show(out, cfg, offsite.forget_argv(repo, keep, kind))
        _show(out, cfg, offsite.prune_argv(repo), "(when forget removed a snapshot)")
        report.outcomes.append(
            outcome(
                cfg.node,
                "retention",
                Status.PLANNED,
                f"{keep.daily} daily, {keep.weekly} weekly, {keep.monthly} monthly",
            )
        )
        return report, data
    with lock.hold(cfg.target, task, wait=cfg.wait, on_wait=out.say):
        state.validate(cfg.target)
        env = offsite.environment(cfg.inv, runner)
        if offsite.ensure_repository(runner, repo, env):
            report.outcomes.append(outcome(cfg.node, "repository", Status.CHANGED, f"created {where}"))
        ids: dict[str, str] = {}
        for kind, name, folder, when in sets:
            step = f"copy {name}"
            there = offsite.listed(runner, repo, env, name)
            if there:
                ids[kind] = str(there[-1].get("short_id") or there[-1].get("id", ""))[:8]
                report.outcomes.append(outcome(cfg.node, step, Status.OK, f"already off-site ({ids[kind]})"))
                data["copies"].append({"label": name, "status": "ok", "id": ids[kind]})
                continue
            earlier = offsite.listed(runner, repo, env, kind)
            parent = str(earlier[-1].get("id", "")) if earlier else ""
            out.say(f"{name}: restic backup of {folder} to {where}" + (f", parent {parent[:8]}" if parent else ""))
            with offsite.working_folder(folder):
                res = offsite.run(runner, offsite.backup_argv(repo, kind, name, when, parent), env, cwd=folder)
            s = offsite.summary(res.stdout)
            if res.returncode not in (0, 3) or not s:
                detail = f"restic backup failed (exit {res.returncode}): {res.last_error()}"
                report.outcomes.append(outcome(cfg.node, step, Status.FAILED, detail))
                data["copies"].append({"label": name, "status": "failed", "detail": detail})
                continue
            ids[kind] = str(s.get("snapshot_id", ""))[:8]
            detail = (
                f"{ids[kind]}: {s.get('files_new', 0):,} new, {s.get('files_changed', 0):,} changed, "
                f"{s.get('files_unmodified', 0):,} unchanged files; {human(int(s.get('data_added', 0)))} added"
            )
            status = Status.CHANGED
            if res.returncode == 3:  # restic: the snapshot was made, but some files could not be read
                status, detail = Status.WARNING, f"some files could not be read ({res.last_error()}); {detail}"
            report.outcomes.append(outcome(cfg.node, step, status, detail))
            data["copies"].append({"label": name, "status": str(status), "summary": s})
        if FORTRESS in ids:
            _retention(cfg, runner, repo, env, report, data)
            offsite.write_record(
                cfg.target,
                {
                    "finished": datetime.now().isoformat(timespec="seconds"),
                    "snapshot": sets[0][1].replace(f"{FORTRESS}-", snapshots.PREFIX),
                    "snapshot_created": sets[0][3].isoformat(timespec="minutes"),
                    "repository": where,
                    "ids": ids,
                },
            )
    return report, data


def _retention(
    cfg: Config, runner: Runner, repo: Repo, env: dict[str, str], report: Report, data: dict[str, Any]
) -> None:
    keep = offsite.policy(cfg.inv)
    removed = 0
    for kind in (FORTRESS, DUMPS):
        res = offsite.run(runner, [*offsite.forget_argv(repo, keep, kind), "--json"], env)
        if not res.ok:
            report.outcomes.append(outcome(cfg.node, "retention", Status.WARNING, f"restic forget: {res.last_error()}"))
            return
        try:
            groups = json.loads(res.stdout.strip().splitlines()[-1]) if res.stdout.strip() else []
        except (ValueError, IndexError):
            groups = []
        removed += sum(len(g.get("remove") or []) for g in groups or [] if isinstance(g, dict))
    data["forgotten"] = removed
    if not removed:
        report.outcomes.append(outcome(cfg.node, "retention", Status.OK, "nothing expired"))
        return
    res = offsite.run(runner, offsite.prune_argv(repo), env)
    if not res.ok:
        report.outcomes.append(outcome(cfg.node, "retention", Status.WARNING, f"restic prune: {res.last_error()}"))
        return
    report.outcomes.append(outcome(cfg.node, "retention", Status.CHANGED, f"{removed} off-site snapshot(s) expired"))


def check(cfg: Config, *, console: Console, task: str = "backup.offsite --check") -> Report:
    """`restic check` with a read-data subset: the repository's structure, and that much of its data read back."""
    out = Out(cfg.node, console, cfg.dry_run)
    repo = offsite.repository(cfg.inv)
    subset = offsite.settings(cfg.inv).check_subset
    where = offsite.where(cfg.inv)
    report = Report(f"{task} {where}")
    argv = offsite.check_argv(repo, subset)
    if cfg.dry_run:
        _show(out, cfg, argv)
        report.outcomes.append(outcome(cfg.node, "check", Status.PLANNED, f"structure + {subset} of the data"))
        return report
    runner = Runner(cfg.node, console=console)
    env = offsite.environment(cfg.inv, runner)
    out.say(f"restic check of {where}, reading {subset} of the data back")
    res = offsite.run(runner, argv, env)
    if res.ok:
        report.outcomes.append(outcome(cfg.node, "check", Status.OK, f"no errors; {subset} of the data read back"))
    else:
        report.outcomes.append(outcome(cfg.node, "check", Status.FAILED, f"restic check: {res.last_error()}"))
    return report


def _fresh(into: Path) -> None:
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise ColabError(f"--into {into} exists and is not an empty folder; restore into a new folder")


def restore(cfg: Config, *, console: Console, snapshot: str, path: str, into: str | None) -> Report:
    """`backup.restore --from offsite`: a path (or everything) of an off-site snapshot into a new folder; a path
    `dumps[/…]` comes from the dumps."""
    out = Out(cfg.node, console, cfg.dry_run)
    if not into:
        raise ColabError("--from offsite restores into a new folder: add --into NEW_FOLDER (then copy what you need)")
    rel = PurePosixPath(path.strip("/")) if path and path.strip("/") not in ("", ".") else PurePosixPath("")
    if ".." in rel.parts:
        raise ColabError(f"--path {path}: '..' is not allowed; give a path inside the snapshot")
    kind = DUMPS if rel.parts[:1] == (DUMPS,) else FORTRESS
    inner = PurePosixPath(*rel.parts[1:]) if kind == DUMPS else rel
    dest = Path(os.path.abspath(into))
    _fresh(dest)
    repo = offsite.repository(cfg.inv)
    where = offsite.where(cfg.inv)
    include = f"/{inner}" if str(inner) not in ("", ".") else ""
    report = Report(f"backup.restore --from offsite {kind}:{snapshot} {include or '/'} → {dest}")
    if cfg.dry_run:
        _show(out, cfg, offsite.snapshots_argv(repo, kind), f"(pick {snapshot})")
        _show(out, cfg, offsite.restore_argv(repo, "<id>", dest, include))
        report.outcomes.append(outcome(cfg.node, "restore", Status.PLANNED, f"from {where}"))
        return report
    runner = Runner(cfg.node, console=console)
    env = offsite.environment(cfg.inv, runner)
    try:
        chosen = offsite.pick(offsite.listed(runner, repo, env, kind), snapshot)
    except LookupError as e:
        raise ColabError(f"{e} (in {where}); see restic snapshots") from None
    sid = str(chosen.get("id", ""))
    name = next((t for t in chosen.get("tags") or [] if str(t).startswith(f"{kind}-")), sid[:8])
    out.say(f"restoring {name} ({sid[:8]}) {include or 'everything'} from {where} into {dest}")
    dest.mkdir(parents=True, exist_ok=True)
    res = offsite.run(runner, offsite.restore_argv(repo, sid, dest, include), env)
    if not res.ok:
        report.outcomes.append(
            outcome(cfg.node, f"restore {name}", Status.FAILED, f"restic restore: {res.last_error()}")
        )
        return report
    if include and not (dest / str(inner)).exists() and not (dest / str(inner)).is_symlink():
        detail = f"{inner} is not in {name}; nothing restored"
        report.outcomes.append(outcome(cfg.node, f"restore {name}", Status.FAILED, detail))
        return report
    report.outcomes.append(
        outcome(cfg.node, f"restore {name}", Status.CHANGED, f"{include or 'everything'} into {dest}")
    )
    return report


def day_of(label: str) -> date | None:
    try:
        return datetime.strptime(label.rsplit("-", 1)[-1], "%Y%m%d").date()
    except ValueError:
        return None
