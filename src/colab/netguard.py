"""Refuse connections tests and CI must never make.

The default inventory describes a real cluster (192.168.254.0/24, 100.64.0.0/16). Under pytest or with
CI=true, any code that is about to open a connection calls `ensure_allowed(host)` first: only loopback and
the networks the test harness declared in $COLAB_TEST_NETWORKS (its own containers) pass.
"""

from __future__ import annotations

import ipaddress
import os

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
