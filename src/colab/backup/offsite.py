"""The off-site copy (3-2-1): the newest snapshot and the dumps, to a restic repository on another box.

The RAID1 volume sits in the same box as fortress; one fire, theft, surge or mistaken `mkfs` takes both. So
`backup.offsite` copies the newest complete snapshot and the dumps folder with restic (encrypted, deduplicated)
to `backup.offsite`: another node's disk over SFTP (`sftp:<ssh_user>@<mesh>:<path>`, through the same ssh
options as the runner's), or any restic URL (S3-compatible storage). Each is its own restic snapshot, backed up
from inside its folder (`.`), so paths in the repository do not carry the date. restic would look for a parent
snapshot of the same path; each snapshot folder has its own name, so the kind's newest copy is named with
`--parent`, and `--ignore-ctime` because every snapshot hard-links unchanged files (which changes their ctime,
not their inode, size or time): unchanged files are not read again. A restic snapshot is tagged with what it
holds (`fortress` + `fortress-YYYYMMDD`, `dumps` + `dumps-YYYYMMDD`), so a second run for the same snapshot does
nothing. Then `restic forget` (per kind) and `restic prune` with the policy's counts (`backup.offsite.retention`,
else `backup.retention`).

The repository password is read from Infisical into memory and reaches restic only as RESTIC_PASSWORD in its
environment (never a file or argv); so do `backup.offsite.secrets` (S3 keys). Whatever restic prints is masked.
A record of the last copy (`.colab-backup/meta/offsite.json`, no secrets) feeds the off-site age metric.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from colab import secrets
from colab.backup import dumps, snapshots
from colab.errors import ColabError
from colab.inventory import Inventory, Offsite, Retention
from colab.runner import ENV_SSH_KEY, Runner, ssh_options

RESTIC = "restic"
PASSWORD_ENV = "RESTIC_PASSWORD"
FORTRESS, DUMPS = "fortress", "dumps"
RECORD = "offsite"  # .colab-backup/meta/offsite.json
TIMEOUT = 24 * 3600


@dataclass(frozen=True)
class Repo:
    url: str
    options: tuple[str, ...] = ()  # `-o sftp.command=…`
    host: str = "colab"  # restic's --host: the cluster, so the repository can hold other clusters too

    def argv(self, *args: str) -> list[str]:
        return [RESTIC, "-r", self.url, *self.options, *args]


def settings(inv: Inventory) -> Offsite:
    if inv.backup.offsite is None:
        raise ColabError(
            "no off-site copy in the inventory: add [backup.offsite] with node and path (SFTP to another node's "
            "disk) or url (e.g. s3:https://host/bucket/prefix); see docs/backup.md"
        )
    return inv.backup.offsite


def policy(inv: Inventory) -> Retention:
    return settings(inv).retention or inv.backup.retention


def sftp_command(inv: Inventory, node_name: str) -> str:
    """The ssh command restic runs for SFTP: the runner's options (COLAB_SSH_KEY, COLAB_SSH_OPTS; under the network
    guard no config file), batch mode, the node's user, address and port."""
    node = inv.node(node_name)
    host = str(node.mesh)
    argv = ["ssh", *ssh_options(host, "reach the off-site repository")]
    key = os.environ.get(ENV_SSH_KEY)
    if key:
        argv += ["-i", key]
    argv += ["-p", str(node.ssh_port), f"{node.ssh_user}@{host}", "-s", "sftp"]
    return shlex.join(argv)


def repository(inv: Inventory) -> Repo:
    off = settings(inv)
    host = f"colab-{inv.cluster.name}"
    if off.url is not None:
        return Repo(off.url, (), host)
    assert off.node is not None and off.path is not None  # the inventory check makes sure
    node = inv.node(off.node)
    url = f"sftp:{node.ssh_user}@{node.mesh}:{off.path}"
    return Repo(url, ("-o", f"sftp.command={sftp_command(inv, off.node)}"), host)


def where(inv: Inventory) -> str:
    """The repository for people: `director:/srv/…` or the URL."""
    off = settings(inv)
    return off.url or f"{off.node}:{off.path}"


# -------------------------------------------------------------------------------------------- argv


def backup_argv(repo: Repo, kind: str, label: str, when: datetime, parent: str = "") -> list[str]:
    """Back up the current folder (`.`) as one restic snapshot tagged `kind` and `label`, dated `when`. restic picks
    a parent by path, and each snapshot's folder has its own name: `parent` (the kind's newest copy) is named."""
    return repo.argv(
        "backup",
        *(["--parent", parent] if parent else []),
        "--json",
        "--host",
        repo.host,
        "--tag",
        f"{kind},{label}",
        "--time",
        when.strftime("%Y-%m-%d %H:%M:%S"),
        "--ignore-ctime",
        ".",
    )


def snapshots_argv(repo: Repo, tag: str | None = None) -> list[str]:
    return repo.argv("snapshots", "--json", "--host", repo.host, *(["--tag", tag] if tag else []))


def forget_argv(repo: Repo, keep: Retention, kind: str) -> list[str]:
    """restic's retention for one kind (its date tags differ on every snapshot: select by the kind, group by host).
    No --prune here: one `restic prune` after both kinds."""
    return repo.argv(
        "forget",
        "--host",
        repo.host,
        "--tag",
        kind,
        "--group-by",
        "host",
        "--keep-daily",
        str(keep.daily),
        "--keep-weekly",
        str(keep.weekly),
        "--keep-monthly",
        str(keep.monthly),
    )


def prune_argv(repo: Repo) -> list[str]:
    return repo.argv("prune")


def check_argv(repo: Repo, subset: str) -> list[str]:
    return repo.argv("check", f"--read-data-subset={subset}")


def init_argv(repo: Repo) -> list[str]:
    return repo.argv("init")


def probe_argv(repo: Repo) -> list[str]:
    """Exit 0 when the repository exists and the password opens it."""
    return repo.argv("cat", "config")


def restore_argv(repo: Repo, snapshot_id: str, into: Path, include: str = "") -> list[str]:
    return repo.argv("restore", snapshot_id, "--target", str(into), *(["--include", include] if include else []))


# -------------------------------------------------------------------------------------------- secrets


def environment(inv: Inventory, runner: Runner) -> dict[str, str]:
    """The password (and S3 keys) from Infisical, for restic's environment only. Every value is masked in what
    the runner redacts from then on."""
    off = settings(inv)
    values = runner.injected(secrets.scope(inv, off.password_path))
    if runner.dry_run:
        return {}
    env: dict[str, str] = {}
    missing = []
    for name, as_name in [(off.password_name, PASSWORD_ENV), *((n, n) for n in off.secrets)]:
        value = values.get(name)
        if value is None or not value.reveal():
            missing.append(name)
            continue
        runner.mask(value)
        env[as_name] = value.reveal()
    if missing:
        raise ColabError(
            f"missing secret(s) {', '.join(missing)} at Infisical path {off.password_path} "
            f"(env {inv.infisical.environment}): the off-site repository needs them; add them in Infisical"
        )
    return env


# ------------------------------------------------------------------------------------------------ run


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str  # masked
    stderr: str  # masked

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_error(self) -> str:
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit {self.returncode}"


def run(runner: Runner, argv: Sequence[str], env: Mapping[str, str], *, cwd: Path | None = None) -> Ran:
    """Run restic here with the secrets in its environment only; what it prints comes back masked."""
    for arg in argv:
        if any(value and value in arg for value in env.values()):
            raise ColabError("refusing to put a secret in restic's command line; it goes in the environment")
    full = {**os.environ, **env}
    try:
        res = subprocess.run(
            list(argv), env=full, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise ColabError("restic is not installed; apt-get install restic (Debian's package)") from None
    except subprocess.TimeoutExpired:
        raise ColabError(f"restic {argv[3] if len(argv) > 3 else ''} took longer than 24 h; stopped") from None
    out = runner.redact(res.stdout.decode("utf-8", "replace"))
    err = runner.redact(res.stderr.decode("utf-8", "replace"))
    return Ran(res.returncode, out, err)


def ensure_repository(runner: Runner, repo: Repo, env: Mapping[str, str]) -> bool:
    """Open the repository, creating it when there is none; True when it was created."""
    probe = run(runner, probe_argv(repo), env)
    if probe.ok:
        return False
    text = probe.stderr.lower()
    if "wrong password" in text or "no key found" in text:
        raise ColabError(
            f"the off-site repository {repo.url} does not open with the password from Infisical; "
            "check the secret (a repository's password cannot be changed by re-creating it)"
        )
    made = run(runner, init_argv(repo), env)
    if not made.ok:
        raise ColabError(f"cannot open or create the off-site repository {repo.url}: {probe.last_error()}")
    return True


def listed(runner: Runner, repo: Repo, env: Mapping[str, str], tag: str | None = None) -> list[dict[str, Any]]:
    """The repository's snapshots of our host (with `tag`), oldest first."""
    res = run(runner, snapshots_argv(repo, tag), env)
    if not res.ok:
        raise ColabError(f"restic snapshots failed on {repo.url}: {res.last_error()}")
    try:
        data = json.loads(res.stdout or "[]")
    except ValueError:
        raise ColabError(f"restic snapshots printed no JSON ({res.stdout[:80]!r})") from None
    return sorted((dict(s) for s in data or [] if isinstance(s, dict)), key=lambda s: str(s.get("time", "")))


def summary(stdout: str) -> dict[str, Any]:
    """The summary message of `restic backup --json`."""
    for line in reversed(stdout.splitlines()):
        with contextlib.suppress(ValueError):
            msg = json.loads(line)
            if isinstance(msg, dict) and msg.get("message_type") == "summary":
                return dict(msg)
    return {}


def label(kind: str, day: date) -> str:
    return f"{kind}-{day:%Y%m%d}"


def newest_dump_day(target: Path) -> date | None:
    found = dumps.existing(target)
    return max((f.date for f in found), default=None)


# ----------------------------------------------------------------------------------------- the record


def write_record(target: Path, record: dict[str, Any]) -> None:
    snapshots.write_meta(target, RECORD, record)


def read_record(target: Path) -> dict[str, Any]:
    return snapshots.read_meta(target, RECORD)


def last_copy(target: Path) -> float | None:
    """When the newest off-site copy finished (epoch seconds), from the record; None before the first."""
    value = read_record(target).get("finished")
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value).timestamp()
    return None


def pick(found: list[dict[str, Any]], when: str) -> dict[str, Any]:
    """`latest` or a date (YYYY-MM-DD / YYYYMMDD / the fortress-… name) among restic snapshots, oldest first."""
    if not found:
        raise LookupError("the off-site repository holds no such snapshot")
    if when in ("", "latest"):
        return found[-1]
    digits = when.replace("fortress-", "").replace("-", "")
    for snap in reversed(found):
        if any(str(t).endswith(f"-{digits}") for t in snap.get("tags") or []):
            return dict(snap)
    have = ", ".join(str(next((t for t in s.get("tags") or [] if "-" in str(t)), "?")) for s in found[-5:])
    raise LookupError(f"no off-site snapshot of {when}; newest: {have}")


@contextlib.contextmanager
def working_folder(path: Path) -> Iterator[Path]:
    """The folder restic backs up from, refused when it is a symlink (restic must read the snapshot itself)."""
    if path.is_symlink() or not path.is_dir():
        raise ColabError(f"{path} is not a folder; nothing to copy off-site")
    yield path
