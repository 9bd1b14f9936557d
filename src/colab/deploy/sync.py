"""Put a service's files into its folder on the target node: idempotent and all-or-nothing.

The files are the service's compose folder in this checkout plus what `generated` renders from the
inventory (or, for a rollback, a recorded deployment's files). The check lists `<mode> <sha256> <path>` for
every file already there (POSIX sh, GNU or BSD tools); when that matches nothing is written. Otherwise a tar
stream on stdin is unpacked into a staging folder beside the target and swapped in with two renames
(`dir → .dir.colab-old`, `new → dir`). A failed or interrupted unpack removes its staging folder and puts the
old folder back if it was already renamed (a trap on exit, INT, TERM, HUP); what a kill -9 leaves is found by
the check (`leftover …`) and repaired by `recover` at the start of the next run, files changed or not.
The folder belongs to the deploy: files in it that the service does not have are removed by the swap.
The data folder (`<fortress>/data/<service>`) is created if missing and never touched otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from colab.errors import ColabError
from colab.runner import Runner

from .output import cause
from .target import Target

SKIP_NAMES = {"__pycache__", ".git", ".DS_Store"}

# Sets d (the folder), n and o (its staging folders beside it) from $1.
_NAMES = 'd=$1; p=$(dirname "$d"); b=$(basename "$d"); n="$p/.$b.colab-new"; o="$p/.$b.colab-old"; '
# Read-only: "data-missing" when the data folder is absent, "leftover <path>" for each staging folder an
# interrupted run left, then one line per file in the project folder.
CHECK_SCRIPT = (
    _NAMES + '[ -d "$2" ] || echo data-missing; for x in "$n" "$o"; do [ ! -e "$x" ] || echo "leftover $x"; done; '
    '[ -d "$d" ] || exit 0; cd "$d" || exit 1; '
    "find . -type f | LC_ALL=C sort | while IFS= read -r f; do "
    'm=$(stat -c %a "$f" 2>/dev/null || stat -f %Lp "$f"); '
    'h=$( (sha256sum "$f" 2>/dev/null || shasum -a 256 "$f") | cut -d " " -f 1); '
    'printf "%s %s %s\\n" "$m" "$h" "${f#./}"; done'
)
# What an interrupted run left: the old folder renamed away (put back), staging folders (removed).
RECOVER_SCRIPT = (
    "set -eu; " + _NAMES + 'if [ ! -e "$d" ] && [ -d "$o" ]; then mv "$o" "$d"; echo "put $o back"; fi; '
    'for x in "$n" "$o"; do if [ -e "$x" ]; then rm -rf "$x"; echo "removed $x"; fi; done'
)
# Unpack stdin into a staging folder, then swap it in. On failure or a signal: staging removed, old folder back.
_UNDO = 'c() { rm -rf "$n"; if [ ! -e "$d" ] && [ -d "$o" ]; then mv "$o" "$d"; fi; }; '
SYNC_SCRIPT = (
    f"set -eu; {_NAMES}"
    'mkdir -p "$p" "$2"; if [ ! -e "$d" ] && [ -d "$o" ]; then mv "$o" "$d"; fi; rm -rf "$n" "$o"; '
    f'{_UNDO}trap c EXIT; trap "exit 130" INT TERM HUP; '
    'mkdir "$n"; tar -x -f - -C "$n" --no-same-owner; chmod 755 "$n"; '
    'if [ -e "$d" ]; then mv "$d" "$o"; fi; mv "$n" "$d"; rm -rf "$o"'
)
# The folder's files as a base64 tar (text: the runner returns text), to adopt a deployment made before records.
FETCH_SCRIPT = 'cd "$1" && tar -cf - . | base64'
FILE_LINE = re.compile(r"[0-7]{3,4} [0-9a-f]{64} .")


@dataclass(frozen=True)
class File:
    path: str  # relative to the project folder, "/"-separated
    content: bytes
    mode: str  # octal, as `stat` prints it: "644" or "755"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def collect(target: Target, generated: dict[str, str]) -> list[File]:
    """The compose folder's files (hidden files and caches skipped) plus the generated ones, sorted."""
    files: dict[str, File] = {}
    for path in sorted(target.source.rglob("*")):
        rel = path.relative_to(target.source)
        if any(part in SKIP_NAMES or part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        mode = "755" if path.stat().st_mode & 0o111 else "644"
        files[rel.as_posix()] = File(rel.as_posix(), path.read_bytes(), mode)
    for name, text in generated.items():
        if name in files:
            raise ColabError(
                f"{target.source / name} is generated from the inventory at deploy time; remove it from the folder"
            )
        files[name] = File(name, text.encode(), "644")
    return [files[k] for k in sorted(files)]


def manifest(files: list[File]) -> list[str]:
    """What CHECK_SCRIPT prints for a folder holding exactly these files."""
    return sorted(f"{f.mode} {f.sha256} {f.path}" for f in files)


def digest(files: list[File]) -> str:
    """A short hash of the files, for a label that makes Compose recreate containers mounting them."""
    return hashlib.sha256("\n".join(manifest(files)).encode()).hexdigest()[:16]


def tar_bytes(files: list[File]) -> bytes:
    """A reproducible tar of the files (fixed owner and times, modes as given)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for f in files:
            for d in [p for p in reversed(Path(f.path).parents) if p != Path(".")]:
                if d.as_posix() not in dirs:
                    dirs.add(d.as_posix())
                    info = tarfile.TarInfo(d.as_posix())
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(f.path)
            info.size, info.mode = len(f.content), int(f.mode, 8)
            tar.addfile(info, io.BytesIO(f.content))
    return buf.getvalue()


def check_argv(target: Target) -> list[str]:
    return ["sh", "-c", CHECK_SCRIPT, "sh", target.project_dir, target.data_dir]


def sync_argv(target: Target) -> list[str]:
    return ["sh", "-c", SYNC_SCRIPT, "sh", target.project_dir, target.data_dir]


def recover_argv(target: Target) -> list[str]:
    return ["sh", "-c", RECOVER_SCRIPT, "sh", target.project_dir]


@dataclass(frozen=True)
class Found:
    """What the check found on the target: the folder's manifest, the data folder, leftovers of interrupted runs."""

    manifest: list[str]
    data_missing: bool
    leftovers: list[str]


def inspect(target: Target, runner: Runner) -> Found:
    res = runner.run(*check_argv(target), check=False, mutating=False)
    if not res.ok:
        raise ColabError(f"cannot read {target.project_dir} on {target.node.name}: {cause(res)}")
    lines = res.stdout.splitlines()
    return Found(
        manifest=sorted(line for line in lines if FILE_LINE.match(line)),
        data_missing="data-missing" in lines,
        leftovers=[line.split(" ", 1)[1] for line in lines if line.startswith("leftover ")],
    )


def differences(target: Target, files: list[File], runner: Runner, found: Found | None = None) -> str | None:
    """None when the target folder already holds exactly `files` and the data folder exists, else why not."""
    found = found or inspect(target, runner)
    reasons = []
    if found.data_missing:
        reasons.append(f"{target.data_dir} is missing")
    have = found.manifest
    if have != manifest(files):
        if not have:
            reasons.append(f"{target.project_dir} is empty or missing")
        else:
            changed = sorted({line.split(" ", 2)[2] for line in set(have) ^ set(manifest(files))})
            reasons.append(f"{len(changed)} file(s) differ: {', '.join(changed)}")
    return "; ".join(reasons) or None


def recover(target: Target, runner: Runner) -> list[str]:
    """Repair what an interrupted run left beside the folder; what was done, one phrase each."""
    res = runner.run(*recover_argv(target), check=False)
    if not res.ok:
        raise ColabError(f"cannot clean up beside {target.project_dir} on {target.node.name}: {cause(res)}")
    return [line for line in res.stdout.splitlines() if line]


def put(target: Target, files: list[File], runner: Runner) -> None:
    """Write the files on the target (atomically, see module docs)."""
    res = runner.run(*sync_argv(target), stdin=tar_bytes(files), check=False)
    if not res.ok:
        why = cause(res)
        fix = (
            f"free space on fortress ({target.fortress} on {target.node.name}), then run again"
            if "No space left" in why or "Disk quota" in why
            else f"check that {target.fortress} is mounted and writable by {target.node.ssh_user}"
        )
        raise ColabError(
            f"cannot write {target.project_dir} on {target.node.name}: {why}; {fix} (the folder is unchanged)"
        )


def fetch(target: Target, runner: Runner) -> list[File]:
    """The files in the target's folder now (modes as `collect` gives them)."""
    res = runner.run("sh", "-c", FETCH_SCRIPT, "sh", target.project_dir, check=False, mutating=False)
    if not res.ok:
        raise ColabError(f"cannot read {target.project_dir} on {target.node.name}: {cause(res)}")
    if runner.dry_run:
        return []
    files = []
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(res.stdout)), mode="r:") as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member) if member.isfile() else None
            if data is not None:
                mode = "755" if member.mode & 0o111 else "644"
                files.append(File(member.name.removeprefix("./"), data.read(), mode))
    return sorted(files, key=lambda f: f.path)
