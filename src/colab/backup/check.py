"""`backup.check`: is the latest snapshot a faithful copy of the source?

Spot check: the entry counts of source and snapshot, and the SHA-256 of a random sample of files.
`--full`: a trial restore of the whole snapshot into a scratch folder (the real restore path), then every
file of it compared with the snapshot and with the source by checksum. Files changed in the source after
the snapshot was taken are reported as such, not as errors.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console

from colab.backup import lock, rsync, snapshots, space
from colab.backup.config import Config, check_source, check_target
from colab.backup.output import Out, outcome, rsync_progress
from colab.errors import ColabError
from colab.steps import Outcome, Report, Status


@dataclass
class Findings:
    mismatched: list[str] = field(default_factory=list)
    changed_since: list[str] = field(default_factory=list)
    gone_since: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def taken_at(target: Path, snap: snapshots.Snapshot) -> float:
    """When the snapshot's rsync started (wall clock), from its record; else the folder's change time."""
    meta = snapshots.read_meta(target, snap.name)
    for key in ("started", "finished"):
        text = meta.get(key)
        if isinstance(text, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(text).timestamp()
    return snap.path.stat().st_ctime


def regular_files(root: Path) -> list[str]:
    out: list[str] = []
    stack = [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file(follow_symlinks=False):
                    out.append(os.path.relpath(e.path, root))
    return sorted(out)


def _changed_since(source: Path, rel: str, since: float) -> bool:
    try:
        st = os.lstat(source / rel)
    except FileNotFoundError:
        return True
    return max(st.st_mtime, st.st_ctime) >= since


def spot_check(cfg: Config, *, console: Console, sample: int = 32, seed: int | None = None) -> Report:
    out = Out(cfg.node, console)
    check_target(cfg)
    check_source(cfg)
    snap = _latest(cfg)
    report = Report(f"backup.check {snap.name} against {cfg.source}")
    with lock.hold(snapshots.lock_path(cfg.target), "backup.check", wait=cfg.wait, on_wait=out.say):
        since = taken_at(cfg.target, snap)
        out.say(f"counting entries in {cfg.source} and {snap.name}")
        in_source, in_snap = space.usage(cfg.source).files, space.usage(snap.path).files
        if in_source == in_snap:
            report.outcomes.append(outcome(cfg.node, "file count", Status.OK, f"{in_snap:,} entries in both"))
        else:
            detail = (
                f"{in_snap:,} entries in {snap.name}, {in_source:,} in the source now (changes since the "
                "snapshot explain a difference; run a daily, then check again)"
            )
            report.outcomes.append(outcome(cfg.node, "file count", Status.WARNING, detail))
        files = regular_files(snap.path)
        picked = random.Random(seed).sample(files, min(sample, len(files)))
        found = Findings()
        for rel in picked:
            if _changed_since(cfg.source, rel, since):
                (found.gone_since if not (cfg.source / rel).exists() else found.changed_since).append(rel)
                continue
            if _sha256(cfg.source / rel) != _sha256(snap.path / rel):
                found.mismatched.append(rel)
    report.outcomes.append(_hash_outcome(cfg, found, len(picked)))
    return report


def _hash_outcome(cfg: Config, found: Findings, checked: int) -> Outcome:
    step = f"hashes of {checked} sampled files"
    notes = []
    if found.changed_since:
        notes.append(f"{len(found.changed_since)} changed in the source since the snapshot")
    if found.gone_since:
        notes.append(f"{len(found.gone_since)} deleted from the source since")
    if found.mismatched:
        shown = ", ".join(found.mismatched[:5])
        return outcome(cfg.node, step, Status.FAILED, f"{len(found.mismatched)} differ from the source: {shown}")
    return outcome(cfg.node, step, Status.OK, "; ".join(notes) or "all equal")


def _latest(cfg: Config) -> snapshots.Snapshot:
    try:
        return snapshots.resolve(cfg.target, "latest")
    except LookupError as e:
        raise ColabError(f"{e}; take one with inv backup.daily") from None


def classify_differences(itemized: list[str], source: Path, since: float) -> Findings:
    """Sort an rsync itemized comparison (source → restored copy) into mismatches and later changes."""
    found = Findings()
    for line in itemized:
        if line.startswith("*deleting "):
            found.gone_since.append(line.split(maxsplit=1)[1])
            continue
        flags, _, rel = line.partition(" ")
        if len(flags) < 2 or flags[1] == "d":
            continue  # directory times follow their contents
        rel = rel.split(" -> ")[0]
        (found.changed_since if _changed_since(source, rel, since) else found.mismatched).append(rel)
    return found


def full_check(cfg: Config, *, console: Console, scratch: str | None = None) -> Report:
    out = Out(cfg.node, console)
    check_target(cfg)
    check_source(cfg)
    snap = _latest(cfg)
    report = Report(f"backup.check --full {snap.name}: trial restore and compare")
    base = Path(os.path.abspath(scratch)) if scratch else snapshots.state_dir(cfg.target)
    base.mkdir(parents=True, exist_ok=True)
    room = base / f"scratch-{os.getpid()}"
    with lock.hold(snapshots.lock_path(cfg.target), "backup.check", wait=cfg.wait, on_wait=out.say):
        meta = snapshots.read_meta(cfg.target, snap.name)
        need = int(meta["size"]) if "size" in meta else space.usage(snap.path).bytes
        free = space.free(base)
        if not space.room_for(need, free):
            raise ColabError(
                f"no room for a trial restore in {base}: needs {space.human(need)}, {space.human(free)} free; "
                "pass --scratch DIR on a volume with room"
            )
        since = taken_at(cfg.target, snap)
        try:
            room.mkdir()
            out.say(f"trial restore of {snap.name} into {room}")
            with rsync_progress(console, f"trial restore of {snap.name}") as hook:
                res = rsync.run(rsync.copy_argv(snap.path, room, progress=hook is not None), on_progress=hook)
            verdict = rsync.classify(res.returncode, res.stderr)
            if verdict.status != "ok":
                report.outcomes.append(outcome(cfg.node, "trial restore", Status.FAILED, verdict.message))
                return report
            restored = f"{res.stats.files:,} entries, {space.human(res.stats.total_size)}"
            report.outcomes.append(outcome(cfg.node, "trial restore", Status.OK, restored))
            out.say("comparing the restored copy with the snapshot, every byte")
            faithful = rsync.run(rsync.compare_argv(snap.path, room))
            diffs = [ln for ln in faithful.itemized if not _is_dir_line(ln)]
            if faithful.returncode != 0 or diffs:
                detail = f"restored copy differs from {snap.name}: {', '.join(diffs[:5]) or faithful.stderr.strip()}"
                report.outcomes.append(outcome(cfg.node, "restored = snapshot", Status.FAILED, detail))
            else:
                report.outcomes.append(outcome(cfg.node, "restored = snapshot", Status.OK, "every file equal"))
            out.say(f"comparing the restored copy with the source {cfg.source}, every byte")
            against = rsync.run(rsync.compare_argv(cfg.source, room))
            found = classify_differences(against.itemized, cfg.source, since)
            report.outcomes.append(_source_outcome(cfg, found, against))
        finally:
            _remove(room)
    return report


def _is_dir_line(line: str) -> bool:
    flags = line.partition(" ")[0]
    return len(flags) >= 2 and flags[1] == "d" and not line.startswith("*deleting")


def _source_outcome(cfg: Config, found: Findings, res: rsync.Run) -> Outcome:
    step = "restored = source"
    if res.returncode not in (0, 23, 24):
        return outcome(cfg.node, step, Status.FAILED, rsync.classify(res.returncode, res.stderr).message)
    if found.mismatched:
        shown = ", ".join(found.mismatched[:5])
        detail = f"{len(found.mismatched)} file(s) differ although unchanged since the snapshot: {shown}"
        return outcome(cfg.node, step, Status.FAILED, detail)
    notes = []
    if found.changed_since:
        notes.append(f"{len(found.changed_since)} changed in the source since the snapshot")
    if found.gone_since:
        notes.append(f"{len(found.gone_since)} no longer in the source")
    return outcome(cfg.node, step, Status.OK, "; ".join(notes) or "every file equal")


def _remove(path: Path) -> None:
    if path.exists():
        for root, dirs, _files in os.walk(path):
            for d in dirs:  # a restored read-only folder must not stop the cleanup
                p = os.path.join(root, d)
                with contextlib.suppress(OSError):
                    os.chmod(p, stat.S_IRWXU | os.stat(p).st_mode)
        shutil.rmtree(path, ignore_errors=True)
