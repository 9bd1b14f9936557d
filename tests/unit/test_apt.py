"""Debian packages: dpkg's own view of what is installed (the real dpkg-query), and the exact apt-get commands."""

from __future__ import annotations

import io
import shlex

from rich.console import Console

from colab.apt import AptRepo, add_apt_repo, apt_packages, missing_packages
from colab.runner import Runner
from colab.steps import Status, run_steps
from tests.conftest import require_tool

INSTALL = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--no-install-recommends"]


def test_missing_packages_are_the_ones_dpkg_does_not_list_as_installed() -> None:
    require_tool("dpkg-query")
    r = Runner("local", console=Console(file=io.StringIO()))
    assert missing_packages(r, ["dpkg", "colab-no-such-package", "coreutils"]) == ["colab-no-such-package"]
    assert run_steps("t", [apt_packages(["dpkg"], sudo=True)], r).outcomes[0].status == Status.OK


def test_the_plan_updates_then_installs_as_root() -> None:
    r = Runner("n1", dry_run=True, console=Console(file=io.StringIO()))
    run_steps("t", [apt_packages(["samba", "smbclient"], sudo=True)], r)
    repo = AptRepo("x", "https://example.invalid/key.asc", "/etc/apt/keyrings/x.asc", "deb [signed-by=…] …")
    add_apt_repo(r, repo, sudo=False)
    assert [shlex.split(h) for h in r.history] == [
        ["sudo", "-n", "apt-get", "update", "-q"],
        ["sudo", "-n", *INSTALL, "samba", "smbclient"],
        ["sh", "-c", repo.script()],
    ]
