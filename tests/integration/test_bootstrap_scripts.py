"""The install scripts bootstrap runs as root on a Debian node, run for real in a Debian container with no
network: a `curl` stand-in serves local files and records the URLs it was asked for; apt and dpkg are real.

- the vendor repositories (tailscale, mise, 45Drives): keys and sources lines land where apt reads them,
  with $ID, $VERSION_CODENAME and the architecture filled in on the node;
- chezmoi's release .deb: checked against the release's checksums file, then installed by the real apt;
  a checksum that does not match installs nothing.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from pathlib import Path

import pytest

from colab.bootstrap.install import CHEZMOI_DEB, FORTYFIVE_DRIVES_REPO, MISE_REPO
from colab.bootstrap.mesh import TAILSCALE_REPO
from tests.conftest import require_tool
from tests.harness import images

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]

VERSION = "2.67.0"
DEB = f"chezmoi_{VERSION}_linux_amd64.deb"
CURL = """#!/bin/sh
# curl stand-in: with -o FILE it writes a fake key there; each -O URL copies /files/<name of URL> here.
out=""; urls=""
while [ $# -gt 0 ]; do
  case $1 in -o) out=$2; shift ;; http*) urls="$urls $1" ;; esac; shift
done
for url in $urls; do
  echo "$url" >> /tmp/curl.log
  if [ -n "$out" ]; then echo "key of $url" > "$out"; else cp "/files/${url##*/}" . || exit 22; fi
done
"""


@pytest.fixture(scope="module")
def base_image(docker_engine: str) -> str:
    return images.build_base_image()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("dpkg-deb")
    root = tmp_path_factory.mktemp("chezmoi-release")
    pkg = root / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "usr/bin").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(
        f"Package: chezmoi\nVersion: {VERSION}\nArchitecture: amd64\nMaintainer: test <t@t.invalid>\n"
        "Description: stand-in release package\n"
    )
    (pkg / "usr/bin/chezmoi").write_text(f"#!/bin/sh\necho chezmoi version v{VERSION}\n")
    (pkg / "usr/bin/chezmoi").chmod(0o755)
    served = root / "files"
    served.mkdir()
    build = ["dpkg-deb", "--root-owner-group", "-b", str(pkg), str(served / DEB)]
    subprocess.run(build, check=True, capture_output=True)
    (root / "curl").write_text(CURL)
    (root / "curl").chmod(0o755)
    return root


def run(image: str, files: Path, script: str, checksum: str) -> subprocess.CompletedProcess[str]:
    (files / "files" / f"chezmoi_{VERSION}_checksums.txt").write_text(
        f"{'0' * 64}  chezmoi_{VERSION}_darwin_arm64.tar.gz\n{checksum}  {DEB}\n"
    )
    argv = ["docker", "run", "--rm", "--network", "none", "-v", f"{files}/files:/files:ro"]
    argv += ["-v", f"{files}/curl:/usr/local/bin/curl:ro", image, "sh", "-c", script]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180)


def test_vendor_repositories_are_written_where_apt_reads_them(base_image: str, files: Path) -> None:
    repos = (TAILSCALE_REPO, MISE_REPO, FORTYFIVE_DRIVES_REPO)
    scripts = " && ".join(f"sh -c {shlex.quote(r.script())}" for r in repos)
    check = "; cat /etc/apt/sources.list.d/*.list; stat -c '%n %a' /etc/apt/keyrings/*; cat /tmp/curl.log"
    res = run(base_image, files, scripts + check, "0" * 64)
    assert res.returncode == 0, res.stderr
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    assert res.stdout.splitlines() == [
        "deb [signed-by=/etc/apt/keyrings/45drives.asc] https://repo.45drives.com/enterprise/debian trixie main",
        f"deb [arch={arch} signed-by=/etc/apt/keyrings/mise.asc] https://mise.jdx.dev/deb stable main",
        "deb [signed-by=/etc/apt/keyrings/tailscale.gpg] https://pkgs.tailscale.com/stable/debian trixie main",
        "/etc/apt/keyrings/45drives.asc 644",
        "/etc/apt/keyrings/mise.asc 644",
        "/etc/apt/keyrings/tailscale.gpg 644",
        "https://pkgs.tailscale.com/stable/debian/trixie.noarmor.gpg",
        "https://mise.jdx.dev/gpg-key.pub",
        "https://repo.45drives.com/key/gpg.asc",
    ]


def test_chezmoi_release_deb_is_verified_then_installed_by_apt(base_image: str, files: Path) -> None:
    good = hashlib.sha256((files / "files" / DEB).read_bytes()).hexdigest()
    res = run(base_image, files, _quoted(VERSION), good)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines() == [
        "rc=0",
        f"chezmoi version v{VERSION}",
        f"https://github.com/twpayne/chezmoi/releases/download/v{VERSION}/{DEB}",
        f"https://github.com/twpayne/chezmoi/releases/download/v{VERSION}/chezmoi_{VERSION}_checksums.txt",
    ]
    bad = run(base_image, files, _quoted(VERSION), "f" * 64)
    assert bad.stdout.splitlines()[0] != "rc=0"
    assert "chezmoi version" not in bad.stdout  # nothing installed


def _quoted(version: str) -> str:
    install = f"sh -c {shlex.quote(CHEZMOI_DEB)} sh {version} >/dev/null 2>&1"
    return f"{install}; echo rc=$?; chezmoi 2>/dev/null; cat /tmp/curl.log"
