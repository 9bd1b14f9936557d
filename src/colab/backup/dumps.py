"""PostgreSQL dumps through `docker compose exec -T` in each database's service, under Infisical.

Each database the inventory names (`services.<svc>.databases`) is dumped with `pg_dump -Fc` inside its
Compose service; the dump streams into a temporary file beside its final name, is checked with
`pg_restore --list` (run in the same service, so the versions match), and only then renamed into place:
    <target>/dumps/<service>/<database>-YYYYMMDD.dump
Dumps share the snapshots' retention, each database's series on its own. Secrets stay with Infisical:
the commands name the secrets path, never a value; what the injection holds is read first into a runner's
memory (`Runner.injected`), so a message quoting a tool's error masks every injected value.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from colab import injection, secrets
from colab.backup import snapshots, state
from colab.backup.retention import Decision, Policy, decide
from colab.compose import compose_argv
from colab.errors import ColabError
from colab.inventory import Database, Inventory, Service
from colab.runner import Result, Runner

_FILE = re.compile(r"^(?P<db>[A-Za-z_][A-Za-z0-9_]*)-(?P<day>\d{8})\.dump$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
TIMEOUT = 6 * 3600


@dataclass(frozen=True)
class DumpSpec:
    service: Service
    db: Database

    @property
    def key(self) -> str:
        return f"{self.service.name}/{self.db.name}"


@dataclass(frozen=True)
class DumpFile:
    service: str
    db: str
    date: date
    path: Path
    size: int

    @property
    def key(self) -> str:
        return f"{self.service}/{self.db}"


def specs(inv: Inventory) -> list[DumpSpec]:
    return [DumpSpec(svc, db) for svc in sorted(inv.services.values(), key=lambda s: s.name) for db in svc.databases]


def find_spec(inv: Inventory, key: str) -> DumpSpec:
    for spec in specs(inv):
        if spec.key == key:
            return spec
    known = ", ".join(s.key for s in specs(inv)) or "none"
    raise ColabError(f"no database {key!r} in the inventory; use SERVICE/DATABASE, one of: {known}")


def dumps_root(target: Path) -> Path:
    return target / snapshots.DUMPS


def final_path(target: Path, spec: DumpSpec, day: date) -> Path:
    return dumps_root(target) / spec.service.name / f"{spec.db.name}-{day:%Y%m%d}.dump"


def existing(target: Path) -> list[DumpFile]:
    """Complete dumps on the volume, oldest first."""
    found = []
    root = dumps_root(target)
    try:
        services = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    for svc in services:
        for entry in os.scandir(svc.path):
            m = _FILE.fullmatch(entry.name)
            if not m or not entry.is_file(follow_symlinks=False):
                continue
            try:
                day = datetime.strptime(m.group("day"), "%Y%m%d").date()
            except ValueError:
                continue
            found.append(DumpFile(svc.name, m.group("db"), day, Path(entry.path), entry.stat().st_size))
    return sorted(found, key=lambda f: (f.date, f.key))


# -------------------------------------------------------------------------------------------- argv


def _exec(inv: Inventory, spec: DumpSpec, command: Sequence[str]) -> list[str]:
    return compose_argv(inv, spec.service, ["exec", "-T", spec.db.service, *command])


def dump_argv(inv: Inventory, spec: DumpSpec) -> list[str]:
    return _exec(inv, spec, ["pg_dump", "-Fc", "-U", spec.db.user, spec.db.name])


def list_argv(inv: Inventory, spec: DumpSpec) -> list[str]:
    """`pg_restore --list` of the dump on stdin, by the service's own PostgreSQL (same version)."""
    return _exec(inv, spec, ["pg_restore", "--list"])


def exists_argv(inv: Inventory, spec: DumpSpec, database: str) -> list[str]:
    query = f"SELECT 1 FROM pg_database WHERE datname = '{_ident(database)}'"
    return _exec(inv, spec, ["psql", "-U", spec.db.user, "-d", spec.db.name, "-tAc", query])


def create_argv(inv: Inventory, spec: DumpSpec, database: str) -> list[str]:
    return _exec(inv, spec, ["createdb", "-U", spec.db.user, _ident(database)])


def restore_argv(inv: Inventory, spec: DumpSpec, database: str) -> list[str]:
    """pg_restore of the dump on stdin into `database`, all or nothing."""
    return _exec(
        inv,
        spec,
        [
            "pg_restore",
            "-U",
            spec.db.user,
            "-d",
            _ident(database),
            "--no-owner",
            "--clean",
            "--if-exists",
            "--single-transaction",
        ],
    )


def _ident(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise ColabError(f"database name {name!r} is not valid; use letters, digits and _ (starting with a letter)")
    return name


# --------------------------------------------------------------------------------------------- run


def _run(masks: Runner, argv: Sequence[str], *, stdin: int | None = None, stdout: int | None = None) -> Result:
    """Run argv here, its stdin/stdout on file descriptors; `masks` learns the injection first and masks
    what the command printed (the runner cannot stream a dump to a file, so it only masks here). The result's
    stdout is empty when it went to a file."""
    scope = injection.scope_of(argv)
    if scope is not None:
        masks.injected(scope)
    try:
        res = subprocess.run(
            list(argv),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ColabError(f"{argv[0]} is not installed; it is needed to reach the database") from None
    except subprocess.TimeoutExpired:
        raise ColabError(f"`{' '.join(argv[:2])} …` took longer than {TIMEOUT // 3600} h; stopped") from None
    text = res.stdout.decode("utf-8", "replace") if res.stdout is not None else ""
    return Result(res.returncode, masks.redact(text), masks.redact(res.stderr.decode("utf-8", "replace")))


def _masks(inv: Inventory, spec: DumpSpec) -> Runner:
    """A local runner that has read what the service's injection holds (once per dump or restore) and masks
    it; the service's required secrets whatever their length, like `secrets.check_present`."""
    r = Runner("local")
    values = r.injected(secrets.scope(inv, spec.service.secrets_path))
    for name in spec.service.secrets:
        if values.get(name):
            r.mask(values[name])
    return r


def take(inv: Inventory, spec: DumpSpec, target: Path, day: date) -> str:
    """Dump one database atomically; returns a one-line summary or raises ColabError. The dump folders are
    reached without following symlinks (`state.py`), so the dump lands on the volume and nowhere else."""
    final = final_path(target, spec, day)
    tmp = f".{final.name}.tmp"
    masks = _masks(inv, spec)
    with state.folder(target, snapshots.DUMPS, spec.service.name, create=True, mode=0o700) as folder:
        assert folder is not None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=folder.fd)
        fd = folder.open_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                res = _run(masks, dump_argv(inv, spec), stdout=fd)
                os.fsync(fd)
            finally:
                os.close(fd)
            if res.returncode != 0:
                raise ColabError(f"pg_dump of {spec.key} failed (exit {res.returncode}): {res.last_line}")
            size = folder.lstat(tmp).st_size
            if size == 0:
                raise ColabError(f"pg_dump of {spec.key} wrote nothing")
            entries = verify(inv, spec, Path(folder.proc(tmp)), masks)
            os.replace(tmp, final.name, src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
            os.fsync(folder.fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder.fd)
            raise
    return f"{final.name}: {size:,} bytes, {entries} entries (pg_restore --list ok)"


def verify(inv: Inventory, spec: DumpSpec, path: Path, masks: Runner | None = None) -> int:
    """`pg_restore --list` reads the whole table of contents; returns how many entries it lists."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        res = _run(masks or _masks(inv, spec), list_argv(inv, spec), stdin=fd)
    finally:
        os.close(fd)
    if res.returncode != 0:
        raise ColabError(f"dump of {spec.key} does not read back (pg_restore --list): {res.last_line}")
    entries = [ln for ln in res.stdout.splitlines() if ln.strip() and not ln.startswith(";")]
    if not entries:
        raise ColabError(f"dump of {spec.key} lists no entries (pg_restore --list); not kept")
    return len(entries)


def restore(inv: Inventory, spec: DumpSpec, dump: Path, database: str) -> str:
    """Restore a dump into `database` (created when missing), in one transaction."""
    masks = _masks(inv, spec)
    exists = _run(masks, exists_argv(inv, spec, database))
    if exists.returncode != 0:
        raise ColabError(f"cannot reach the database of {spec.key}: {exists.last_line}")
    created = ""
    if exists.stdout.strip() != "1":
        res = _run(masks, create_argv(inv, spec, database))
        if res.returncode != 0:
            raise ColabError(f"createdb {database} failed: {res.last_line}")
        created = " (created)"
    fd = os.open(dump, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        res = _run(masks, restore_argv(inv, spec, database), stdin=fd)
    finally:
        os.close(fd)
    if res.returncode != 0:
        raise ColabError(f"pg_restore into {database} failed, nothing changed: {res.last_line}")
    return f"{dump.name} restored into database {database}{created}"


# ------------------------------------------------------------------------------------------- prune


def decisions(target: Path, policy: Policy) -> dict[str, list[tuple[DumpFile, Decision]]]:
    """Retention per database series: each dump with its keep/prune decision."""
    series: dict[str, list[DumpFile]] = {}
    for f in existing(target):
        series.setdefault(f.key, []).append(f)
    out: dict[str, list[tuple[DumpFile, Decision]]] = {}
    for key, files in series.items():
        by_day = {f.date: f for f in files}
        out[key] = [(by_day[d.when], d) for d in decide(by_day, policy)]
    return out
