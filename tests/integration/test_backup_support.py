"""Helpers for the backup integration tests (no tests here): trees, manifests, test inventories, `inv` runs.

Every backup test runs real rsync on real trees in temporary folders; `inv` runs as a child process the
way cron runs it (`python -m invoke` from the repo root, no terminal).
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import tomlkit
from rich.console import Console

from colab import inventory
from colab.backup import config, runs
from tests.conftest import INVENTORIES
from tests.harness.inv import run_inv

NODE = "cooperator"  # the backup node in the loopback inventory


def make_tree(root: Path, dirs: int, files: int, size: int, seed: int = 1) -> list[Path]:
    """dirs * files files of `size` random bytes (deterministic), plus a symlink and an empty folder."""
    rnd = random.Random(seed)
    made = []
    for d in range(dirs):
        folder = root / f"d{d:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(files):
            p = folder / f"f{f:04d}.bin"
            p.write_bytes(rnd.randbytes(size))
            made.append(p)
    (root / "empty").mkdir(exist_ok=True)
    link = root / "link-to-d000"
    if not link.is_symlink():
        link.symlink_to("d000")
    return made


def manifest(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under root: (kind+content hash, mode, inode) — a snapshot untouched keeps all three."""
    out: dict[str, tuple[str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link:" + os.readlink(p), st.st_mode, st.st_ino)
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode, st.st_ino)
            else:
                out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode, st.st_ino)
    return out


def differences(a: Path, b: Path) -> list[str]:
    """What rsync would change to make b equal a (contents by checksum); empty when identical."""
    res = subprocess.run(
        ["rsync", "-a", "--checksum", "--delete", "--dry-run", "--itemize-changes", f"{a}/", f"{b}/"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [ln for ln in res.stdout.splitlines() if ln.strip() and not ln.startswith(".d..t")]


def write_inventory(
    path: Path,
    *,
    source: Path,
    target: Path,
    ping_url: str = "",
    full_copy: bool = False,
    keep_databases: bool = False,
    fortress: Path | None = None,
    services: dict[str, Any] | None = None,
) -> Path:
    """loopback.toml with the backup paths (and optionally fortress and services) pointed at test folders."""
    doc = tomlkit.parse((INVENTORIES / "loopback.toml").read_text())
    backup: Any = doc["backup"]
    backup["source"], backup["target"] = str(source), str(target)
    backup["ping_url"], backup["full_copy"] = ping_url, full_copy
    if fortress is not None:
        doc["fortress"]["path"] = str(fortress)  # type: ignore[index]
    if not keep_databases:
        for svc in doc["services"].values():  # type: ignore[union-attr]
            svc.pop("databases", None)
    if services is not None:
        table: Any = doc["services"]
        for name, body in services.items():
            table[name] = body
    path.write_text(tomlkit.dumps(doc))
    inventory.load(path)  # must validate
    return path


def cron_inv(inventory_path: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """`inv ARGS` on the backup node as cron runs it: no terminal, stdin closed, a session of its own."""
    return run_inv(*args, node=NODE, inventory=inventory_path, env=env, timeout=timeout, new_session=True)


def daily_args(source: Path, target: Path, when: str, *more: str) -> list[str]:
    return ["backup.daily", "--source", str(source), "--target", str(target), "--now", when, *more]


def run_in_process(
    inventory_path: Path, source: Path, target: Path, when: str, kind: runs.Kind = "daily"
) -> runs.RunResult:
    """The same run as `inv backup.daily --source --target --now`, without a process per run (simulations)."""
    inv = inventory.load(inventory_path)
    cfg = config.make(inv, source=str(source), target=str(target), now=when)
    console = Console(file=StringIO(), width=200)
    return runs.run(cfg, task=f"backup.{kind}", kind=kind, with_dumps=False, console=console)


def snapshot_names(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir() if p.name.startswith("fortress-2"))


def leftovers(target: Path) -> list[str]:
    """Anything a run may leave behind: temporary trees and trash."""
    found = sorted(p.name for p in target.iterdir() if p.name.startswith(".fortress-"))
    trash = target / ".colab-backup" / "trash"
    if trash.is_dir():
        found += [f"trash/{p.name}" for p in trash.iterdir()]
    return found
