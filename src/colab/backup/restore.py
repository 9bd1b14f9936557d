"""`backup.restore`: a path (or everything) from a snapshot into a new folder, or over the live data with
--in-place and a confirmation; or a database dump into a named database.

Restore reads only what is inside the snapshot and writes only inside the destination, as root too: the path
is walked one folder at a time with O_NOFOLLOW on both sides. A symlink on the way in the snapshot is refused
(it could lead to live files anywhere); asking for the symlink itself restores it as a symlink. A symlink on
the way in the destination (a live folder replaced by a link since the snapshot) is refused before anything is
written; missing folders are made with the snapshot's mode and owner. rsync then reads and writes through the
opened folders' descriptors (/proc/self/fd/N), so a path swapped meanwhile cannot redirect it, and inside the
tree it copies symlinks as symlinks and replaces, never follows, a symlink where the snapshot has a folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from rich.console import Console

from colab.backup import dumps, lock, rsync, snapshots, state
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


def _fresh_folder(into: Path) -> None:
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise ColabError(f"--into {into} exists and is not an empty folder; restore into a new folder")


_NOT_A_FOLDER = (errno.ELOOP, errno.ENOTDIR)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class _Fds:
    """Descriptors opened while walking, closed together."""

    fds: list[int] = field(default_factory=list)

    def keep(self, fd: int) -> int:
        self.fds.append(fd)
        return fd


@contextlib.contextmanager
def _descriptors() -> Iterator[_Fds]:
    held = _Fds()
    try:
        yield held
    finally:
        for fd in held.fds:
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass(frozen=True)
class _Source:
    parent: int  # the folder holding the entry (the entry itself when it is the whole snapshot)
    name: str  # "" for a folder's contents
    st: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


def _walk_snapshot(snap: snapshots.Snapshot, parts: tuple[str, ...], fds: _Fds) -> _Source:
    """Open the snapshot down to the entry `parts` names, never through a symlink."""
    target_fd = fds.keep(os.open(snap.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    here = fds.keep(os.open(snap.name, _DIR, dir_fd=target_fd))
    if not parts:
        return _Source(here, "", os.fstat(here))
    for i, part in enumerate(parts[:-1]):
        try:
            here = fds.keep(os.open(part, _DIR, dir_fd=here))
        except FileNotFoundError:
            raise ColabError(
                f"{'/'.join(parts)} is not in {snap.name}; see what it holds with: ls {snap.path}"
            ) from None
        except OSError as e:
            where = "/".join(parts[: i + 1])
            if e.errno in _NOT_A_FOLDER and state.is_symlink(here, part):
                to = os.readlink(part, dir_fd=here)
                raise ColabError(
                    f"{where} is a symlink in {snap.name} (to {to}): restore reads only what is inside the snapshot; "
                    f"restore {where} itself (it comes back as the symlink), or the folder it stands for"
                ) from None
            if e.errno in _NOT_A_FOLDER:
                raise ColabError(f"{where} is not a folder in {snap.name}; see ls {snap.path / where}") from None
            raise
    try:
        st = os.stat(parts[-1], dir_fd=here, follow_symlinks=False)
    except FileNotFoundError:
        raise ColabError(f"{'/'.join(parts)} is not in {snap.name}; see what it holds with: ls {snap.path}") from None
    if stat.S_ISDIR(st.st_mode):
        return _Source(fds.keep(os.open(parts[-1], _DIR, dir_fd=here)), "", st)
    return _Source(here, parts[-1], st)


def _walk_destination(
    root: Path, parts: tuple[str, ...], snap_dir: int, fds: _Fds, *, make: bool
) -> tuple[int | None, list[str]]:
    """Open (with `make`, create) the destination folders `parts` under `root`, never through a symlink; returns
    the innermost folder's descriptor (None when a dry run stops at a missing one) and the folders to make.
    `snap_dir` is the snapshot's root: missing folders get the mode (and, as root, the owner) they have there."""
    here = fds.keep(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    src = snap_dir
    missing: list[str] = []
    for i, part in enumerate(parts):
        where = "/".join(parts[: i + 1])
        src = fds.keep(os.open(part, _DIR, dir_fd=src))
        if missing and not make:
            missing.append(where)
            continue
        try:
            here = fds.keep(os.open(part, _DIR, dir_fd=here))
            continue
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno in _NOT_A_FOLDER and state.is_symlink(here, part):
                to = os.readlink(part, dir_fd=here)
                raise ColabError(
                    f"{root / where} is a symlink (to {to}) where {where} is a folder in the snapshot: restoring "
                    "through it would write outside the destination; move it aside, or restore --into a new folder"
                ) from None
            if e.errno in _NOT_A_FOLDER:
                raise ColabError(
                    f"{root / where} is not a folder, but {where} is one in the snapshot; move it aside first"
                ) from None
            raise
        missing.append(where)
        if not make:
            continue
        st = os.fstat(src)
        os.mkdir(part, 0o700, dir_fd=here)
        here = fds.keep(os.open(part, _DIR, dir_fd=here))
        if os.geteuid() == 0:
            os.fchown(here, st.st_uid, st.st_gid)
        os.fchmod(here, stat.S_IMODE(st.st_mode))
    return (None if missing and not make else here), missing


def _fd_path(fd: int, name: str = "") -> Path:
    return Path(f"/proc/self/fd/{fd}" + (f"/{name}" if name else ""))


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
    check_target(cfg)
    try:
        snap = snapshots.resolve(cfg.target, snapshot)
    except LookupError as e:
        raise ColabError(f"{e}; see inv backup.list") from None
    rel = relative_path(cfg, path)
    parts = PurePosixPath(rel).parts if rel else ()
    if in_place and into:
        raise ColabError("--into and --in-place exclude each other; pick one")
    with _descriptors() as fds:
        source = _walk_snapshot(snap, parts, fds)
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
                _, missing = _walk_destination(dest_root, folders, _snapshot_root(snap, fds), fds, make=False)
            if missing:
                out.command(["mkdir", "-p", str(shown_into)])
            out.command(_argv(shown_src, source.is_dir, shown_into, in_place=in_place))
            report.outcomes.append(outcome(cfg.node, f"restore {rel or 'everything'}", Status.PLANNED, where))
            return report
        with lock.hold(cfg.target, task, wait=cfg.wait, on_wait=out.say):
            state.validate(cfg.target)
            dest_root.mkdir(parents=True, exist_ok=True)
            into_fd, _ = _walk_destination(dest_root, folders, _snapshot_root(snap, fds), fds, make=True)
            assert into_fd is not None
            out.say(f"restoring {snap.name}/{rel} {where}: {dest}")
            src_arg = _fd_path(source.parent, source.name)
            with rsync_progress(console, f"restore {rel or snap.name}") as hook:
                res = rsync.run(
                    _argv(src_arg, source.is_dir, _fd_path(into_fd), in_place=in_place, progress=hook is not None),
                    on_progress=hook,
                    keep_fds=[source.parent, into_fd],
                )
    verdict = rsync.classify(res.returncode, res.stderr)
    status = {"ok": Status.CHANGED, "warning": Status.WARNING, "failed": Status.FAILED}[verdict.status]
    detail = verdict.message or f"{res.stats.files:,} entries, {res.stats.total_size:,} bytes {where}"
    report.outcomes.append(outcome(cfg.node, f"restore {rel or 'everything'} from {snap.name}", status, detail))
    return report


def _snapshot_root(snap: snapshots.Snapshot, fds: _Fds) -> int:
    parent = fds.keep(os.open(snap.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    return fds.keep(os.open(snap.name, _DIR, dir_fd=parent))


def _argv(src: Path, is_dir: bool, into: Path, *, in_place: bool, progress: bool = False) -> list[str]:
    """A folder's contents into `into`, or one entry (a file, a symlink as a symlink) into the folder `into`."""
    argv = [rsync.RSYNC, "-a", "--numeric-ids", "--stats"]
    if in_place:
        argv.append("--checksum")
    if progress:
        argv.append("--info=progress2")
    return [*argv, f"{src}/" if is_dir else str(src), f"{into}/"]


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
