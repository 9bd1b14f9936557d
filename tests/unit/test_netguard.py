"""The network guard: only loopback and declared test networks under tests/CI."""

from __future__ import annotations

import shlex
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


# ------------------------------------------------------------------------------- ssh options (COLAB_SSH_OPTS)

REFUSED = {
    "-o ProxyCommand=nc %h %p": "ProxyCommand: runs a program on this machine",
    "-oProxyCommand='sh -c true'": "ProxyCommand: runs a program on this machine",
    "-o 'proxycommand touch x'": "proxycommand: runs a program on this machine",
    "-o PermitLocalCommand=yes -o 'LocalCommand touch x'": "PermitLocalCommand: runs a program on this machine",
    "-o KnownHostsCommand=/bin/true": "KnownHostsCommand: runs a program on this machine",
    "-o PKCS11Provider=/tmp/x.so": "PKCS11Provider: runs a program on this machine",
    "-o XAuthLocation=/tmp/x": "XAuthLocation: runs a program on this machine",
    "-o 'Match exec true'": "Match: belongs in a config file",
    "-F /tmp/ssh_config": "-F: a config file can run programs",
    "-J crtr@192.168.254.10": "-J 192.168.254.10: jumps through a host",
    "-vJ127.0.0.1,[100.64.0.1]:22": "-J 100.64.0.1: jumps through a host",
    "-o ProxyJump=ssh://crtr@127.0.0.1:2222,cooperator": "ProxyJump cooperator: jumps through a host",
    "-o HostName=192.168.254.10": "HostName 192.168.254.10: connects to another host",
    "-R 8080:192.168.254.10:80": "-R: a remote forward",
    "-o ControlPath=/tmp/elsewhere": "ControlPath: the runner manages its own connection sharing",
    "-S /tmp/elsewhere": "-S: the runner manages its own control socket",
    "-I /tmp/pkcs11.so": "-I: loads a PKCS#11 library",
    "192.168.254.10": "'192.168.254.10': not an option",
}


@pytest.mark.parametrize("opts", REFUSED)
def test_ssh_options_that_run_programs_or_go_elsewhere_are_refused(opts: str) -> None:
    with pytest.raises(NetworkGuardError) as info:
        netguard.ensure_ssh_options(shlex.split(opts), "COLAB_SSH_OPTS")
    message = str(info.value)
    assert message.startswith(f"COLAB_SSH_OPTS: {REFUSED[opts]}") and "\n" not in message
    assert message.endswith("not allowed under the network guard (tests/CI): remove it")


@pytest.mark.parametrize(
    "opts",
    [
        "-o UserKnownHostsFile=/tmp/kh -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes "
        "-o IdentitiesOnly=yes -o LogLevel=ERROR",  # what the test harness passes
        "-o ProxyCommand=none -o PermitLocalCommand=no -o ProxyJump=none -o SecurityKeyProvider=internal",
        "-v -4 -C -p 2222 -i /tmp/key -J 127.0.0.1:2222 -o HostName=127.0.20.2 -L 8080:192.168.254.10:80",
        "",
    ],
)
def test_ordinary_ssh_options_pass(opts: str) -> None:
    assert netguard.ssh_option_problems(shlex.split(opts)) == []
    netguard.ensure_ssh_options(shlex.split(opts), "COLAB_SSH_OPTS")


def test_ssh_options_are_not_policed_outside_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netguard, "active", lambda: False)
    netguard.ensure_ssh_options(["-o", "ProxyCommand=nc %h %p"], "COLAB_SSH_OPTS")
