"""Shared test fixtures: the network guard, tool requirements, test inventories."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from colab import netguard

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
INVENTORIES = FIXTURES / "inventories"
DEFAULT_INVENTORY = ROOT / "cluster.toml"
IN_CI = os.environ.get("CI", "").lower() == "true"

# The inventories the render tests apply with the real chezmoi and mise: the default and one of another shape.
RENDER_INVENTORIES = {"default": DEFAULT_INVENTORY, "other": INVENTORIES / "other.toml"}
RENDER_NODES = {
    "default": ["cooperator", "director", "writer", "projector", "terminator"],
    "other": ["hub", "studio", "forge"],
}
RENDER_CASES = [(name, node) for name, nodes in RENDER_NODES.items() for node in nodes]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="plan cases (tests/unit/*/cases/*.txt): write what the code prints now as the expected part, instead of "
        "comparing; review the diff before committing it",
    )


def unavailable(reason: str) -> NoReturn:
    """A test cannot run here: skip with the reason, except in CI, where it is a failure."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def require_tool(*names: str) -> None:
    """Skip when a tool is missing, except in CI where a missing tool is a failure."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        unavailable(f"missing tool(s): {', '.join(missing)} (scripts/ci-setup installs them)")


def require_root(why: str) -> None:
    """Skip (fail in CI) unless running as root; `why` says what needs it."""
    if os.geteuid() != 0:
        unavailable(f"needs root: {why}")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded(real: Any) -> Any:
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            netguard.ensure_allowed(str(address[0]))
        return real(self, address)

    return connect


@pytest.fixture(autouse=True, scope="session")
def _network_guard() -> Iterator[None]:
    """Any Python-level connection outside loopback and the test networks fails the test."""
    socket.socket.connect = _guarded(_real_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded(_real_connect_ex)  # type: ignore[method-assign]
    os.environ.setdefault(netguard.ENV_FORCE, "1")  # child processes (inv) keep the guard on
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _fresh_caches_in_ci(tmp_path_factory: pytest.TempPathFactory) -> None:
    """In CI the tests' own cache (the wheelhouse) starts empty in every run, so a build step that only works
    thanks to a leftover of an earlier run fails on the machine it was written on, not on the next one."""
    if IN_CI and not os.environ.get("COLAB_TEST_CACHE"):
        os.environ["COLAB_TEST_CACHE"] = str(tmp_path_factory.mktemp("colab-test-cache"))


@pytest.fixture
def loopback_inventory() -> Path:
    return INVENTORIES / "loopback.toml"


@pytest.fixture
def other_inventory() -> Path:
    return INVENTORIES / "other.toml"


STANDINS = ROOT / "tests" / "standins"
# Unique per test run: a canary search (argv sampling, grep) sees only this run's canary, never another test
# run's on the same machine.
CANARY = f"canary-7Qx9-{os.getpid()}-{secrets.token_hex(4)}-never-on-disk"


class FakeInfisical:
    """Controls the Infisical stand-in (tests/standins/infisical) through the environment only."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, project: str) -> None:
        self._mp = monkeypatch
        self.project = project
        self.envs: dict[str, dict[str, dict[str, str]]] = {}
        monkeypatch.setenv("PATH", f"{STANDINS}{os.pathsep}{os.environ['PATH']}")
        self._publish()

    def set(self, path: str, env: str = "prod", **secrets: str) -> None:
        self.envs.setdefault(env, {}).setdefault(path, {}).update(secrets)
        self._publish()

    def _publish(self) -> None:
        import json

        self._mp.setenv("COLAB_FAKE_INFISICAL_VAULT", json.dumps({"project": self.project, "envs": self.envs}))


@pytest.fixture
def fake_infisical(monkeypatch: pytest.MonkeyPatch) -> FakeInfisical:
    """The stand-in on PATH, with an empty vault for the default inventory's project."""
    from colab import inventory

    return FakeInfisical(monkeypatch, inventory.load(DEFAULT_INVENTORY).infisical.project_id)
