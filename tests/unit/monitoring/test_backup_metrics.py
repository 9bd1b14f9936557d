"""What a backup run leaves for Prometheus: the metrics from a volume laid out as colab.backup makes it, and
when the file is (and is not) written: success, failure, a busy lock, a dry run, a drill, a missing folder."""

from __future__ import annotations

import copy
import os
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from colab import inventory
from colab.backup import config, lock, snapshots
from colab.errors import ColabError
from colab.metrics import backup_metrics as bm
from colab.metrics import textfile
from colab.steps import Outcome, Report, Status

ROOT = Path(__file__).resolve().parents[3]


def volume(target: Path) -> Path:
    """Two complete snapshots (the newest with its record), an unfinished one, a dump and the latest link."""
    for name in ("fortress-20240103", "fortress-20240104", ".fortress-20240105.tmp"):
        (target / name).mkdir(parents=True)
    snapshots.write_meta(
        target,
        "fortress-20240104",
        {"created": "2024-01-04T03:15", "size": 257_000_000, "copied": 4_100_000, "files": 101_001, "seconds": 3.2},
    )
    os.symlink("fortress-20240104", target / snapshots.LATEST)
    dump = target / "dumps" / "gitea" / "gitea-20240104.dump"
    dump.parent.mkdir(parents=True)
    dump.write_bytes(b"PGDMP")
    return target


def text_of(target: Path, run: bm.Run) -> str:
    return textfile.exposition(bm.families(target, run))


def test_the_metrics_of_a_volume_exactly(tmp_path: Path) -> None:
    target = volume(tmp_path / "backup")
    created = datetime(2024, 1, 4, 3, 15).timestamp()
    run = bm.Run("backup.daily", 1_704_338_100.0, 1_704_338_112.5, 2)
    lines = [line for line in text_of(target, run).splitlines() if not line.startswith("#")]
    assert lines == [
        'colab_backup_last_run_timestamp_seconds{task="backup.daily"} 1704338112.5',
        'colab_backup_last_run_duration_seconds{task="backup.daily"} 12.5',
        'colab_backup_last_run_exit_code{task="backup.daily"} 2',
        f"colab_backup_last_success_timestamp_seconds {int(created)}",
        "colab_backup_snapshots 2",
        "colab_backup_dumps 1",
        'colab_backup_snapshot_size_bytes{snapshot="fortress-20240104"} 257000000',
        'colab_backup_snapshot_copied_bytes{snapshot="fortress-20240104"} 4100000',
        'colab_backup_snapshot_files{snapshot="fortress-20240104"} 101001',
        'colab_backup_snapshot_seconds{snapshot="fortress-20240104"} 3.2',
    ]


def test_a_snapshot_without_its_record_counts_from_midnight_of_its_date(tmp_path: Path) -> None:
    target = tmp_path / "backup"
    (target / "fortress-20240107").mkdir(parents=True)
    text = text_of(target, bm.Run("backup.weekly", 0, 1, 0))
    assert f"colab_backup_last_success_timestamp_seconds {int(datetime(2024, 1, 7).timestamp())}\n" in text
    assert "colab_backup_snapshot_size_bytes" not in text  # unknown, not zero


def test_an_empty_volume_reports_no_success_at_all(tmp_path: Path) -> None:
    text = text_of(tmp_path, bm.Run("backup.daily", 0, 1, 1))
    assert "colab_backup_last_success_timestamp_seconds 0\n" in text  # older than any limit: the alert fires
    assert "colab_backup_snapshots 0\n" in text and "colab_backup_dumps 0\n" in text
    assert "offsite" not in text  # no off-site copy exists yet: the metric is absent, not 0


def test_an_offsite_age_appears_when_the_hook_returns_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bm, "offsite_age", lambda target, now: 7200.0)
    text = text_of(tmp_path, bm.Run("backup.daily", 0, 1, 0))
    assert "# TYPE colab_backup_offsite_age_seconds gauge\ncolab_backup_offsite_age_seconds 7200\n" in text


# ------------------------------------------------------------------------------------- when it is written


def inv_with(textfile_dir: Path, target: Path) -> inventory.Inventory:
    d: dict[str, Any] = copy.deepcopy(tomllib.loads((ROOT / "cluster.toml").read_text()))
    d["monitoring"]["textfile_dir"] = str(textfile_dir)
    d["backup"]["target"] = str(target)
    return inventory.from_dict(d)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, inventory.Inventory]:
    monkeypatch.delenv(bm.ENV_DIR, raising=False)
    metrics, target = tmp_path / "metrics", volume(tmp_path / "backup")
    metrics.mkdir()
    return metrics, target, inv_with(metrics, target)


def report(*statuses: Status) -> Report:
    return Report("backup.daily", [Outcome("cooperator", f"step {i}", s) for i, s in enumerate(statuses)])


def test_a_run_that_returns_writes_its_exit_code(site: tuple[Path, Path, inventory.Inventory]) -> None:
    metrics, _, inv = site
    cfg = config.make(inv)
    with bm.recording(cfg, "backup.daily", warn=pytest.fail) as rec:
        rec.done(report(Status.OK, Status.WARNING))
    text = (metrics / bm.FILE).read_text()
    assert 'colab_backup_last_run_exit_code{task="backup.daily"} 2\n' in text
    assert "colab_backup_snapshots 2\n" in text


def test_a_run_that_raises_writes_a_failure_and_the_error_goes_on(site: tuple[Path, Path, inventory.Inventory]) -> None:
    metrics, _, inv = site
    with (
        pytest.raises(ColabError, match="source is empty"),
        bm.recording(config.make(inv), "backup.daily", pytest.fail),
    ):
        raise ColabError("backup source is empty")
    assert 'colab_backup_last_run_exit_code{task="backup.daily"} 1\n' in (metrics / bm.FILE).read_text()


def test_a_busy_lock_is_no_run_and_leaves_the_file(site: tuple[Path, Path, inventory.Inventory]) -> None:
    metrics, _, inv = site
    (metrics / bm.FILE).write_text("previous\n")
    with pytest.raises(lock.Busy), bm.recording(config.make(inv), "backup.daily", pytest.fail):
        raise lock.Busy("held by pid 1")
    assert (metrics / bm.FILE).read_text() == "previous\n"


@pytest.mark.parametrize("how", ["dry-run", "drill"])
def test_dry_runs_and_drills_write_nothing(site: tuple[Path, Path, inventory.Inventory], how: str) -> None:
    metrics, target, inv = site
    cfg = config.make(inv, dry_run=True) if how == "dry-run" else config.make(inv, target=str(target))
    with bm.recording(cfg, "backup.daily", pytest.fail) as rec:
        rec.done(report(Status.OK))
    assert list(metrics.iterdir()) == []


def test_a_drill_writes_where_colab_metrics_dir_says(
    site: tuple[Path, Path, inventory.Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, target, inv = site
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setenv(bm.ENV_DIR, str(other))
    with bm.recording(config.make(inv, target=str(target)), "backup.weekly", pytest.fail) as rec:
        rec.done(report(Status.CHANGED))
    assert 'colab_backup_last_run_exit_code{task="backup.weekly"} 0\n' in (other / bm.FILE).read_text()


def test_without_a_monitoring_table_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bm.ENV_DIR, raising=False)
    inv = inventory.load(ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml")
    assert inv.monitoring is None
    assert bm.directory(config.make(inv)) is None


def test_a_missing_folder_is_a_warning_of_the_run(site: tuple[Path, Path, inventory.Inventory]) -> None:
    metrics, _, inv = site
    metrics.rmdir()
    rep = report(Status.CHANGED)
    with bm.recording(config.make(inv), "backup.daily", pytest.fail) as rec:
        rec.done(rep)
    assert rep.exit_code == 2
    last = rep.outcomes[-1]
    assert (last.step, last.status) == ("metrics", Status.WARNING)
    assert last.detail.startswith(f"backup metrics not written: metrics directory {metrics} does not exist")


def test_a_missing_folder_after_a_failure_is_a_warning_line(site: tuple[Path, Path, inventory.Inventory]) -> None:
    metrics, _, inv = site
    metrics.rmdir()
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt), bm.recording(config.make(inv), "backup.daily", said.append):
        raise KeyboardInterrupt
    assert len(said) == 1 and said[0].startswith("backup metrics not written: metrics directory")
