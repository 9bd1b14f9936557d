"""Edit cluster.toml in place with tomlkit, keeping its comments and layout; validate before writing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from colab import inventory
from colab.errors import ColabError


def parse_value(text: str) -> Any:
    """A TOML literal (`true`, `3`, `["a", "b"]`, `"x"`), else the text as a plain string."""
    try:
        return tomlkit.parse(f"v = {text}")["v"]
    except TOMLKitError:
        return text


def set_value(path: Path, key: str, raw: str, *, dry_run: bool = False) -> str:
    """Set dotted `key` to `raw` and write atomically; returns the new file text. Nothing is written
    when the key path does not exist or the result does not validate."""
    text = path.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    parts = key.split(".")
    table: Any = doc
    for i, part in enumerate(parts[:-1]):
        if not isinstance(table, dict) or part not in table:
            raise ColabError(f"{key}: no table {'.'.join(parts[: i + 1])!r} in {path}; check the key path")
        table = table[part]
    if not isinstance(table, dict):
        raise ColabError(f"{key}: {'.'.join(parts[:-1])!r} is not a table")
    if parts[-1] not in table:
        raise ColabError(f"{key}: no such key in {path}; add new keys by hand")
    table[parts[-1]] = parse_value(raw)
    new_text = tomlkit.dumps(doc)
    inventory.parse(new_text, source=f"{path} (after setting {key})")  # refuse an edit that breaks it
    if not dry_run:
        write_atomic(path, new_text)
    return new_text


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename (a temporary file beside it, the mode kept)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
