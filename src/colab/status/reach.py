"""Is a node reachable? A TCP connect to its SSH port, bounded in time, on the mesh and on the LAN.

No ICMP: a ping needs raw sockets (root or a capability) and says nothing about SSH, which every other
probe needs. The network guard is asked first, so tests and CI can never reach the real cluster.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from colab import netguard


@dataclass(frozen=True)
class Reach:
    ok: bool
    detail: str  # "" when ok, else why not: "connection refused", "no answer within 2s" …
    ms: float = 0.0


def tcp(host: str, port: int, timeout: float, what: str = "a node") -> Reach:
    """Open (and close) a TCP connection to host:port, waiting at most `timeout` seconds."""
    netguard.ensure_allowed(host, f"send a status probe for {what}")
    if timeout <= 0:
        return Reach(False, "no time left")
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except TimeoutError:
        return Reach(False, f"no answer within {timeout:g}s")
    except ConnectionRefusedError:
        return Reach(False, "connection refused")
    except OSError as e:
        return Reach(False, (e.strerror or str(e)).lower())
    return Reach(True, "", round((time.monotonic() - started) * 1000, 1))
