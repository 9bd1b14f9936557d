"""A rendered tree against the files on disk: what render owns, the diff (`inv render --check`) and the write.

Render owns the top-level entries chezmoi/, .chezmoiroot and mise.toml whole, and single files under compose/
and docs/ one by one (the compose folders hold the services' own files too, docs/ the hand-written pages): a
file render no longer generates is removed, nothing else there is touched. `write_tree` builds the new tree in
a temporary folder beside the target and swaps it in, so no reader ever sees a half-written tree.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from colab.repo import REPO_ROOT

from .templates import DOCS, SERVICE_FILES, TEMPLATES_DIR, names, output_name


def _top(path: str) -> str:
    """What render owns for an output path: its top-level entry, or the file itself under compose/ and docs/."""
    top = path.split("/")[0]
    return path if top in (SERVICE_FILES, DOCS) else top


def _tops(tree: Mapping[str, bytes]) -> list[str]:
    return sorted({_top(p) for p in tree})


def owned(templates: Path = TEMPLATES_DIR) -> list[str]:
    """What render owns under the output root: the top-level entries chezmoi, .chezmoiroot and mise.toml, and
    each service file (compose/caddy/Caddyfile …) on its own, whether or not this inventory produces it."""
    return sorted({_top(output_name(rel)) for rel in names(templates)})


def _on_disk(root: Path, tops: list[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for top in tops:
        path = root / top
        if path.is_file():
            found[top] = path.read_bytes()
        elif path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() or f.is_symlink():
                    found[f.relative_to(root).as_posix()] = f.read_bytes() if f.is_file() else b""
    return found


def _lines(data: bytes | None) -> list[str]:
    if data is None:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def check_tree(tree: Mapping[str, bytes], root: Path = REPO_ROOT, tops: list[str] | None = None) -> str:
    """A unified diff from the files under `root` to what the inventory gives; "" when they match."""
    tops = tops if tops is not None else _tops(tree)
    disk = _on_disk(root, tops)
    chunks: list[str] = []
    for path in sorted(set(disk) | set(tree)):
        have, want = disk.get(path), tree.get(path)
        if have == want:
            continue
        a, b = (f"a/{path}" if have is not None else "/dev/null"), (f"b/{path}" if want is not None else "/dev/null")
        chunk = list(difflib.unified_diff(_lines(have), _lines(want), fromfile=a, tofile=b))
        chunks.extend(chunk or [f"--- {a}\n", f"+++ {b}\n"])  # an empty file appears or goes
    return "".join(chunks)


def changed_paths(tree: Mapping[str, bytes], root: Path, tops: list[str] | None = None) -> list[str]:
    tops = tops if tops is not None else _tops(tree)
    disk = _on_disk(root, tops)
    return sorted(p for p in set(disk) | set(tree) if disk.get(p) != tree.get(p))


def write_tree(tree: Mapping[str, bytes], root: Path = REPO_ROOT, tops: list[str] | None = None) -> list[str]:
    """Make `root` hold exactly `tree` under its top-level entries; returns the paths that changed.

    The new entries are written in full to a temporary folder inside `root` (same file system), then each
    top-level entry that changed (or single file under compose/) is swapped in by rename, so no reader ever
    sees a half-written tree.
    """
    tops = tops if tops is not None else _tops(tree)
    changed = changed_paths(tree, root, tops)
    if not changed:
        return []
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".render-", dir=root))
    try:
        new, old = staging / "new", staging / "old"
        new.mkdir()
        old.mkdir()
        for path, data in tree.items():
            target = new / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o644)
        for top in tops:
            if not any(p == top or p.startswith(f"{top}/") for p in changed):
                continue  # nothing new under it: leave it alone
            dest, fresh, aside = root / top, new / top, old / top
            aside.parent.mkdir(parents=True, exist_ok=True)  # tops under compose/ are nested files
            if fresh.is_dir() and dest.is_dir() and not dest.is_symlink():
                dest.rename(aside)
                fresh.rename(dest)
            elif fresh.exists():
                if dest.is_dir() and not dest.is_symlink():
                    dest.rename(aside)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(fresh, dest)
            elif dest.exists() or dest.is_symlink():
                dest.rename(aside)  # no longer generated
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changed
