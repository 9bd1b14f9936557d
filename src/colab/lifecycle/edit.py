"""One inventory change as a transaction: everything checked and rendered in memory, then written, or nothing.

`prepare` parses the new inventory text (every rule `inv inventory.check` applies, one line per problem),
renders every generated file from it (`inv render`, in memory: a template error writes nothing) and works out
which services deploy differently now (`colab.lifecycle.impact`). `apply` then writes, in this order: a new
compose folder (built aside and renamed into place), the inventory (atomically, its mode kept), the rendered
files (`colab.render.disk.write_tree`: built aside, swapped in). If a later write fails, the earlier ones are
undone, so a failed run leaves the previous state.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from colab import inventory, inventory_edit
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.lifecycle import impact
from colab.render import disk
from colab.render.tree import render_tree


@dataclass(frozen=True)
class Prepared:
    path: Path  # the inventory file
    old_text: str
    new_text: str
    old: Inventory
    new: Inventory
    tree: dict[str, bytes]  # what `inv render` writes for the new inventory
    output: Path  # where it writes it (the repository, or --output)
    changes: list[impact.Change]
    folders: dict[Path, dict[str, str]] = field(default_factory=dict)  # new compose folders: files by name


@dataclass(frozen=True)
class Applied:
    rendered: list[str]  # generated files that changed
    total: int  # generated files in all


def prepare(
    path: Path,
    new_text: str,
    *,
    what: str,
    output: Path | None = None,
    folders: Mapping[Path, Mapping[str, str]] | None = None,
) -> Prepared:
    """Check `new_text` as the inventory at `path` and render it; raises ColabError (nothing written)."""
    old_text = _read(path)
    old = inventory.parse(old_text, source=str(path))
    new = inventory.parse(new_text, source=f"{path} (after {what})")
    for folder in folders or {}:
        if folder.exists():
            raise ColabError(f"{folder} exists already; pick another name, or move that folder away first")
    tree = render_tree(new)
    old_tree = render_tree(old)
    found = impact.changes(old, new, old_tree=old_tree, new_tree=tree)
    return Prepared(
        path, old_text, new_text, old, new, tree, output or inventory.REPO_ROOT, found,
        {Path(k): dict(v) for k, v in (folders or {}).items()},
    )  # fmt: skip


def apply(p: Prepared) -> Applied:
    """Write the folders, the inventory and the rendered files; undo the earlier writes if a later one fails."""
    made: list[Path] = []
    inventory_written = False
    try:
        for folder, files in p.folders.items():
            _write_folder(folder, files)
            made.append(folder)
        if _read(p.path) != p.old_text:
            raise ColabError(f"{p.path} changed while this ran; nothing was written, run again")
        inventory_edit.write_atomic(p.path, p.new_text)
        inventory_written = True
        changed = disk.write_tree(p.tree, p.output, disk.owned())
    except BaseException:
        if inventory_written:
            inventory_edit.write_atomic(p.path, p.old_text)
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return Applied(changed, len(p.tree))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ColabError(f"cannot read the inventory {path} ({e}); pass --inventory PATH") from None


def _write_folder(folder: Path, files: Mapping[str, str]) -> None:
    """The folder with exactly `files`, built beside it and renamed into place (never half there)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, text in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            target.chmod(0o644)
        staging.chmod(0o755)
        if folder.exists():
            raise ColabError(f"{folder} appeared while this ran; nothing was written")
        os.rename(staging, folder)  # fails if the folder appeared meanwhile: nothing is overwritten
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
