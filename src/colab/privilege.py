"""Commands that need root on a node: one rule for when they go through `sudo -n`.

A privileged command runs as it is when it already runs as root: locally when this process is root, over SSH
when the node's `ssh_user` is root. Otherwise it is prefixed with `sudo -n`, which never prompts: a missing
passwordless sudo fails with sudo's own one line instead of hanging on a password (bootstrap checks for it
first, `colab.bootstrap.prerequisites`). sudo passes stdin on, so a file's content or a key still arrives there.
"""

from __future__ import annotations

import os

from colab.inventory import Node
from colab.runner import Runner

SUDO = ("sudo", "-n")


def needs_sudo(runner: Runner, node: Node) -> bool:
    """Locally: unless this process is root. Over SSH: unless the node's ssh_user is root."""
    if runner.transport_factory is None:
        return os.geteuid() != 0
    return node.ssh_user != "root"


def as_root(sudo: bool, *argv: str) -> list[str]:
    """argv as root: behind `sudo -n` when `sudo` (see `needs_sudo`), else as it is."""
    return [*SUDO, *argv] if sudo else list(argv)


def sudo_prefix(sudo: bool) -> str:
    """The same for a command inside a shell script: `sudo -n ` or nothing."""
    return " ".join(SUDO) + " " if sudo else ""
