"""The scripts render writes (and scripts/backup-cron), run for real with fakes for what they would change."""

from __future__ import annotations

import configparser
import os
import plistlib
import stat
import subprocess
import time
from pathlib import Path

import pytest

from colab import inventory, render

ROOT = Path(__file__).resolve().parents[2]
BACKUP_CRON = ROOT / "scripts" / "backup-cron"
LINE = '[ -r "$HOME/.config/colab/env.sh" ] && . "$HOME/.config/colab/env.sh"  # colab: node environment'


@pytest.fixture(scope="module")
def tree() -> dict[str, bytes]:
    return render.render_tree(inventory.load(ROOT / "cluster.toml"))


def write_exe(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


def test_every_shell_script_parses(tree: dict[str, bytes]) -> None:
    scripts = {p: d for p, d in tree.items() if d.startswith(b"#!/bin/sh\n")}
    assert len(scripts) >= 10
    for path, data in scripts.items():
        proc = subprocess.run(["sh", "-n"], input=data, capture_output=True)
        assert proc.returncode == 0, (path, proc.stderr)
    assert subprocess.run(["sh", "-n", str(BACKUP_CRON)]).returncode == 0


@pytest.mark.parametrize(
    ("node", "script"),
    [
        ("cooperator", "run_onchange_after_10-docker-daemon.sh"),
        ("director", "run_onchange_after_20-fortress-units.sh"),
        ("cooperator", "run_onchange_after_30-backup-cron.sh"),
    ],
)
def test_install_scripts_without_root_say_what_to_run_and_exit_0(
    tree: dict[str, bytes], tmp_path: Path, node: str, script: str
) -> None:
    dest = tmp_path / "home"
    for source, data in render.node_files(tree, node).items():  # what chezmoi would have placed
        target = dest / render.chezmoi_source.target_path(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    fake = tmp_path / "bin"
    write_exe(fake / "id", "#!/bin/sh\necho 1000\n")
    write_exe(fake / "sudo", "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    body = render.node_files(tree, node)[script]
    proc = subprocess.run(
        ["sh", "-c", body.decode()],
        env={"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(dest), "CHEZMOI_DEST_DIR": str(dest)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    if lines:  # nothing to say only when this machine already has exactly these files in /etc
        assert len(lines) == 1
        assert lines[0].startswith("colab: not root, no passwordless sudo; to finish, run: sudo install ")
        assert str(dest) in lines[0]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", f"{LINE}\n"),
        ("alias ll='ls -l'\n", f"alias ll='ls -l'\n{LINE}\n"),
        ("no newline at end", f"no newline at end\n{LINE}\n"),
        (f"x\n{LINE}\ny\n", f"x\n{LINE}\ny\n"),
    ],
)
def test_rc_hook_adds_its_line_once_and_keeps_the_rest(tree: dict[str, bytes], before: str, after: str) -> None:
    script = render.node_files(tree, "director")["modify_dot_bashrc"].decode()
    assert render.node_files(tree, "terminator")["modify_dot_zshrc"].decode().endswith(script.split("\n", 4)[-1])

    def run(text: str) -> str:
        return subprocess.run(["sh", "-c", script], input=text, capture_output=True, text=True, check=True).stdout

    once = run(before)
    assert once == after
    assert run(once) == once  # idempotent: chezmoi verify sees no change


def test_systemd_units_are_well_formed(tree: dict[str, bytes]) -> None:
    files = render.node_files(tree, "director")
    for name, sections in (
        ("fortress.mount", {"Unit", "Mount"}),
        ("fortress.automount", {"Unit", "Automount", "Install"}),
    ):
        parser = configparser.ConfigParser(strict=True, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(files[f"dot_config/colab/fortress/{name}"].decode())
        assert set(parser.sections()) == sections
    mount = configparser.ConfigParser(interpolation=None)
    mount.optionxform = str  # type: ignore[assignment,method-assign]
    mount.read_string(files["dot_config/colab/fortress/fortress.mount"].decode())
    options = mount["Mount"]["Options"].split(",")
    assert "username=crtr" in options and "_netdev" in options
    assert not [o for o in options if o.startswith(("password", "pass=", "credentials"))]


def test_launch_agent_is_a_valid_plist(tree: dict[str, bytes]) -> None:
    agent = plistlib.loads(render.node_files(tree, "terminator")["Library/LaunchAgents/colab.fortress.plist"])
    assert agent["Label"] == "colab.fortress"
    assert agent["RunAtLoad"] is True
    assert agent["ProgramArguments"][:2] == ["/bin/sh", "-c"]
    assert 'mount volume "smb://crtr@100.64.0.1/fortress"' in agent["ProgramArguments"][2]
    assert " on /Volumes/fortress " in agent["ProgramArguments"][2]


# --------------------------------------------------------------------------------------- backup-cron


@pytest.fixture
def cron_home(tmp_path: Path) -> Path:
    """A home with a fake `inv` where mise's shims would be: it logs its arguments and working folder."""
    home = tmp_path / "home"
    write_exe(
        home / ".local/share/mise/shims/inv",
        '#!/bin/sh\necho "inv $* in $(pwd)"\nsleep "${FAKE_INV_SLEEP:-0}"\nexit "${FAKE_INV_EXIT:-0}"\n',
    )
    return home


def run_cron(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BACKUP_CRON), *args],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )


def test_backup_cron_runs_inv_in_the_repo_and_logs(cron_home: Path) -> None:
    assert os.stat(BACKUP_CRON).st_mode & stat.S_IXUSR
    proc = run_cron(cron_home, "daily")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == proc.stderr == ""
    log = (cron_home / ".local/state/colab/backup-daily.log").read_text().splitlines()
    assert log[0].startswith("=== ") and log[0].endswith(f"backup.daily start (pid {log[0].split('pid ')[1]}")
    assert log[1] == f"inv backup.daily in {ROOT}"
    assert log[2].endswith("backup.daily end: exit 0")
    run_cron(cron_home, "daily")
    assert len((cron_home / ".local/state/colab/backup-daily.log").read_text().splitlines()) == 6  # appended


def test_backup_cron_passes_the_exit_status_on(cron_home: Path) -> None:
    proc = run_cron(cron_home, "weekly", FAKE_INV_EXIT="3")
    assert proc.returncode == 3
    assert "backup.weekly end: exit 3" in (cron_home / ".local/state/colab/backup-weekly.log").read_text()


def test_backup_cron_refuses_an_unknown_kind(cron_home: Path) -> None:
    proc = run_cron(cron_home, "hourly")
    assert proc.returncode == 2
    assert "usage: backup-cron daily|weekly" in proc.stderr


def test_backup_cron_waits_for_the_lock_then_gives_up(cron_home: Path) -> None:
    first = subprocess.Popen(
        [str(BACKUP_CRON), "daily"],
        env={"HOME": str(cron_home), "PATH": "/usr/bin:/bin", "FAKE_INV_SLEEP": "2"},
        stdin=subprocess.DEVNULL,
    )
    try:
        log = cron_home / ".local/state/colab/backup-daily.log"
        deadline = time.monotonic() + 10
        while "inv backup.daily" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc = run_cron(cron_home, "weekly", COLAB_BACKUP_LOCK_WAIT="0")
        assert proc.returncode == 75
        text = (cron_home / ".local/state/colab/backup-weekly.log").read_text()
        assert "still held after 0s by another backup" in text and "inv backup.weekly" not in text
    finally:
        first.wait(timeout=20)
    assert first.returncode == 0
