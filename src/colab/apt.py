"""Debian packages on a node (Debian, the Linux side of WSL): what dpkg has, `apt-get install`, vendors' repositories.

Installing runs as root (`colab.privilege`), non-interactively and without recommended packages; what is
installed is dpkg's view (`dpkg-query`), read as the login user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from colab.privilege import as_root
from colab.runner import Runner
from colab.steps import Step, probe

APT_ENV = ("env", "DEBIAN_FRONTEND=noninteractive")
_DPKG_STATUS = "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' \"$@\" 2>/dev/null; exit 0"


def missing_packages(r: Runner, packages: Sequence[str]) -> list[str]:
    """The packages among `packages` that dpkg does not list as installed."""
    res = probe(r, _DPKG_STATUS, *packages)
    installed = {parts[0] for parts in (line.split() for line in res.stdout.splitlines()) if parts[1:] == ["installed"]}
    return [p for p in packages if p not in installed]


def apt_install(r: Runner, packages: Sequence[str], *, sudo: bool, update: bool = True) -> None:
    if update:
        r.run(*as_root(sudo, "apt-get", "update", "-q"), timeout=600)
    argv = as_root(sudo, *APT_ENV, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages)
    r.run(*argv, timeout=1800)


def apt_packages(packages: Sequence[str], *, sudo: bool, name: str | None = None) -> Step:
    """Debian packages installed (dpkg's view), with apt-get."""

    def check(r: Runner) -> str | None:
        missing = missing_packages(r, packages)
        return f"not installed: {', '.join(missing)}" if missing else None

    def act(r: Runner) -> None:
        apt_install(r, packages, sudo=sudo)

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


def add_apt_repo(r: Runner, repo: AptRepo, *, sudo: bool) -> None:
    r.run(*as_root(sudo, "sh", "-c", repo.script()), timeout=120)
