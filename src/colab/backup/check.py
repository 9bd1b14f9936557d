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

from colab.backup import lock, rsync, snapshots, space, state
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
    with lock.hold(cfg.target, "backup.check", wait=cfg.wait, on_wait=out.say):
        state.validate(cfg.target)
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
    with lock.hold(cfg.target, "backup.check", wait=cfg.wait, on_wait=out.say):
        state.validate(cfg.target)
        with _scratch_base(cfg, scratch) as base:
            assert base is not None
            _trial(cfg, out, report, snap, base, console)
    return report


def _scratch_base(cfg: Config, scratch: str | None) -> contextlib.AbstractContextManager[state.Folder | None]:
    """--scratch DIR (made when missing), else the volume's own .colab-backup (reached without following links)."""
    if scratch:
        path = Path(os.path.abspath(scratch))
        path.mkdir(parents=True, exist_ok=True)
        return state.folder(path)
    return state.state(cfg.target, create=True)


def _trial(
    cfg: Config, out: Out, report: Report, snap: snapshots.Snapshot, base: state.Folder, console: Console
) -> None:
    meta = snapshots.read_meta(cfg.target, snap.name)
    need = int(meta["size"]) if "size" in meta else space.usage(snap.path).bytes
    free = space.free(Path(base.proc()))
    if not space.room_for(need, free):
        raise ColabError(
            f"no room for a trial restore in {base.path}: needs {space.human(need)}, {space.human(free)} free; "
            "pass --scratch DIR on a volume with room"
        )
    since = taken_at(cfg.target, snap)
    name = f"scratch-{os.getpid()}"
    _remove(base, name)  # left by a killed run that had this pid
    room = base.sub(name, create=True, mode=0o700)
    assert room is not None
    # rsync writes into the folder just made, through its descriptor: a path swapped meanwhile cannot redirect it.
    into = Path(room.proc())
    try:
        out.say(f"trial restore of {snap.name} into {room.path}")
        with rsync_progress(console, f"trial restore of {snap.name}") as hook:
            res = rsync.run(
                rsync.copy_argv(snap.path, into, progress=hook is not None), on_progress=hook, keep_fds=[room.fd]
            )
        verdict = rsync.classify(res.returncode, res.stderr)
        if verdict.status != "ok":
            report.outcomes.append(outcome(cfg.node, "trial restore", Status.FAILED, verdict.message))
            return
        restored = f"{res.stats.files:,} entries, {space.human(res.stats.total_size)}"
        report.outcomes.append(outcome(cfg.node, "trial restore", Status.OK, restored))
        out.say("comparing the restored copy with the snapshot, every byte")
        faithful = rsync.run(rsync.compare_argv(snap.path, into), keep_fds=[room.fd])
        diffs = [ln for ln in faithful.itemized if not _is_dir_line(ln)]
        if faithful.returncode != 0 or diffs:
            detail = f"restored copy differs from {snap.name}: {', '.join(diffs[:5]) or faithful.stderr.strip()}"
            report.outcomes.append(outcome(cfg.node, "restored = snapshot", Status.FAILED, detail))
        else:
            report.outcomes.append(outcome(cfg.node, "restored = snapshot", Status.OK, "every file equal"))
        out.say(f"comparing the restored copy with the source {cfg.source}, every byte")
        against = rsync.run(rsync.compare_argv(cfg.source, into), keep_fds=[room.fd])
        found = classify_differences(against.itemized, cfg.source, since)
        report.outcomes.append(_source_outcome(cfg, found, against))
    finally:
        room.close()
        _remove(base, name)


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


def _remove(base: state.Folder, name: str) -> None:
    """Delete base/name without following any symlink in it (it holds a restored tree, links and all)."""
    try:
        base.lstat(name)
    except FileNotFoundError:
        return
    with contextlib.suppress(OSError):
        for _root, _dirs, _files, dfd in os.fwalk(name, dir_fd=base.fd):
            # a restored read-only folder must not stop the cleanup (root needs no write bit; a user does)
            os.fchmod(dfd, stat.S_IMODE(os.fstat(dfd).st_mode) | stat.S_IRWXU)
    shutil.rmtree(name, dir_fd=base.fd, ignore_errors=True)
