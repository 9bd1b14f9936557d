"""The network guard: only loopback and declared test networks under tests/CI."""

from __future__ import annotations

import socket

import pytest

from colab import netguard
from colab.errors import NetworkGuardError


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.20.2", "::1", "localhost"])
def test_loopback_is_allowed(host: str) -> None:
    netguard.ensure_allowed(host)


@pytest.mark.parametrize("host", ["192.168.254.10", "100.64.0.1", "8.8.8.8", "cooperator", "172.17.0.2"])
def test_other_addresses_and_names_are_refused(host: str) -> None:
    with pytest.raises(NetworkGuardError, match=f"refusing to connect to {host}"):
        netguard.ensure_allowed(host)


def test_declared_test_networks_are_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(netguard.ENV_TEST_NETWORKS, "172.17.0.0/16, 10.99.0.0/24")
    netguard.ensure_allowed("172.17.0.2")
    netguard.ensure_allowed("10.99.0.7")
    with pytest.raises(NetworkGuardError):
        netguard.ensure_allowed("10.99.1.7")


def test_malformed_test_network_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(netguard.ENV_TEST_NETWORKS, "not-a-net")
    with pytest.raises(NetworkGuardError, match="'not-a-net' is not a network"):
        netguard.ensure_allowed("10.0.0.1")


def test_guard_is_off_outside_tests_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv(netguard.ENV_FORCE, "")
    assert not netguard.active()
    netguard.ensure_allowed("192.168.254.10")  # production use is not blocked
    monkeypatch.setenv("CI", "true")
    assert netguard.active()


def test_python_sockets_to_the_real_cluster_fail_under_pytest() -> None:
    # conftest wraps socket.connect: the packet is never sent.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkGuardError):
            s.connect(("100.64.0.1", 22))
    finally:
        s.close()
