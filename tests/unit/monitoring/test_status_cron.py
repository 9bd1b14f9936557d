"""What runs on the nodes for monitoring, run for real with fakes for what they would change: scripts/status-cron
(the status export's cron entry), the chezmoi script that makes the textfile folder and installs the cron
file, and compose/alertmanager/entrypoint.sh (secrets from the environment into tmpfs files)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from colab import inventory
from colab.render import chezmoi_source
from colab.render.tree import render_tree
from tests.conftest import CANARY

ROOT = Path(__file__).resolve().parents[3]
STATUS_CRON = ROOT / "scripts" / "status-cron"
ENTRYPOINT = ROOT / "compose" / "alertmanager" / "entrypoint.sh"
FAKE_INV = (
    '#!/bin/sh\necho "inv $* in $(pwd) columns=$COLUMNS"\nsleep "${FAKE_INV_SLEEP:-0}"\nexit "${FAKE_INV_EXIT:-0}"\n'
)


def write_exe(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with a fake `inv` among mise's shims, and a checkout holding a copy of scripts/status-cron."""
    home = tmp_path / "home"
    write_exe(home / ".local/share/mise/shims/inv", FAKE_INV)
    (tmp_path / "checkout" / "scripts").mkdir(parents=True)
    shutil.copy2(STATUS_CRON, tmp_path / "checkout" / "scripts" / "status-cron")
    return home


def cron(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(home.parent / "checkout" / "scripts" / "status-cron"), *args],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )


def log(home: Path) -> list[str]:
    return (home / ".local/state/colab/status.log").read_text().splitlines()


def test_status_cron_runs_the_export_in_the_checkout_and_keeps_the_last_log(home: Path, tmp_path: Path) -> None:
    assert os.stat(STATUS_CRON).st_mode & stat.S_IXUSR
    assert subprocess.run(["sh", "-n", str(STATUS_CRON)]).returncode == 0
    page = tmp_path / "fortress" / "data" / "caddy" / "status" / "index.html"
    proc = cron(home, "/var/lib/colab/metrics", str(page), COLAB_STATUS_TIMEOUT="7")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    lines = log(home)
    args = f"status --timeout 7 --metrics /var/lib/colab/metrics --html {page}"
    assert lines[0].startswith("=== ") and lines[0].endswith(f" inv {args} (pid {lines[0].split('pid ')[1]}")
    assert lines[1] == f"inv {args} in {home.parent / 'checkout'} columns=160"
    assert lines[2].endswith(" exit 0")
    assert page.parent.is_dir()  # made, so the first export can write the page
    proc = cron(home, "--read-sample", "/m", FAKE_INV_EXIT="1")  # a critical cluster: inv status exits 1
    assert proc.returncode == 1
    assert (
        log(home)[1] == f"inv status --timeout 20 --metrics /m --read-sample in {home.parent / 'checkout'} columns=160"
    )
    assert len(log(home)) == 3  # only the last run: it runs all day
    assert sorted(p.name for p in (home / ".local/state/colab").iterdir()) == ["status.lock", "status.log"]


@pytest.mark.parametrize("args", [[], ["--read-sample"], ["a", "b", "c"], [""]])
def test_status_cron_usage(home: Path, args: list[str]) -> None:
    proc = cron(home, *args)
    assert (proc.returncode, proc.stderr) == (2, "usage: status-cron [--read-sample] METRICS_DIR [PAGE]\n")


def test_status_cron_gives_up_when_an_export_still_runs(home: Path) -> None:
    first = subprocess.Popen(
        [str(home.parent / "checkout" / "scripts" / "status-cron"), "/m"],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "FAKE_INV_SLEEP": "3"},
        stdin=subprocess.DEVNULL,
    )
    try:
        started = home / f".local/state/colab/status.log.{first.pid}"
        deadline = time.monotonic() + 10
        while "inv status" not in (started.read_text() if started.exists() else "").split("\n", 1)[-1]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc = cron(home, "/m", COLAB_STATUS_LOCK_WAIT="0")
        assert proc.returncode == 75
        assert any("still held after 0s by another export" in line for line in log(home))
    finally:
        first.wait(timeout=20)
    assert first.returncode == 0
    assert log(home)[1].startswith("inv status --timeout 20 --metrics /m in ")  # the first run's log, last to end


def test_status_cron_without_inv_is_one_line(home: Path) -> None:
    (home / ".local/share/mise/shims/inv").unlink()
    repo = home.parent / "checkout"
    proc = cron(home, "/m")
    line = (
        f"colab: no inv in {repo}/.venv/bin or on PATH, so the status export cannot run; make the checkout's "
        f"virtualenv: python3 {repo}/scripts/venv (or `inv bootstrap --node <node> --steps venv`)\n"
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", line)


# ------------------------------------------------------------------------------- the chezmoi script


@pytest.fixture(scope="module")
def tree() -> dict[str, bytes]:
    return render_tree(inventory.load(ROOT / "cluster.toml"))


def run_script(tree: dict[str, bytes], node: str, tmp_path: Path, uid: str) -> subprocess.CompletedProcess[str]:
    dest = tmp_path / "home"
    for source, data in chezmoi_source.node_files(tree, node).items():  # what chezmoi would have placed
        target = dest / chezmoi_source.target_path(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    fake = tmp_path / "bin"
    write_exe(fake / "id", f"#!/bin/sh\necho {uid}\n")
    write_exe(fake / "sudo", "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    write_exe(fake / "install", f'#!/bin/sh\necho "install $*" >> {tmp_path}/installed\n')
    body = chezmoi_source.node_files(tree, node)["run_onchange_after_31-monitoring.sh"]
    return subprocess.run(
        ["sh", "-c", body.decode()],
        env={"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(dest), "CHEZMOI_DEST_DIR": str(dest)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_the_monitoring_script_makes_the_folder_and_installs_the_cron_file(
    tree: dict[str, bytes], tmp_path: Path
) -> None:
    proc = run_script(tree, "cooperator", tmp_path, uid="0")
    assert proc.returncode == 0, proc.stderr
    cron_file = tmp_path / "home" / ".config/colab/monitoring/colab-status.cron"
    assert (tmp_path / "installed").read_text().splitlines() == [
        "install -d -m 0755 -o crtr /var/lib/colab/metrics",
        f"install -D -m 0644 {cron_file} /etc/cron.d/colab-status",
    ]
    assert proc.stdout.splitlines()[:2] == [
        "colab: made /var/lib/colab/metrics for node-exporter's textfile collector",
        "colab: installed /etc/cron.d/colab-status",
    ]


def test_on_an_exporter_node_only_the_folder(tree: dict[str, bytes], tmp_path: Path) -> None:
    proc = run_script(tree, "director", tmp_path, uid="0")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "installed").read_text() == "install -d -m 0755 -o crtr /var/lib/colab/metrics\n"
    assert "run_onchange_after_31-monitoring.sh" not in chezmoi_source.node_files(tree, "writer")  # no node-exporter


def test_without_root_the_script_says_what_to_run(tree: dict[str, bytes], tmp_path: Path) -> None:
    proc = run_script(tree, "cooperator", tmp_path, uid="1000")
    assert proc.returncode == 0 and not (tmp_path / "installed").exists()
    cron_file = tmp_path / "home" / ".config/colab/monitoring/colab-status.cron"
    assert proc.stdout == (
        "colab: not root, no passwordless sudo; to finish, run: sudo install -d -m 0755 -o crtr "
        f"/var/lib/colab/metrics && sudo install -D -m 0644 {cron_file} /etc/cron.d/colab-status\n"
    )


# --------------------------------------------------------------------------- Alertmanager's entry point


def test_the_entrypoint_puts_secrets_in_files_and_out_of_the_environment(tmp_path: Path) -> None:
    secrets = tmp_path / "tmpfs"
    secrets.mkdir()
    show = 'for f in "$0"/*; do printf "%s=%s\\n" "${f##*/}" "$(cat "$f")"; done; env'
    proc = subprocess.run(
        ["sh", str(ENTRYPOINT), "sh", "-c", show, str(secrets)],
        env={
            "PATH": "/usr/bin:/bin",
            "ALERT_NTFY_TOKEN": CANARY,
            "ALERT_SMTP_PASSWORD": "",
            "COLAB_SECRETS_DIR": str(secrets),
        },
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"ntfy-token={CANARY}"  # the file holds exactly the value, no newline
    assert (secrets / "ntfy-token").read_bytes() == CANARY.encode()
    assert stat.S_IMODE((secrets / "ntfy-token").stat().st_mode) == 0o600
    assert sorted(p.name for p in secrets.iterdir()) == ["ntfy-token"]  # an empty secret leaves no file
    environment = lines[1:]
    assert not any(CANARY in line or line.startswith(("ALERT_", "COLAB_SECRETS_DIR=")) for line in environment)
