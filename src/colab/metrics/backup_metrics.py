"""What every backup run leaves for Prometheus: `colab-backup.prom` in node-exporter's textfile directory.

Written when a run ends, whatever the outcome (`recording` wraps the run in `tasks/backup.py`). The run's own
facts (when it ended, how long it took, its exit status) come from the run; everything else is read from the
backup volume, the same layout `inv status` reads (`colab.backup.snapshots`), so a failed run still reports
the last good snapshot:

- `colab_backup_last_success_timestamp_seconds`: the newest complete snapshot's `created` time (what `inv
  status` judges, 26 hours at most), 0 when there is none; it only moves when a snapshot completes;
- its size, bytes copied and file count; the number of snapshots and of dumps on the volume;
- `colab_backup_offsite_age_seconds` once an off-site copy exists: seconds since `inv backup.offsite` last
  finished a copy (its record on the volume), as of when the file is written.

Where: `$COLAB_METRICS_DIR`, else `monitoring.textfile_dir` from the inventory; nothing without either, and
nothing for a dry run or a drill on another folder (`--source`/`--target`) unless `$COLAB_METRICS_DIR` asks
for it, so a drill never overwrites what the real volume says. A file that cannot be written is a warning
(exit 2), never a failed backup.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from colab.backup import dumps, lock, snapshots
from colab.backup.config import Config
from colab.errors import ColabError
from colab.steps import Outcome, Report, Status

from . import textfile

FILE = "colab-backup.prom"
ENV_DIR = "COLAB_METRICS_DIR"


@dataclass(frozen=True)
class Run:
    task: str  # backup.daily, backup.weekly
    started: float  # epoch seconds
    finished: float
    exit_code: int  # 0 ok, 1 failed, 2 warnings, 130 interrupted


def offsite_age(target: Path, now: float) -> float | None:
    """Seconds since the newest off-site copy finished (`inv backup.offsite`'s record on the volume); None before
    the first one, and then `colab_backup_offsite_age_seconds` is not written."""
    from colab.backup import offsite  # only here: the metrics of a volume without off-site copies need none of it

    finished = offsite.last_copy(target)
    return None if finished is None else max(0.0, round(now - finished, 3))


def _created(target: Path, snap: snapshots.Snapshot) -> float:
    meta = snapshots.read_meta(target, snap.name)
    text = meta.get("created")
    if isinstance(text, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(text).timestamp()
    return datetime(snap.date.year, snap.date.month, snap.date.day).timestamp()


def families(target: Path, run: Run) -> list[textfile.Family]:
    """The file's metrics for a run that just ended, read from the volume at `target`."""
    F = textfile.Family
    task = {"task": run.task}
    last_run = F("colab_backup_last_run_timestamp_seconds", "When the last backup run of this task ended.")
    last_run.add(run.finished, **task)
    duration = F("colab_backup_last_run_duration_seconds", "How long the last backup run of this task took.")
    duration.add(round(run.finished - run.started, 3), **task)
    code = F("colab_backup_last_run_exit_code", "Exit status of the last run: 0 ok, 1 failed, 2 warnings.")
    code.add(run.exit_code, **task)
    out = [last_run, duration, code]

    complete = snapshots.complete(target)
    newest = snapshots.latest(target) or (complete[-1] if complete else None)
    success = F(
        "colab_backup_last_success_timestamp_seconds",
        "When the newest complete snapshot was taken (its created time); 0 when there is none.",
    )
    success.add(_created(target, newest) if newest else 0)
    out.append(success)
    count = F("colab_backup_snapshots", "Complete snapshots on the backup volume.")
    count.add(len(complete))
    dump_count = F("colab_backup_dumps", "Database dumps on the backup volume.")
    dump_count.add(len(dumps.existing(target)))
    out += [count, dump_count]
    if newest is not None:
        meta = snapshots.read_meta(target, newest.name)
        for key, name, text in (
            ("size", "colab_backup_snapshot_size_bytes", "Bytes in the newest snapshot (as rsync counted them)."),
            ("copied", "colab_backup_snapshot_copied_bytes", "Bytes the newest snapshot copied (the rest linked)."),
            ("files", "colab_backup_snapshot_files", "Entries in the newest snapshot."),
            ("seconds", "colab_backup_snapshot_seconds", "How long rsync took for the newest snapshot."),
        ):
            value = meta.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                fam = F(name, text)
                fam.add(value, snapshot=newest.name)
                out.append(fam)
    age = offsite_age(target, run.finished)
    if age is not None:
        offsite = F("colab_backup_offsite_age_seconds", "Seconds since the newest off-site copy.")
        offsite.add(age)
        out.append(offsite)
    return out


def directory(cfg: Config) -> str | None:
    """Where this run's metrics go, or None when it writes none (see the module's notes)."""
    if cfg.dry_run:
        return None
    chosen = os.environ.get(ENV_DIR)
    if chosen:
        return chosen
    if cfg.overridden or cfg.inv.monitoring is None:
        return None
    return cfg.inv.monitoring.textfile_dir


def write(cfg: Config, run: Run) -> str | None:
    """Write the file; returns a warning text when it could not be written (None when written or not wanted)."""
    folder = directory(cfg)
    if folder is None:
        return None
    try:
        textfile.write(folder, FILE, textfile.exposition(families(cfg.target, run)))
    except (ColabError, OSError) as e:
        return f"backup metrics not written: {e}"
    return None


class Recorder:
    """Handed to the run's `with` block: `done(report)` when the run returned its report."""

    def __init__(self) -> None:
        self.report: Report | None = None

    def done(self, report: Report) -> Report:
        self.report = report
        return report


@contextlib.contextmanager
def recording(cfg: Config, task: str, warn: Callable[[str], None]) -> Iterator[Recorder]:
    """Write the metrics when the run inside ends: returned (its report's exit code) or raised (the error's).

    A metrics problem becomes a warning outcome in the run's report (exit 2), or, when the run raised, a line
    through `warn`. A run that found the lock busy did not run, and leaves the file as it is.
    """
    rec = Recorder()
    started = time.time()
    try:
        yield rec
    except lock.Busy:
        raise
    except BaseException as e:
        code = e.exit_code if isinstance(e, ColabError) else 130 if isinstance(e, KeyboardInterrupt) else 1
        problem = write(cfg, Run(task, started, time.time(), code))
        if problem:
            warn(problem)
        raise
    code = rec.report.exit_code if rec.report is not None else 0
    problem = write(cfg, Run(task, started, time.time(), code))
    if problem and rec.report is not None:
        rec.report.outcomes.append(Outcome(cfg.node, "metrics", Status.WARNING, problem))
    elif problem:
        warn(problem)
