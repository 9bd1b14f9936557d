"""Shared test fixtures: the network guard, tool requirements, test inventories."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from colab import netguard

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
INVENTORIES = FIXTURES / "inventories"
DEFAULT_INVENTORY = ROOT / "cluster.toml"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(*names: str) -> None:
    """Skip when a tool is missing, except in CI where a missing tool is a failure."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        msg = f"missing tool(s): {', '.join(missing)} (scripts/ci-setup installs them)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


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


@pytest.fixture
def loopback_inventory() -> Path:
    return INVENTORIES / "loopback.toml"


@pytest.fixture
def other_inventory() -> Path:
    return INVENTORIES / "other.toml"
