"""File and directory steps against the real local filesystem: converge, then nothing changes."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from colab.ops import files
from colab.runner import Runner
from colab.steps import run_steps


def runner() -> Runner:
    return Runner("local", console=Console(file=io.StringIO()))


def test_directory_and_file_converge_then_are_ok(tmp_path: Path) -> None:
    d = tmp_path / "etc" / "colab"
    f = d / "env.sh"
    steps = [files.directory(str(d), "750"), files.file(str(f), "export COLAB_NODE=n1\n", "640")]
    first = run_steps("t", steps, runner())
    assert [o.status for o in first.outcomes] == ["changed", "changed"]
    assert f.read_text() == "export COLAB_NODE=n1\n"
    assert oct(d.stat().st_mode & 0o777) == "0o750" and oct(f.stat().st_mode & 0o777) == "0o640"
    second = run_steps("t", steps, runner())
    assert second.changed == 0 and [o.status for o in second.outcomes] == ["ok", "ok"]


def test_file_drift_is_detected_and_repaired(tmp_path: Path) -> None:
    f = tmp_path / "x.conf"
    f.write_text("old\n")
    f.chmod(0o600)
    report = run_steps("t", [files.file(str(f), "new\n")], runner())
    assert report.outcomes[0].detail == f"{f} differs"
    assert f.read_text() == "new\n" and oct(f.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob("*.colab-tmp.*"))  # the temporary file was renamed into place


def test_mode_only_drift(tmp_path: Path) -> None:
    f = tmp_path / "x.conf"
    f.write_text("same\n")
    f.chmod(0o666)
    report = run_steps("t", [files.file(str(f), "same\n", "644")], runner())
    assert report.outcomes[0].detail == f"{f} has mode 666, wants 644"
    assert report.outcomes[0].status == "changed"


def test_a_file_where_a_directory_should_be_fails(tmp_path: Path) -> None:
    p = tmp_path / "d"
    p.write_text("")
    report = run_steps("t", [files.directory(str(p))], runner())
    assert report.exit_code == 1 and report.outcomes[0].status == "failed"
