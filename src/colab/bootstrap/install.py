"""Step 2: Docker, mise and chezmoi the OS's way; Cockpit and its 45Drives extensions on the server.

Debian (and the Linux side of WSL) uses apt. Debian 13 has docker.io, docker-compose (Compose v2) and
cockpit, but no mise and no chezmoi (checked against trixie's package index): mise comes from its own apt
repository (mise.jdx.dev/deb), chezmoi as the .deb of the release the inventory pins (`tools.chezmoi`),
checked against the release's checksums file and installed by apt. cockpit-file-sharing and
cockpit-identities are 45Drives packages (Architecture: all), from their apt repository
(repo.45drives.com/enterprise/debian, which publishes trixie).

WSL nodes get Docker from Docker Desktop on Windows: checked through WSL interop (installed, and its WSL
integration giving this distribution a `docker` that answers); installing Docker Desktop needs a Windows
administrator, so bootstrap says what to do instead. macOS uses Homebrew (chezmoi, mise, the
docker-desktop cask), which must be there already (its installer asks for a password).
"""

from __future__ import annotations

from colab.apt import AptRepo, add_apt_repo, apt_install, apt_packages, missing_packages
from colab.bootstrap.context import Ctx, have_command, tool
from colab.errors import ColabError
from colab.privilege import as_root
from colab.runner import Runner
from colab.steps import Step, note, probe, requirement
from colab.storage.mounts import POWERSHELL

BASE_PACKAGES = ("curl", "ca-certificates", "git")  # keys and .debs; chezmoi clones with git
DOCKER_PACKAGES = ("docker.io", "docker-compose")  # Debian 13: Engine 26 and Compose v2 (the CLI plugin)
SAMBA_PACKAGES = ("samba", "smbclient")
COCKPIT_EXTENSIONS = ("cockpit-file-sharing", "cockpit-identities")
DOCKER_DESKTOP_EXE = "/mnt/c/Program Files/Docker/Docker/Docker Desktop.exe"

MISE_REPO = AptRepo(
    "mise",
    "https://mise.jdx.dev/gpg-key.pub",
    "/etc/apt/keyrings/mise.asc",
    "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/mise.asc] https://mise.jdx.dev/deb stable main",
)
FORTYFIVE_DRIVES_REPO = AptRepo(
    "45drives",
    "https://repo.45drives.com/key/gpg.asc",
    "/etc/apt/keyrings/45drives.asc",
    "deb [signed-by=/etc/apt/keyrings/45drives.asc] https://repo.45drives.com/enterprise/debian $VERSION_CODENAME main",
)
CHEZMOI_RELEASES = "https://github.com/twpayne/chezmoi/releases/download"
# $1 version. The .deb for this architecture and the release's checksums, verified, installed by apt.
CHEZMOI_DEB = (
    "set -eu; v=$1; arch=$(dpkg --print-architecture); deb=chezmoi_${v}_linux_${arch}.deb; "
    'd=$(mktemp -d); trap \'rm -rf "$d"\' EXIT; cd "$d"; '
    f'curl -fsSL -O "{CHEZMOI_RELEASES}/v$v/$deb" -O "{CHEZMOI_RELEASES}/v$v/chezmoi_${{v}}_checksums.txt"; '
    'grep " $deb\\$" "chezmoi_${v}_checksums.txt" | sha256sum -c -; '
    'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "./$deb"'
)


def base_packages(ctx: Ctx) -> Step:
    return apt_packages(BASE_PACKAGES, sudo=ctx.sudo)


# ------------------------------------------------------------------------------------ Debian and WSL


def docker_engine(ctx: Ctx) -> Step:
    def check(r: Runner) -> str | None:
        if have_command(r, ctx, "docker"):
            return "docker is not installed"
        res = r.run("docker", "compose", "version", check=False, mutating=False)
        return None if res.ok else "Docker Compose v2 (`docker compose`) is missing"

    def act(r: Runner) -> None:
        apt_install(r, DOCKER_PACKAGES, sudo=ctx.sudo)

    return Step(f"docker engine ({', '.join(DOCKER_PACKAGES)})", check, act)


def service_running(ctx: Ctx, unit: str) -> Step:
    def check(r: Runner) -> str | None:
        if not r.ok("systemctl", "is-enabled", "--quiet", unit):
            return f"{unit} is not enabled"
        return None if r.ok("systemctl", "is-active", "--quiet", unit) else f"{unit} is not running"

    def act(r: Runner) -> None:
        r.run(*as_root(ctx.sudo, "systemctl", "enable", "--now", unit), timeout=120)

    return Step(f"{unit} enabled and running", check, act)


def docker_group(ctx: Ctx) -> Step:
    user = ctx.node.ssh_user

    def check(r: Runner) -> str | None:
        groups = r.run("id", "-nG", user, check=False, mutating=False).stdout.split()
        return None if "docker" in groups else f"{user} is not in the docker group"

    def act(r: Runner) -> None:
        note(r, "takes effect at the next login")
        r.run(*as_root(ctx.sudo, "usermod", "-aG", "docker", user))

    return Step(f"{user} in the docker group", check, act)


def mise_apt(ctx: Ctx) -> Step:
    def check(r: Runner) -> str | None:
        return "mise is not installed" if have_command(r, ctx, "mise") else None

    def act(r: Runner) -> None:
        add_apt_repo(r, MISE_REPO, sudo=ctx.sudo)
        apt_install(r, ["mise"], sudo=ctx.sudo)

    return Step("mise (apt, mise.jdx.dev/deb)", check, act)


def chezmoi_deb(ctx: Ctx) -> Step:
    version = ctx.inv.tools.get("chezmoi", "")

    def check(r: Runner) -> str | None:
        return "chezmoi is not installed" if have_command(r, ctx, "chezmoi") else None

    def act(r: Runner) -> None:
        if not version:
            raise ColabError(
                "tools.chezmoi is not set in the inventory: bootstrap installs that release's .deb "
                '(Debian has no chezmoi package); set it, e.g. `inv inventory.set tools.chezmoi "2.67.0"`'
            )
        r.run(*as_root(ctx.sudo, "sh", "-c", CHEZMOI_DEB, "sh", version), timeout=600)

    return Step(f"chezmoi {version or '(tools.chezmoi)'} (.deb from its release, apt)", check, act)


def cockpit(ctx: Ctx) -> list[Step]:
    """Cockpit from Debian, its file-sharing and identities extensions from 45Drives' repository."""

    def ext_check(r: Runner) -> str | None:
        missing = missing_packages(r, COCKPIT_EXTENSIONS)
        return f"not installed: {', '.join(missing)}" if missing else None

    def ext_act(r: Runner) -> None:
        add_apt_repo(r, FORTYFIVE_DRIVES_REPO, sudo=ctx.sudo)
        apt_install(r, COCKPIT_EXTENSIONS, sudo=ctx.sudo)

    return [
        apt_packages(("cockpit",), sudo=ctx.sudo),
        Step(f"{', '.join(COCKPIT_EXTENSIONS)} (45Drives apt repository)", ext_check, ext_act),
        service_running(ctx, "cockpit.socket"),
    ]


# ------------------------------------------------------------------------------------------ Windows


def _interop(r: Runner) -> str | None:
    if r.ok("test", "-x", POWERSHELL):
        return None
    return (
        f"Windows interop is off on {r.node} ({POWERSHELL} is not executable): enable it in /etc/wsl.conf "
        "([interop] enabled=true) with C: at /mnt/c, then `wsl --shutdown` on Windows"
    )


def _desktop_installed(r: Runner) -> str | None:
    if r.ok("test", "-e", DOCKER_DESKTOP_EXE):
        return None
    return (
        f"Docker Desktop is not installed on the Windows side of {r.node}: install it there "
        "(`winget install -e --id Docker.DockerDesktop`, as an administrator), start it, then run again"
    )


def _desktop_integration(r: Runner) -> str | None:
    res = r.run("docker", "info", "--format", "{{.OperatingSystem}}", check=False, mutating=False)
    fix = (
        "in Docker Desktop turn on Settings > Resources > WSL integration for this distribution "
        "(and start Docker Desktop), then run again"
    )
    if res.returncode == 127 or (not res.ok and "not found" in res.stderr):
        return f"there is no `docker` in WSL on {r.node}: {fix}"
    if not res.ok:
        return f"docker in WSL on {r.node} does not reach an engine ({res.last_line}): {fix}"
    if "Docker Desktop" not in res.stdout:
        return (
            f"docker in WSL on {r.node} talks to {res.stdout.strip() or 'an unknown engine'}, not Docker Desktop: "
            f"remove the engine installed inside WSL, then {fix}"
        )
    return None


def docker_desktop_wsl() -> list[Step]:
    return [
        requirement("windows interop", _interop, f"{POWERSHELL} is executable"),
        requirement("docker desktop installed (Windows)", _desktop_installed, f"{DOCKER_DESKTOP_EXE} exists"),
        requirement(
            "docker desktop WSL integration",
            _desktop_integration,
            "`docker info` in WSL answers from Docker Desktop (OperatingSystem)",
        ),
    ]


# -------------------------------------------------------------------------------------------- macOS


def homebrew() -> Step:
    def test(r: Runner) -> str | None:
        if probe(r, "test -x /opt/homebrew/bin/brew || test -x /usr/local/bin/brew").ok:
            return None
        return f"Homebrew is not installed on {r.node}: install it (https://brew.sh), then run again"

    return requirement("homebrew", test, "brew is in /opt/homebrew/bin or /usr/local/bin")


def brew_formulae(ctx: Ctx, formulae: tuple[str, ...]) -> Step:
    def check(r: Runner) -> str | None:
        missing = have_command(r, ctx, *formulae)
        return f"not installed: {', '.join(missing)}" if missing else None

    def act(r: Runner) -> None:
        r.run(*tool(ctx, "brew", "install", *formulae), timeout=1800)

    return Step(f"brew {' '.join(formulae)}", check, act)


def docker_desktop_mac(ctx: Ctx) -> list[Step]:
    def app_check(r: Runner) -> str | None:
        return None if r.ok("test", "-d", "/Applications/Docker.app") else "Docker Desktop is not installed"

    def app_act(r: Runner) -> None:
        r.run(*tool(ctx, "brew", "install", "--cask", "docker-desktop"), timeout=1800)

    def run_check(r: Runner) -> str | None:
        ok = r.run(*tool(ctx, "docker", "info"), check=False, mutating=False).ok
        return None if ok else "Docker Desktop is not running"

    def run_act(r: Runner) -> None:
        r.run("open", "-g", "-a", "Docker")
        wait = "i=0; while [ $i -lt 120 ]; do docker info >/dev/null 2>&1 && exit 0; sleep 2; i=$((i+2)); done; exit 1"
        r.run(*tool(ctx, "sh", "-c", wait), timeout=150)

    return [
        Step("docker desktop (brew cask docker-desktop)", app_check, app_act),
        Step("docker desktop running", run_check, run_act),
    ]


# --------------------------------------------------------------------------------------------- plan


def steps(ctx: Ctx, base: list[Step]) -> list[Step]:
    if ctx.os == "macos":
        return [homebrew(), brew_formulae(ctx, ("chezmoi", "mise", "git")), *docker_desktop_mac(ctx)]
    out = list(base)
    if ctx.os == "wsl":
        out += docker_desktop_wsl()
    else:
        out += [docker_engine(ctx), service_running(ctx, "docker"), docker_group(ctx)]
    out += [mise_apt(ctx), chezmoi_deb(ctx)]
    if ctx.is_server:
        out += [apt_packages(SAMBA_PACKAGES, sudo=ctx.sudo), *cockpit(ctx)]
    else:
        out.append(apt_packages(("cifs-utils",), sudo=ctx.sudo))
    return out
