"""File and folder steps against the real local file system (sh, stat, cat, mv): converge, then nothing changes;
drift in content or mode is found and repaired; a dry run shows the content and touches nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from colab.file_steps import directory_step, file_step, home_file_step
from colab.runner import Runner
from colab.steps import Status, run_steps


def runner(dry_run: bool = False) -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    return Runner("local", dry_run=dry_run, console=Console(file=out, width=200)), out


def statuses(report: object) -> list[str]:
    return [o.status for o in report.outcomes]  # type: ignore[attr-defined]


def test_directory_and_file_converge_then_are_ok(tmp_path: Path) -> None:
    d = tmp_path / "etc" / "colab"
    f = d / "env.sh"
    steps = [directory_step(str(d), "750"), file_step(str(f), "export COLAB_NODE=n1\n", "640")]
    first = run_steps("t", steps, runner()[0])
    assert statuses(first) == ["changed", "changed"]
    assert f.read_text() == "export COLAB_NODE=n1\n"
    assert oct(d.stat().st_mode & 0o777) == "0o750" and oct(f.stat().st_mode & 0o777) == "0o640"
    second = run_steps("t", steps, runner()[0])
    assert second.changed == 0 and statuses(second) == ["ok", "ok"]


def test_a_file_step_makes_its_folder_first(tmp_path: Path) -> None:
    f = tmp_path / "docker.service.d" / "colab.conf"
    report = run_steps("t", [file_step(str(f), "[Unit]\n")], runner()[0])
    assert report.outcomes[0].detail == f"{f} is missing" and f.read_text() == "[Unit]\n"


def test_file_drift_is_detected_and_repaired(tmp_path: Path) -> None:
    f = tmp_path / "x.conf"
    f.write_text("old\n")
    f.chmod(0o600)
    report = run_steps("t", [file_step(str(f), "new\n")], runner()[0])
    assert report.outcomes[0].detail == f"{f} differs from the inventory's"
    assert f.read_text() == "new\n" and oct(f.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob("*.colab-tmp.*"))  # the temporary file was renamed into place


def test_mode_only_drift(tmp_path: Path) -> None:
    f = tmp_path / "x.conf"
    f.write_text("same\n")
    f.chmod(0o666)
    report = run_steps("t", [file_step(str(f), "same\n", "644")], runner()[0])
    assert report.outcomes[0].detail == f"{f} has mode 666, wants 644"
    assert report.outcomes[0].status == "changed" and oct(f.stat().st_mode & 0o777) == "0o644"


def test_after_runs_only_when_the_file_was_written(tmp_path: Path) -> None:
    f = tmp_path / "unit.service"
    calls: list[str] = []
    step = file_step(str(f), "[Service]\n", after=lambda r: calls.append(r.node))
    run_steps("t", [step], runner()[0])
    run_steps("t", [step], runner()[0])
    assert calls == ["local"]


def test_a_file_where_a_directory_should_be_fails(tmp_path: Path) -> None:
    p = tmp_path / "d"
    p.write_text("")
    report = run_steps("t", [directory_step(str(p))], runner()[0])
    assert report.exit_code == 1 and report.outcomes[0].status == "failed"
    assert report.outcomes[0].detail.endswith("File exists")  # mkdir's own line: nothing replaced the file
    assert p.is_file()


def test_a_home_file_lands_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    step = home_file_step("Library/LaunchAgents/colab.fortress.plist", "<plist/>\n")
    assert statuses(run_steps("t", [step], runner()[0])) == ["changed"]
    assert (tmp_path / "Library/LaunchAgents/colab.fortress.plist").read_text() == "<plist/>\n"
    assert statuses(run_steps("t", [step], runner()[0])) == ["ok"]


def test_a_dry_run_shows_the_content_and_writes_nothing(tmp_path: Path) -> None:
    f = tmp_path / "etc" / "x.conf"
    r, out = runner(dry_run=True)
    report = run_steps("t", [file_step(str(f), "a = 1\nb = 2\n", "600", sudo=True)], r)
    assert statuses(report) == [Status.PLANNED]
    lines = out.getvalue().splitlines()
    assert lines[:3] == [f"[local] # {f} gets (2 lines, mode 600):", "[local] #   | a = 1", "[local] #   | b = 2"]
    assert lines[3].startswith("[local] $ sudo -n sh -c ") and lines[3].endswith(f" sh {f} 600")
    assert not f.parent.exists()
