"""scripts/backup-cron for real (sh, stat, find, flock, a real virtualenv) with a fake `inv` that says where it ran.

As root it refuses to start (one line in the log and on stderr, exit 1, inv never runs) when anything it would run
or import can be changed by someone other than root: a file or folder of its install owned by another uid or
writable by others, a symlink in it leading to such a file, a folder above it, the inventory, a folder Python
imports from (added by a .pth file), a folder on PATH, the log folder (issue 12 #5). A root-owned install runs;
run by another user it skips those checks. The rest: logging, exit status, the shared lock, one clear line
without a virtualenv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import require_root

ROOT = Path(__file__).resolve().parents[2]
BACKUP_CRON = ROOT / "scripts" / "backup-cron"
FAKE_INV = (
    '#!/bin/sh\necho "inv $* in $(pwd) nobytecode=${PYTHONDONTWRITEBYTECODE:-}"\n'
    'sleep "${FAKE_INV_SLEEP:-0}"\n'
    'if [ -n "${FAKE_INV_HOLD:-}" ]; then while [ ! -e "$FAKE_INV_HOLD" ]; do sleep 0.05; done; fi\n'
    'exit "${FAKE_INV_EXIT:-0}"\n'
)
NOBODY = 65534


def write_exe(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def venv_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real virtualenv (no pip: fast) of this machine's base interpreter, copied into each install."""
    where = tmp_path_factory.mktemp("venv") / ".venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    return where


@pytest.fixture
def install(tmp_path: Path, venv_template: Path) -> Path:
    return make_install(tmp_path, venv_template)


def make_install(tmp_path: Path, venv_template: Path) -> Path:
    """<tmp>/opt/colab/current -> releases/abc: scripts/backup-cron, a real .venv whose inv is the fake, cluster.toml;
    and <tmp>/home for HOME (no mise shims: PATH is the system's)."""
    release = tmp_path / "opt" / "colab" / "releases" / "abc"
    (release / "scripts").mkdir(parents=True)
    shutil.copy2(BACKUP_CRON, release / "scripts" / "backup-cron")
    shutil.copytree(venv_template, release / ".venv", symlinks=True)
    write_exe(release / ".venv" / "bin" / "inv", FAKE_INV)
    (release / "cluster.toml").write_text("# the inventory\n")
    (release.parent.parent / "current").symlink_to("releases/abc")
    (tmp_path / "home").mkdir()
    return release.parent.parent / "current"


def home_of(install: Path) -> Path:
    return install.parents[2] / "home"


def run_cron(install: Path, *args: str, user: int | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    home = home_of(install)
    argv = [str(install / "scripts" / "backup-cron"), *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(
        argv,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


def log_of(install: Path, kind: str = "daily") -> Path:
    return home_of(install) / ".local" / "state" / "colab" / f"backup-{kind}.log"


def test_a_root_owned_install_runs_its_own_inv_and_logs(install: Path) -> None:
    proc = run_cron(install, "daily")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == proc.stderr == ""
    log = log_of(install).read_text().splitlines()
    assert log[0].startswith("=== ") and log[0].endswith(f"backup.daily start (pid {log[0].split('pid ')[1]}")
    nobytecode = "1" if os.geteuid() == 0 else ""
    assert log[1] == f"inv backup.daily in {install} nobytecode={nobytecode}"
    assert log[2].endswith("backup.daily end: exit 0")
    run_cron(install, "daily")
    assert len(log_of(install).read_text().splitlines()) == 6  # appended


def test_the_log_goes_where_the_cron_file_says(install: Path, tmp_path: Path) -> None:
    proc = run_cron(install, "weekly", COLAB_BACKUP_LOG_DIR=str(tmp_path / "var-log-colab"))
    assert proc.returncode == 0, proc.stderr
    assert "inv backup.weekly" in (tmp_path / "var-log-colab" / "backup-weekly.log").read_text()
    assert not log_of(install, "weekly").exists()


def test_the_exit_status_is_passed_on(install: Path) -> None:
    proc = run_cron(install, "weekly", FAKE_INV_EXIT="3")
    assert proc.returncode == 3
    assert "backup.weekly end: exit 3" in log_of(install, "weekly").read_text()


def test_an_unknown_kind_is_refused(install: Path) -> None:
    proc = run_cron(install, "hourly")
    assert proc.returncode == 2
    assert proc.stderr == "usage: backup-cron daily|weekly|offsite|offsite-check|check (got 'hourly')\n"


def test_a_second_run_waits_for_the_lock_then_gives_up(install: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"  # the first run holds the lock until the second has given up: no race
    first = subprocess.Popen(
        [str(install / "scripts" / "backup-cron"), "daily"],
        env={"HOME": str(home_of(install)), "PATH": "/usr/bin:/bin", "FAKE_INV_HOLD": str(release)},
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while "inv backup.daily" not in (log_of(install).read_text() if log_of(install).exists() else ""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc = run_cron(install, "weekly", COLAB_BACKUP_LOCK_WAIT="0")
        assert proc.returncode == 75
        text = log_of(install, "weekly").read_text()
        assert "still held after 0s by another backup" in text and "inv backup.weekly" not in text
    finally:
        release.touch()
        first.wait(timeout=60)
    assert first.returncode == 0


def test_without_a_virtualenv_it_is_one_clear_line(install: Path) -> None:
    (install / ".venv" / "bin" / "inv").unlink()
    proc = run_cron(install, "daily")
    how = (
        "inv bootstrap --node <backup node> --steps backup" if os.geteuid() == 0 else f"python3 {install}/scripts/venv"
    )
    line = f"colab: no inv in {install}/.venv/bin, so backup.daily cannot run; make the virtualenv: {how}\n"
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", line)
    assert log_of(install).read_text() == line  # cron mail and the log


# ------------------------------------------------------------------------------ root runs only root's code


def refused(install: Path, what: str, kind: str = "daily", **env: str) -> None:
    """The run stopped before inv: exit 1, the one line on stderr and (alone) in the log."""
    proc = run_cron(install, kind, **env)
    line = (
        f"colab: refusing to run backup.{kind} as root: {what}, so someone other than root could run code as root "
        "through it; make or repair the root-owned install: inv bootstrap --node <backup node> --steps backup "
        "(cron must run /opt/colab/current/scripts/backup-cron)\n"
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", line)
    logs = Path(env.get("COLAB_BACKUP_LOG_DIR", str(log_of(install, kind).parent)))
    log = logs / f"backup-{kind}.log"
    if log.exists():  # the refusal is the last line; inv never ran
        text = log.read_text()
        assert text.endswith(line) and "inv backup" not in text and "===" not in text


@pytest.fixture
def as_root() -> None:
    require_root("the checks run as root, and the tests give files to another uid")


def test_a_file_of_the_install_owned_by_another_user_is_refused(install: Path, as_root: None) -> None:
    engine = install / "tasks.py"
    engine.write_text("# a module inv would import\n")
    os.chown(engine, NOBODY, NOBODY)
    refused(install, f"{install}/tasks.py is owned by uid {NOBODY}, not root")
    os.chown(engine, 0, 0)
    assert run_cron(install, "daily").returncode == 0


@pytest.mark.parametrize(
    ("mode", "gid", "what"),
    [(0o777, 0, "writable by every user (mode 777)"), (0o775, 1000, "writable by group 1000 (mode 775)")],
)
def test_a_folder_of_the_install_writable_by_others_is_refused(
    install: Path, as_root: None, mode: int, gid: int, what: str
) -> None:
    folder = install / ".venv" / "bin"
    os.chown(folder, 0, gid)
    folder.chmod(mode)
    refused(install, f"{install}/.venv/bin is {what}")


def test_a_checkouts_nox_virtualenvs_are_not_looked_at(install: Path, as_root: None) -> None:
    """uv makes a nox virtualenv's .lock world-writable on purpose; root never runs a nox virtualenv."""
    lock = install / ".nox" / "tests" / ".lock"
    lock.parent.mkdir(parents=True)
    lock.touch()
    lock.chmod(0o666)
    assert run_cron(install, "daily").returncode == 0


def test_only_the_checkouts_own_nox_folder_is_passed_over(install: Path, as_root: None) -> None:
    nox_like = install / "nox" / ".lock"
    nox_like.parent.mkdir()
    nox_like.touch()
    nox_like.chmod(0o666)
    refused(install, f"{nox_like} is writable by every user (mode 666)")


def test_group_root_may_write(install: Path, as_root: None) -> None:
    (install / "scripts").chmod(0o775)  # group root: only root's own group
    assert run_cron(install, "daily").returncode == 0


def test_a_symlink_in_the_install_to_a_users_file_is_refused(install: Path, as_root: None, tmp_path: Path) -> None:
    theirs = tmp_path / "users-checkout" / "hook.py"
    theirs.parent.mkdir()
    theirs.write_text("# theirs\n")
    os.chown(theirs, NOBODY, NOBODY)
    (install / "hook.py").symlink_to(theirs)
    refused(install, f"{theirs} is owned by uid {NOBODY}, not root")


def test_a_folder_above_the_install_is_checked_but_sticky_ones_are_fine(
    install: Path, as_root: None, tmp_path: Path
) -> None:
    opt = tmp_path / "opt"
    opt.chmod(0o777)
    refused(install, f"{opt} is writable by every user (mode 777)")
    opt.chmod(0o1777)  # like /tmp: others cannot rename or replace root's entries
    assert run_cron(install, "daily").returncode == 0


def test_the_inventory_must_be_roots(install: Path, as_root: None, tmp_path: Path) -> None:
    inventory = tmp_path / "etc-colab" / "cluster.toml"
    inventory.parent.mkdir()
    inventory.write_text("# elsewhere\n")
    os.chown(inventory.parent, NOBODY, NOBODY)
    refused(install, f"{inventory.parent} is owned by uid {NOBODY}, not root", COLAB_INVENTORY=str(inventory))
    os.chown(inventory.parent, 0, 0)
    os.chown(inventory, NOBODY, NOBODY)
    refused(install, f"{inventory} is owned by uid {NOBODY}, not root", COLAB_INVENTORY=str(inventory))
    (install / "cluster.toml").unlink()
    refused(install, f"the inventory {install}/cluster.toml is missing")


def test_a_folder_python_imports_from_must_be_roots(install: Path, as_root: None, tmp_path: Path) -> None:
    """A .pth file in the venv adds a folder to sys.path (as an editable install does): that folder is checked."""
    extra = tmp_path / "users-src"
    extra.mkdir()
    (extra / "colab_plugin.py").write_text("# theirs\n")
    os.chown(extra / "colab_plugin.py", NOBODY, NOBODY)
    site = next((install / ".venv" / "lib").glob("python3*/site-packages"))
    (site / "extra.pth").write_text(f"{extra}\n")
    refused(install, f"{extra}/colab_plugin.py is owned by uid {NOBODY}, not root")


def test_a_folder_on_path_must_be_roots(install: Path, as_root: None) -> None:
    shims = home_of(install) / ".local" / "share" / "mise" / "shims"
    shims.mkdir(parents=True)
    write_exe(shims / "rsync", "#!/bin/sh\n")
    os.chown(shims / "rsync", NOBODY, NOBODY)
    refused(install, f"{shims}/rsync is owned by uid {NOBODY}, not root")


def test_the_log_folder_must_be_roots(install: Path, as_root: None, tmp_path: Path) -> None:
    logs = tmp_path / "var-log-colab"
    logs.mkdir()
    os.chown(logs, NOBODY, NOBODY)
    refused(install, f"{logs} is owned by uid {NOBODY}, not root", COLAB_BACKUP_LOG_DIR=str(logs))
    assert list(logs.iterdir()) == []  # nothing written through a folder someone else controls


def test_a_checkout_the_node_user_owns_is_refused(install: Path, as_root: None) -> None:
    """What the cron line ran before issue 12: the node user's checkout."""
    release = install.resolve()
    for path in [release, *release.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    refused(install, f"{install} is owned by uid {NOBODY}, not root")


def test_check_says_ok_or_why_and_writes_no_log(install: Path, as_root: None) -> None:
    proc = run_cron(install, "check")
    ok = f"ok: nothing backup-cron runs as root from {install} can be changed by another user\n"
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, ok, "")
    os.chown(install / "scripts" / "backup-cron", NOBODY, NOBODY)
    proc = run_cron(install, "check")
    why = f"{install}/scripts/backup-cron is owned by uid {NOBODY}, not root\n"
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, why, "")
    assert not log_of(install, "check").exists()


def test_another_user_running_it_by_hand_skips_the_root_checks(as_root: None, venv_template: Path) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    base = Path(tempfile.mkdtemp(prefix="colab-cron-"))  # pytest's tmp_path is root's alone (0700)
    try:
        base.chmod(0o755)
        install = make_install(base, venv_template)
        by_hand(install)
    finally:
        shutil.rmtree(base)


def by_hand(install: Path) -> None:
    home = home_of(install)
    os.chown(home, NOBODY, NOBODY)
    os.chown(install / "cluster.toml", NOBODY, NOBODY)  # would stop a root run
    proc = run_cron(install, "daily", user=NOBODY)
    assert proc.returncode == 0, proc.stderr
    assert f"inv backup.daily in {install} nobytecode=\n" in log_of(install).read_text()


def test_offsite_kinds_run_the_offsite_task(install: Path) -> None:
    """Issue 16: `offsite` runs `inv backup.offsite`, `offsite-check` runs `inv backup.offsite --check`, each with
    its own log, under the same lock."""
    assert run_cron(install, "offsite").returncode == 0
    assert "inv backup.offsite in " in log_of(install, "offsite").read_text()
    assert run_cron(install, "offsite-check").returncode == 0
    text = log_of(install, "offsite-check").read_text()
    assert "inv backup.offsite --check in " in text and "backup.offsite-check end: exit 0" in text
