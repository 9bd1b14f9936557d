"""The node being bootstrapped (`Ctx`), the groups its steps come in, and its user tools' PATH on macOS.

A step is a `colab.steps.Step` made with the shared building blocks (`colab.privilege`, `colab.file_steps`,
`colab.apt`, `colab.steps.requirement`); this module holds only what is bootstrap's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from colab.inventory import Inventory, Node
from colab.runner import Runner
from colab.steps import Step

# Where Homebrew (Apple silicon, then Intel) and Docker Desktop put their commands on macOS: an SSH
# session's PATH has none of them.
BREW_PATH = ":".join(
    (
        "/opt/homebrew/bin",
        "/usr/local/bin",
        "/Applications/Docker.app/Contents/Resources/bin",
        "/usr/bin",
        "/bin",
        "/usr/sbin",
        "/sbin",
    )
)


@dataclass(frozen=True)
class Ctx:
    """The node being bootstrapped and how to reach what it needs."""

    inv: Inventory
    node: Node
    sudo: bool  # privileged commands go through `sudo -n` (`colab.privilege.needs_sudo`)
    controller: Runner  # this machine: Infisical is read here, the key travels to the node on stdin

    @property
    def os(self) -> str:
        return self.node.os

    @property
    def is_server(self) -> bool:
        return self.node.name == self.inv.fortress.server


@dataclass(frozen=True)
class Group:
    """One numbered part of the bootstrap (`--steps` picks groups by name)."""

    name: str
    steps: list[Step]


def tool(ctx: Ctx, *argv: str) -> list[str]:
    """argv for a user tool: on macOS with Homebrew's and Docker Desktop's folders on PATH."""
    return ["env", f"PATH={BREW_PATH}", *argv] if ctx.os == "macos" else list(argv)


def have_command(r: Runner, ctx: Ctx, *names: str) -> list[str]:
    """The commands among `names` that are not on the node's PATH (macOS: with Homebrew's folders)."""
    script = 'for c; do command -v "$c" >/dev/null 2>&1 || echo "$c"; done'
    argv = tool(ctx, "sh", "-c", script, "sh", *names)
    res = r.run(*argv, check=False, mutating=False)
    if not res.ok:
        return list(names)
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]
