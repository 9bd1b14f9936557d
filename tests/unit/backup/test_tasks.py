"""The Invoke layer: delegation to the backup node (dry-run prints the SSH command, contacts nothing),
bad options as one line, exit codes."""

from __future__ import annotations

from pathlib import Path

from tests.harness.inv import run_inv


def test_dry_run_elsewhere_prints_the_command_for_the_backup_node() -> None:
    res = run_inv("backup.daily", "--dry-run", "--now", "2024-01-05T03:15", "--no-dumps", node="director")
    assert res.returncode == 0, res.stderr
    assert "backup.daily runs on the backup node cooperator" in res.stderr
    assert (
        "[cooperator] $ cd /home/crtr/colab && COLAB_NODE=cooperator inv backup.daily --now 2024-01-05T03:15 "
        "--no-dumps" in res.stderr
    )


def test_other_tasks_delegate_too() -> None:
    res = run_inv("backup.restore", "--dry-run", "--path", "data/gitea", "--into", "/tmp/r", node="director")
    assert res.returncode == 0, res.stderr
    assert (
        "$ cd /home/crtr/colab && COLAB_NODE=cooperator inv backup.restore --snapshot latest --path data/gitea "
        "--into /tmp/r --date latest" in res.stderr
    )


def test_without_dry_run_the_guard_refuses_the_real_cluster() -> None:
    res = run_inv("backup.list", node="director")
    assert res.returncode == 1
    assert "refusing to open an SSH connection to 100.64.0.1" in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_now_is_one_line() -> None:
    res = run_inv("backup.daily", "--now", "2024-02-30T03:15", "--dry-run", node="director")
    assert res.returncode == 1
    assert res.stderr.strip() == (
        "error: --now '2024-02-30T03:15' is not a date and time; use YYYY-MM-DDTHH:MM, e.g. 2024-01-05T03:15"
    )


def test_missing_target_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    res = run_inv(
        "backup.daily",
        "--source",
        str(tmp_path / "src"),
        "--target",
        str(tmp_path / "none"),
        "--no-dumps",
        node="director",
    )
    assert res.returncode == 1
    assert res.stderr.strip() == (
        f"error: backup target {tmp_path}/none is not a directory; create it (an empty folder of your own) or give "
        "--target an existing folder"
    )
