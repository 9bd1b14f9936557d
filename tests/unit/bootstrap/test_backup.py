"""The bootstrap group `backup` (its plan on the backup node, exactly: the case bootstrap/cooperator-backup):
python3-venv comes with it only when the venv group does not run; every other node has nothing to install."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from colab.bootstrap import backup
from tests.unit.bootstrap.test_order import dry_run

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@colab.invalid"]


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The checkout bootstrap runs from: a git repository with one commit."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    (repo / "README.md").write_text("colab\n")
    subprocess.run([*GIT, "init", "-q", str(repo)], check=True)
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "-m", "one"], check=True)
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.setattr(backup, "SOURCE", repo)
    return repo, commit


def test_python3_venv_comes_once_with_the_venv_group(source: tuple[Path, str]) -> None:
    _, report = dry_run("cooperator", "venv,backup")
    steps = [o.step for o in report.outcomes]
    assert steps.count("venv: apt python3-venv") == 1 and "backup: apt python3-venv" not in steps
    assert steps[-1] == "backup: root-owned install /opt/colab (the backup cron runs it)"


@pytest.mark.parametrize("node", ["director", "writer", "projector", "terminator"])
def test_other_nodes_have_nothing_to_install(node: str) -> None:
    lines, report = dry_run(node, "backup")
    assert lines[-1] == f"[{node}] # not the backup node (cooperator): no root-owned install here"
    steps = [o.step for o in report.outcomes if not o.step.startswith("prerequisite: ")]
    assert steps == ["backup: not the backup node (cooperator): no root-owned install here"]
