"""Network namespaces for tests: free test subnets, namespaces joined by veth pairs, per-namespace /etc files.

Everything stays on this machine: a namespace the test makes has no route out unless the test adds one, and
none of them forwards (a new namespace starts with ip_forward off). `ip netns exec NAME` bind-mounts
`/etc/netns/NAME/<file>` over `/etc/<file>` for the program it runs: that is how a namespace gets its own
`resolv.conf` (a DNS server of the test's) and `hosts`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

NETNS_ETC = Path("/etc/netns")


def run(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, errors="replace", check=check, timeout=timeout)


def taken_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network an interface or a route of this host uses."""
    taken = []
    for line in run("ip", "-4", "-o", "addr", "show").stdout.splitlines():
        m = re.search(r"inet (\S+)", line)
        if m:
            taken.append(ipaddress.ip_interface(m.group(1)).network)
    for line in run("ip", "-4", "route", "show").stdout.splitlines():
        first = line.split()[0]
        if first != "default":
            with contextlib.suppress(ValueError):
                taken.append(ipaddress.ip_network(first, strict=False))
    return taken


def free_subnets(count: int, seconds: range) -> list[ipaddress.IPv4Network]:
    """`count` /24s of 10.<second>.x.0 (second in `seconds`) that no interface or route of this host uses; [] if
    there are not enough. Give each test module its own range so two running at once never pick the same."""
    taken = taken_networks()
    found: list[ipaddress.IPv4Network] = []
    for second in seconds:
        for third in range(10, 250, 17):
            net = ipaddress.ip_network(f"10.{second}.{third}.0/24")
            if not any(net.overlaps(t) for t in taken) and all(not net.overlaps(f) for f in found):
                found.append(net)
                if len(found) == count:
                    return found
    return []


@dataclass
class Netns:
    """A network namespace with its loopback up; `etc` files go to /etc/netns/<name>/."""

    name: str
    etc_files: list[Path] = field(default_factory=list)

    def create(self) -> Netns:
        run("ip", "netns", "add", self.name)
        run("ip", "-n", self.name, "link", "set", "lo", "up")
        return self

    def exec_argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run(*self.exec_argv(*argv), check=check, timeout=timeout)

    def etc(self, name: str, text: str) -> Path:
        """/etc/<name> as programs started with `ip netns exec` in this namespace see it."""
        path = NETNS_ETC / self.name / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.etc_files.append(path)
        return path

    def delete(self) -> None:
        run("ip", "netns", "del", self.name, check=False)  # its interfaces (and their veth peers) go with it
        shutil.rmtree(NETNS_ETC / self.name, ignore_errors=True)


def link(a: Netns, a_if: str, a_addr: str, b: Netns, b_if: str, b_addr: str, prefix: int = 24) -> None:
    """A veth pair between two namespaces, each end with its address (`prefix` long) and up."""
    run("ip", "link", "add", a_if, "netns", a.name, "type", "veth", "peer", "name", b_if, "netns", b.name)
    for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
        run("ip", "-n", ns.name, "addr", "add", f"{addr}/{prefix}", "dev", ifname)
        run("ip", "-n", ns.name, "link", "set", ifname, "up")


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def remove_leftovers(pattern: str) -> None:
    """Namespaces named `<pattern>` (a regex whose first group is the pid of the test run that made them) of runs
    that died before their teardown, with their /etc/netns files."""
    for line in run("ip", "netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(pattern, name)
        if m and not alive(int(m.group(1))):
            Netns(name).delete()
    if NETNS_ETC.is_dir():
        for path in NETNS_ETC.iterdir():
            m = re.fullmatch(pattern, path.name)
            if m and not alive(int(m.group(1))):
                shutil.rmtree(path, ignore_errors=True)


def unique(prefix: str) -> str:
    """A name unique to this test run: `<prefix>-<pid>`."""
    return f"{prefix}-{os.getpid()}"
