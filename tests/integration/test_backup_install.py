"""The root-owned install the backup cron runs (issue 12 #5), for real: the bootstrap step on the backup node (a
local runner, as root here) makes <tmp>/opt-colab from a commit of a git checkout (a copy of this working tree,
committed), with its own virtualenv made by its scripts/venv from the offline wheelhouse; a second run changes
nothing. scripts/backup-cron from that install then takes a real snapshot with real rsync, as cron would (bare
environment, no terminal); made writable by another uid, one file of it stops the cron before any Python runs
from it (one line in the log, exit 1, no snapshot), the step notices and reinstalls, and the cron runs again; the
cron script itself replaced by another user's is reinstalled without being run.
A new commit is built beside the running one and switched to; the release before it stays, older ones go.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.backup import install
from colab.bootstrap import backup
from colab.bootstrap.context import Ctx
from colab.runner import Runner
from colab.steps import Report, Status, run_steps
from tests.conftest import INVENTORIES, ROOT, require_root, require_tool, unavailable
from tests.harness import wheelhouse
from tests.integration.test_backup_support import make_tree, snapshot_names, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.tools]

NOBODY = 65534
GIT = ["git", "-c", "user.name=colab test", "-c", "user.email=test@colab.invalid", "-c", "init.defaultBranch=main"]


@pytest.fixture(scope="module")
def wheels() -> Path:
    try:
        return wheelhouse.build(f"{sys.version_info[0]}.{sys.version_info[1]}", platform.machine())
    except wheelhouse.WheelhouseError as e:
        unavailable(str(e))


@pytest.fixture
def offline(wheels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip (run by the install's scripts/venv) reads only the wheelhouse."""
    for name in [k for k in os.environ if k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON"))]:
        monkeypatch.delenv(name)
    for key, value in {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_CACHE_DIR": "1",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A git checkout holding this working tree (tracked and new files, as they are now) in one commit."""
    require_tool("git", "tar", "flock", "rsync")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    dest = tmp_path / "checkout"
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel, follow_symlinks=False)
    commit(dest, "the working tree")
    return dest


def commit(repo: Path, message: str) -> str:
    subprocess.run([*GIT, "init", "-q", str(repo)], check=True)
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "--allow-empty", "-m", message], check=True)
    return install.head_commit(repo)


@pytest.fixture
def ctx() -> Iterator[Ctx]:
    inv = inventory.load(INVENTORIES / "loopback.toml")
    node = inv.node(inv.backup.node)
    with Runner("local") as controller:
        yield Ctx(inv, node, os.geteuid() != 0, controller)


def bootstrap(ctx: Ctx, where: Path, source: Path, logs: Path) -> Report:
    steps = backup.steps(ctx, with_python=False, where=str(where), source=source, log_dir=str(logs))
    r = Runner(ctx.node.name, console=Console(file=StringIO()))
    return run_steps("backup", steps, r)


def statuses(report: Report) -> list[tuple[Status, str]]:
    return [(o.status, o.detail) for o in report.outcomes]


def run_cron(where: Path, inv: Path, logs: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "LOGNAME": "root", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}
    env |= {"COLAB_INVENTORY": str(inv), "COLAB_NODE": "cooperator", "COLAB_NETGUARD": "1"}
    env |= {"COLAB_BACKUP_LOG_DIR": str(logs)}
    return subprocess.run(
        [install.cron_script(str(where)), "daily"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
        cwd="/",
    )


def test_the_root_owned_install_is_made_runs_the_backup_and_refuses_what_others_can_change(
    ctx: Ctx, source: Path, offline: None, tmp_path: Path
) -> None:
    require_root("the install is root's and the test gives a file of it to another uid")
    where, logs, home = tmp_path / "opt-colab", tmp_path / "var-log-colab", tmp_path / "root-home"
    home.mkdir()
    first = install.head_commit(source)

    report = bootstrap(ctx, where, source, logs)
    assert statuses(report) == [(Status.CHANGED, "nothing installed at " + str(where))], report.outcomes
    release = where / "releases" / first
    assert os.readlink(where / "current") == f"releases/{first}"
    assert (release / ".colab-release").read_text() == first + "\n"
    assert (release / "src" / "colab" / "backup" / "install.py").read_bytes() == (
        source / "src" / "colab" / "backup" / "install.py"
    ).read_bytes()
    for path in [release, *release.rglob("*")]:
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (0, 0) and (path.is_symlink() or not st.st_mode & 0o022), path
    colab = subprocess.run(
        [str(release / ".venv" / "bin" / "python"), "-c", "import colab; print(colab.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert colab == f"{release}/src/colab/__init__.py"  # its own code, not this checkout's
    assert statuses(bootstrap(ctx, where, source, logs)) == [(Status.OK, "")]  # nothing changes

    # what cron runs: a real snapshot
    src, dst = tmp_path / "fortress", tmp_path / "backup"
    make_tree(src, dirs=3, files=10, size=256)
    (dst / ".colab-backup").mkdir(parents=True)
    inv = write_inventory(tmp_path / "inventory.toml", source=src, target=dst)
    res = run_cron(where, inv, logs, home)
    log = (logs / "backup-daily.log").read_text()
    assert res.returncode == 0, log + res.stderr
    assert f"backup.daily start (pid {log.split('pid ')[1].split(',')[0]}, {where}/current)" in log
    assert "backup.daily end: exit 0" in log and "Traceback" not in log
    assert len(snapshot_names(dst)) == 1

    # one file of the install made another user's: the cron stops before Python runs from it
    engine = where / "current" / "src" / "colab" / "backup" / "runs.py"  # as backup-cron sees it
    os.chown(engine, NOBODY, NOBODY)
    shutil.rmtree(dst / snapshot_names(dst)[0])
    res = run_cron(where, inv, logs, home)
    line = (
        f"colab: refusing to run backup.daily as root: {engine} is owned by uid {NOBODY}, not root, so someone "
        "other than root could run code as root through it; make or repair the root-owned install: inv bootstrap "
        "--node <backup node> --steps backup (cron must run /opt/colab/current/scripts/backup-cron)"
    )
    assert (res.returncode, res.stderr) == (1, line + "\n")
    assert (logs / "backup-daily.log").read_text().splitlines()[-1] == line
    assert snapshot_names(dst) == []

    # the step sees it (backup-cron's own check) and reinstalls; cron runs again
    repaired = bootstrap(ctx, where, source, logs)
    in_release = release / "src" / "colab" / "backup" / "runs.py"  # the check runs the release's own script
    assert statuses(repaired) == [(Status.CHANGED, f"{in_release} is owned by uid {NOBODY}, not root")]
    assert engine.stat().st_uid == 0
    assert run_cron(where, inv, logs, home).returncode == 0 and len(snapshot_names(dst)) == 1

    # the cron script itself replaced by another user's: the step's check does not run it, it reinstalls
    script = release / "scripts" / "backup-cron"
    marker = tmp_path / "ran-as-root"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    os.chown(script, NOBODY, NOBODY)
    repaired = bootstrap(ctx, where, source, logs)
    assert statuses(repaired) == [(Status.CHANGED, f"{script} can be changed by someone other than root")]
    assert not marker.exists() and script.stat().st_uid == 0
    assert script.read_bytes() == (source / "scripts" / "backup-cron").read_bytes()

    # a new commit: built beside, switched to; the previous release stays, the one before goes
    (source / "NEWS").write_text("second\n")
    second = commit(source, "second")
    assert statuses(bootstrap(ctx, where, source, logs))[0][0] == Status.CHANGED
    assert os.readlink(where / "current") == f"releases/{second}"
    assert sorted(p.name for p in (where / "releases").iterdir()) == sorted([first, second])
    (source / "NEWS").write_text("third\n")
    third = commit(source, "third")
    assert statuses(bootstrap(ctx, where, source, logs))[0][0] == Status.CHANGED
    assert sorted(p.name for p in (where / "releases").iterdir()) == sorted([second, third])
    assert (where / "current" / "NEWS").read_text() == "third\n"


def test_without_a_git_checkout_the_step_fails_with_one_line(ctx: Ctx, tmp_path: Path) -> None:
    plain = tmp_path / "not-a-checkout"
    plain.mkdir()
    report = bootstrap(ctx, tmp_path / "opt-colab", plain, tmp_path / "logs")
    assert statuses(report) == [
        (
            Status.FAILED,
            f"the root-owned install is made from a git commit, and {plain} is not a git checkout with one; run "
            "`inv bootstrap` from a clone of the project",
        )
    ]
    assert not (tmp_path / "opt-colab").exists()
