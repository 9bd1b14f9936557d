"""Metrics for node-exporter's textfile collector: the Prometheus text format, written atomically.

node-exporter reads every `*.prom` file in its `--collector.textfile.directory` at each scrape. A file is
written whole under a hidden temporary name in that directory (same file system, and not `*.prom`, so it is
never read half-written), flushed to disk, then renamed over the old one: a scrape sees the previous file or
the new one, never a mix. node-exporter itself adds `node_textfile_mtime_seconds{file}` for each file, which
the alert rules use to notice an export that stopped.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from colab.errors import ColabError

SUFFIX = ".prom"
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Family:
    """One metric: its name, help text, type and samples (labels → value)."""

    name: str
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)
    kind: str = "gauge"

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((labels, value))


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(int(v)) if float(v).is_integer() and abs(v) < 2**53 else repr(float(v))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def exposition(families: Iterable[Family]) -> str:
    """The families in the Prometheus text format (version 0.0.4); a family without samples is left out."""
    lines: list[str] = []
    seen: set[str] = set()
    for fam in families:
        if not _NAME.fullmatch(fam.name) or fam.name in seen:
            raise ValueError(f"bad or repeated metric name {fam.name!r}")
        seen.add(fam.name)
        if not fam.samples:
            continue
        lines += [f"# HELP {fam.name} {_escape_help(fam.help)}", f"# TYPE {fam.name} {fam.kind}"]
        for labels, value in fam.samples:
            for key in labels:
                if not _LABEL.fullmatch(key) or key.startswith("__"):
                    raise ValueError(f"bad label name {key!r} on {fam.name}")
            inner = ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in labels.items())
            lines.append(f"{fam.name}{{{inner}}} {_value(value)}" if inner else f"{fam.name} {_value(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def write(directory: str | os.PathLike[str], name: str, text: str) -> Path:
    """Replace `<directory>/<name>` (a `*.prom` file) with `text`, atomically; returns its path.

    Raises ColabError (one line) when the directory is missing or not writable; nothing is changed then.
    """
    if not name.endswith(SUFFIX) or "/" in name:
        raise ValueError(f"textfile name {name!r} must be a plain *.prom file name")
    folder = Path(directory)
    if not folder.is_dir():
        raise ColabError(
            f"metrics directory {folder} does not exist; create it (chezmoi does, see docs/monitoring.md) "
            "or pass another --metrics DIR"
        )
    return replace(folder / name, text)


def replace(target: Path, text: str) -> Path:
    """Write `text` to a hidden temporary file beside `target`, flush it to disk, then rename it over `target`
    (readable by all: node-exporter and Caddy run as other users). Raises ColabError; nothing changed then."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise ColabError(f"cannot write into {target.parent}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ColabError(f"cannot write {target}: {e.strerror or e}") from None
    return target
