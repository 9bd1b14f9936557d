"""Refuse connections tests and CI must never make.

The default inventory describes a real cluster (192.168.254.0/24, 100.64.0.0/16). Under pytest or with
CI=true, any code that is about to open a connection calls `ensure_allowed(host)` first: only loopback and
the networks the test harness declared in $COLAB_TEST_NETWORKS (its own containers) pass.

Whatever would take a connection elsewhere behind that check's back is refused too: ssh options that run a
program on this machine or reach another host (`ssh_option_problems`); HTTP redirects and proxies are the
callers' (`colab.backup.ping`: every hop checked, proxies ignored).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence

from colab.errors import NetworkGuardError

ENV_TEST_NETWORKS = "COLAB_TEST_NETWORKS"
ENV_FORCE = "COLAB_NETGUARD"


def active() -> bool:
    """The guard is on under pytest, in CI, or when forced with COLAB_NETGUARD=1."""
    if os.environ.get(ENV_FORCE) == "0":
        return False
    return (
        os.environ.get("CI", "").lower() == "true"
        or "PYTEST_CURRENT_TEST" in os.environ
        or os.environ.get(ENV_FORCE) == "1"
    )


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    ]
    for item in os.environ.get(ENV_TEST_NETWORKS, "").replace(",", " ").split():
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise NetworkGuardError(
                f"{ENV_TEST_NETWORKS}: {item!r} is not a network; use CIDR form like 172.18.0.0/16"
            ) from None
    return nets


def is_allowed(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a name would need a lookup, itself traffic we cannot vouch for
    return any(addr in net for net in allowed_networks())


def ensure_allowed(host: str, purpose: str = "connect") -> None:
    """Raise NetworkGuardError when the guard is on and `host` is not loopback or a test network."""
    if active() and not is_allowed(host):
        raise NetworkGuardError(
            f"refusing to {purpose} to {host}: under tests/CI only loopback and the test containers' "
            f"networks ({ENV_TEST_NETWORKS}) may be contacted; use a test inventory or --dry-run"
        )


# ---------------------------------------------------------------------------------------------- ssh

# ssh's flags that take a value: the ones followed by ":" in ssh.c's getopt string
# "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy" (OpenSSH 9).
_SSH_VALUE_FLAGS = set("bceilmopBDEFIJLOPQRSwW")
# Options whose value is a program (or library) ssh runs or loads on this machine.
_SSH_RUNS = {"proxycommand", "localcommand", "permitlocalcommand", "knownhostscommand", "pkcs11provider",
             "securitykeyprovider", "xauthlocation"}  # fmt: skip
_SSH_OFF = {"none", "no", "false", "internal"}  # values that leave them off (or built in)
_SSH_CONFIG_ONLY = {"host", "match", "include"}  # ssh refuses these on its command line; a config file has them
_SSH_OWNED = {"controlpath", "controlmaster", "controlpersist"}  # the runner's own connection sharing
_SSH_FLAGS = {
    "F": "-F: a config file can run programs (ProxyCommand, Match exec) and name other hosts",
    "I": "-I: loads a PKCS#11 library",
    "S": "-S: the runner manages its own control socket",
    "R": "-R: a remote forward makes this machine connect where the remote side says",
}


def _hop_host(hop: str) -> str:
    """The host of a ProxyJump hop: `[ssh://][user@]host[:port]` (IPv6 in brackets)."""
    hop = hop.strip().removeprefix("ssh://").rpartition("@")[2]
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    return hop.rsplit(":", 1)[0] if hop.count(":") == 1 else hop


def _jump_problem(value: str, what: str) -> str | None:
    if value.strip().lower() == "none":
        return None
    bad = [_hop_host(h) for h in value.split(",") if not is_allowed(_hop_host(h))]
    return f"{what} {', '.join(bad)}: jumps through a host that is not loopback or a test network" if bad else None


def _option_problem(text: str) -> str | None:
    """Why `-o text` (`Key=Value` or `Key Value`) is refused, None when it may be used."""
    m = re.match(r"\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*)$", text)
    key, value = (m.group(1), m.group(2).strip()) if m else (text.strip(), "")
    low = key.lower()
    if low in _SSH_RUNS and value.lower() not in _SSH_OFF:
        return f"{key}: runs a program on this machine"
    if low in _SSH_CONFIG_ONLY:
        return f"{key}: belongs in a config file (and can run programs there)"
    if low in _SSH_OWNED:
        return f"{key}: the runner manages its own connection sharing"
    if low == "proxyjump":
        return _jump_problem(value, "ProxyJump")
    if low == "hostname" and not is_allowed(value):
        return f"HostName {value}: connects to another host than the one checked"
    if low == "remoteforward":
        return _SSH_FLAGS["R"]
    return None


def ssh_option_problems(args: Sequence[str]) -> list[str]:
    """Why each refused argument of an ssh command line (before the destination) is refused; empty: all fine."""
    problems: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg in ("-", "--"):
            problems.append(f"{arg!r}: not an option (ssh would take it for the host to connect to)")
            i += 1
            continue
        for j, flag in enumerate(arg[1:], start=1):
            if flag not in _SSH_VALUE_FLAGS:
                continue
            value = arg[j + 1 :]
            if not value:
                i += 1
                value = args[i] if i < len(args) else ""
            if flag == "o":
                problem = _option_problem(value)
            elif flag == "J":
                problem = _jump_problem(value, "-J")
            else:
                problem = _SSH_FLAGS.get(flag)
            if problem:
                problems.append(problem)
            break
        i += 1
    return problems


def ensure_ssh_options(args: Sequence[str], source: str) -> None:
    """Raise NetworkGuardError (one line) when the guard is on and `args` hold an option it cannot vouch for."""
    problems = ssh_option_problems(args) if active() else []
    if problems:
        raise NetworkGuardError(
            f"{source}: {'; '.join(problems)}; not allowed under the network guard (tests/CI): remove it"
        )
