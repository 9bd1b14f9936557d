"""`python3 scripts/venv` for real, on this machine's Python, offline: a copy of the checkout gets a virtualenv
holding exactly uv.lock's pins (the wheelhouse also offers a newer decoy), a second run does nothing, a package
the lock no longer has is removed, and a file whose hash is not in the lock is refused with one line while the
previous virtualenv keeps working. The same code on Debian's own python3 runs in tests/integration/test_bootstrap.py."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from colab import checkout_venv
from tests.conftest import unavailable
from tests.harness import wheelhouse
from tests.harness.project_copy import copy_project

pytestmark = [pytest.mark.integration, pytest.mark.tools]


@pytest.fixture(scope="module")
def wheels() -> Path:
    try:
        return wheelhouse.build(f"{sys.version_info[0]}.{sys.version_info[1]}", platform.machine())
    except wheelhouse.WheelhouseError as e:
        unavailable(str(e))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    dest = tmp_path / "colab"
    copy_project(dest)  # the project itself: what the checkout's virtualenv installs
    return dest


@pytest.fixture
def offline(wheels: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """pip reads only the wheelhouse; no configuration or cache of this machine's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1")
    yield env


def venv(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / "scripts/venv"), *args], env=env, capture_output=True, text=True, timeout=600
    )


def installed(repo: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(repo / ".venv/bin/python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {checkout_venv.canonical(p["name"]): p["version"] for p in json.loads(out)}


def locked() -> dict[str, str]:
    return {checkout_venv.canonical(p.name): p.version for p in wheelhouse.node_pins()}


def test_installs_exactly_the_lock_then_nothing(repo: Path, offline: dict[str, str]) -> None:
    first = venv(repo, offline)
    assert first.returncode == 0, first.stdout + first.stderr
    have = installed(repo)
    assert {k: v for k, v in have.items() if k not in ("pip", "colab")} == locked()
    assert have["rich"] != wheelhouse.DECOY[1]  # the newer one on offer was not taken
    listing = subprocess.run([str(repo / ".venv/bin/inv"), "--list"], cwd=repo, capture_output=True, text=True)
    assert listing.returncode == 0 and "bootstrap" in listing.stdout, listing.stderr
    stamp = repo / ".venv" / checkout_venv.STAMP
    before = stamp.stat().st_mtime_ns

    second = venv(repo, offline)
    assert second.returncode == 0
    assert second.stdout == f"venv: {repo}/.venv is up to date with uv.lock (runtime + build)\n"
    assert stamp.stat().st_mtime_ns == before
    assert venv(repo, offline, "--check").stdout == ""


def test_what_the_lock_no_longer_has_is_removed(repo: Path, offline: dict[str, str], tmp_path: Path) -> None:
    assert venv(repo, offline).returncode == 0
    extra = wheelhouse.decoy_wheel(tmp_path, "colab-test-leftover", "1.0")
    pip = [str(repo / ".venv/bin/python"), "-m", "pip", "install", "--no-deps", "-q", str(extra)]
    subprocess.run(pip, env=offline, check=True, capture_output=True)
    assert "colab-test-leftover" in installed(repo)
    with (repo / "uv.lock").open("a") as f:
        f.write("\n# a new lock\n")
    assert venv(repo, offline, "--check").stdout.startswith("uv.lock or pyproject.toml changed since")
    again = venv(repo, offline)
    assert again.returncode == 0, again.stderr
    assert "pip uninstall (not in uv.lock for runtime + build): colab-test-leftover" in again.stdout
    assert "colab-test-leftover" not in installed(repo)


def test_a_file_not_in_the_lock_is_refused_and_the_old_venv_stays(
    repo: Path, offline: dict[str, str], wheels: Path, tmp_path: Path
) -> None:
    assert venv(repo, offline).returncode == 0
    before = installed(repo)
    # the registry now serves other bytes under the pinned name (a compromised mirror)
    evil = tmp_path / "evil"
    shutil.copytree(wheels, evil)
    pinned = next(evil.glob(f"tomlkit-{locked()['tomlkit']}-*.whl"))
    pinned.unlink()
    shutil.move(wheelhouse.decoy_wheel(tmp_path, "tomlkit", locked()["tomlkit"]), pinned)
    env = {**offline, "PIP_FIND_LINKS": str(evil)}
    subprocess.run([str(repo / ".venv/bin/python"), "-m", "pip", "uninstall", "-y", "-q", "tomlkit"], check=True)
    assert venv(repo, env, "--check").stdout == f"tomlkit {locked()['tomlkit']} is missing from {repo}/.venv\n"
    res = venv(repo, env)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: pip install in {repo}/.venv failed: "), res.stderr
    assert "tomlkit" not in installed(repo)  # nothing of the bad file went in
    without = {k: v for k, v in before.items() if k != "tomlkit"}
    assert installed(repo) == without
    # and with the real files back, the next run repairs it
    assert venv(repo, offline).returncode == 0
    assert installed(repo) == before
