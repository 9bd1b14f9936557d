"""What every bootstrap step shares: the node's context, root, notes, apt, check-only steps.

A step is a `colab.steps.Step`: `check` returns None when the node is already right, else the reason to act;
a check that cannot be fixed by acting (Docker Desktop missing on Windows, Homebrew missing on macOS) raises
`ColabError` with what to do, which reports the step `failed` and stops the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text

from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.runner import Result, Runner
from colab.steps import Step

SUDO = ("sudo", "-n")
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
APT_ENV = ("env", "DEBIAN_FRONTEND=noninteractive")


@dataclass(frozen=True)
class Ctx:
    """The node being bootstrapped and how to reach what it needs."""

    inv: Inventory
    node: Node
    sudo: bool  # privileged commands go through `sudo -n` (never prompts)
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


def needs_sudo(runner: Runner, node: Node) -> bool:
    """Locally: unless we are root. Over SSH: unless the node's ssh_user is root."""
    if runner.transport_factory is None:
        return os.geteuid() != 0
    return node.ssh_user != "root"


def root(ctx: Ctx, *argv: str) -> list[str]:
    return [*SUDO, *argv] if ctx.sudo else list(argv)


def tool(ctx: Ctx, *argv: str) -> list[str]:
    """argv for a user tool: on macOS with Homebrew's and Docker Desktop's folders on PATH."""
    return ["env", f"PATH={BREW_PATH}", *argv] if ctx.os == "macos" else list(argv)


def sh(r: Runner, script: str, *args: str, **kwargs: object) -> Result:
    return r.run("sh", "-c", script, "sh", *args, **kwargs)  # type: ignore[arg-type]


def probe(r: Runner, script: str, *args: str) -> Result:
    """A read-only shell probe (not printed in a dry run)."""
    return r.run("sh", "-c", script, "sh", *args, check=False, mutating=False)


def note(r: Runner, text: str) -> None:
    """A comment line in a dry-run plan; silent otherwise."""
    if r.dry_run:
        r.console.print(Text.assemble((f"[{r.node}] ", "dim"), f"# {text}"), soft_wrap=True, highlight=False)


def last_line(res: Result) -> str:
    lines = (res.stderr.strip() or res.stdout.strip()).splitlines()
    return lines[-1] if lines else f"exit {res.returncode}"


def requirement(name: str, test: Callable[[Runner], str | None], plan: str) -> Step:
    """A check-only step: `test` returns None when met, else the message (cause and fix) it fails with."""

    def check(r: Runner) -> str | None:
        problem = test(r)
        if problem:
            raise ColabError(problem)
        return None

    def act(r: Runner) -> None:
        note(r, f"check: {plan}")

    return Step(name, check, act)


# ------------------------------------------------------------------------------------------------ apt

_DPKG_STATUS = "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' \"$@\" 2>/dev/null; exit 0"


def missing_packages(r: Runner, packages: Sequence[str]) -> list[str]:
    res = probe(r, _DPKG_STATUS, *packages)
    installed = {parts[0] for parts in (line.split() for line in res.stdout.splitlines()) if parts[1:] == ["installed"]}
    return [p for p in packages if p not in installed]


def apt_install(ctx: Ctx, r: Runner, packages: Sequence[str], update: bool = True) -> None:
    if update:
        r.run(*root(ctx, "apt-get", "update", "-q"), timeout=600)
    r.run(*root(ctx, *APT_ENV, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages), timeout=1800)


def apt_packages(ctx: Ctx, packages: Sequence[str], name: str | None = None) -> Step:
    """Debian packages installed (dpkg's view), with apt-get."""

    def check(r: Runner) -> str | None:
        missing = missing_packages(r, packages)
        return f"not installed: {', '.join(missing)}" if missing else None

    def act(r: Runner) -> None:
        apt_install(ctx, r, packages)

    return Step(name or f"apt {' '.join(packages)}", check, act)


@dataclass(frozen=True)
class AptRepo:
    """A vendor's apt repository: its signing key (kept as downloaded) and its sources line.

    `key_url` and `line` may use $ID and $VERSION_CODENAME (from /etc/os-release, read on the node) and
    $(dpkg --print-architecture); the script expands them there.
    """

    name: str
    key_url: str
    key_file: str
    line: str

    @property
    def list_file(self) -> str:
        return f"/etc/apt/sources.list.d/{self.name}.list"

    def script(self) -> str:
        return (
            "set -eu; . /etc/os-release; install -d -m 0755 /etc/apt/keyrings; "
            f'curl -fsSL "{self.key_url}" -o "{self.key_file}.tmp"; chmod 0644 "{self.key_file}.tmp"; '
            f'mv -f "{self.key_file}.tmp" "{self.key_file}"; '
            f'printf "%s\\n" "{self.line}" > "{self.list_file}"'
        )


def add_apt_repo(ctx: Ctx, r: Runner, repo: AptRepo) -> None:
    r.run(*root(ctx, "sh", "-c", repo.script()), timeout=120)


def have_command(r: Runner, ctx: Ctx, *names: str) -> list[str]:
    """The commands among `names` that are not on the node's PATH (macOS: with Homebrew's folders)."""
    script = 'for c; do command -v "$c" >/dev/null 2>&1 || echo "$c"; done'
    argv = tool(ctx, "sh", "-c", script, "sh", *names)
    res = r.run(*argv, check=False, mutating=False)
    if not res.ok:
        return list(names)
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]
