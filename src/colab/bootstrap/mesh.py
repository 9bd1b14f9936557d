"""Step 1: the node joins the Headscale mesh with the address the inventory gives it.

`tailscale up --login-server <networks.headscale_url> --auth-key=file:/dev/stdin`: the CLI reads a
`file:` auth key with os.ReadFile (cmd/tailscale/cli/up.go, getAuthKey), so the pre-auth key arrives on
its standard input and is in no argv and no file. The key is read from Infisical on this machine (the
controller: a bare node has no Infisical login yet) into memory only, with `infisical export --format json`
(`Runner.injected`, which also masks it), and travels to the node on the SSH session's stdin, through
`sudo -n`, which passes stdin on.

The node is joined when `tailscale ip -4` prints the inventory's mesh address. Headscale, not the
client, picks the address: a node that joined with another one fails with what to change.
"""

from __future__ import annotations

from colab import secrets
from colab.apt import AptRepo, add_apt_repo, apt_install
from colab.bootstrap.context import Ctx, have_command, tool
from colab.errors import ColabError
from colab.privilege import as_root
from colab.runner import Runner, Secret
from colab.steps import Step

TAILSCALE_REPO = AptRepo(
    "tailscale",
    "https://pkgs.tailscale.com/stable/$ID/$VERSION_CODENAME.noarmor.gpg",
    "/etc/apt/keyrings/tailscale.gpg",
    "deb [signed-by=/etc/apt/keyrings/tailscale.gpg] https://pkgs.tailscale.com/stable/$ID $VERSION_CODENAME main",
)
# Shown in a dry run where the key would be: a dry run reads nothing from Infisical.
_PLACEHOLDER = "<pre-auth key from Infisical>"


def tailscale_installed(ctx: Ctx) -> Step:
    def check(r: Runner) -> str | None:
        return "tailscale is not installed" if have_command(r, ctx, "tailscale") else None

    def act(r: Runner) -> None:
        if ctx.os == "macos":
            # The formula's daemon runs as root: `sudo brew services start tailscale` (its caveats).
            r.run(*tool(ctx, "brew", "install", "tailscale"), timeout=1800)
            r.run(*as_root(ctx.sudo, *tool(ctx, "brew", "services", "start", "tailscale")), timeout=120)
            return
        add_apt_repo(r, TAILSCALE_REPO, sudo=ctx.sudo)
        apt_install(r, ["tailscale"], sudo=ctx.sudo)

    return Step("tailscale installed", check, act)


def tailscaled_running(ctx: Ctx) -> Step:
    def check(r: Runner) -> str | None:
        ok = r.ok("systemctl", "is-active", "--quiet", "tailscaled")
        return None if ok else "tailscaled is not running"

    def act(r: Runner) -> None:
        r.run(*as_root(ctx.sudo, "systemctl", "enable", "--now", "tailscaled"), timeout=120)

    return Step("tailscaled running", check, act)


def mesh_address(r: Runner, ctx: Ctx) -> str | None:
    """The node's IPv4 mesh address per `tailscale ip -4`, None when it is not joined."""
    res = r.run(*tool(ctx, "tailscale", "ip", "-4"), check=False, mutating=False)
    lines = res.stdout.split()
    return lines[0] if res.ok and lines else None


def join_argv(ctx: Ctx) -> list[str]:
    n = ctx.inv.networks
    return as_root(
        ctx.sudo,
        *tool(
            ctx,
            "tailscale",
            "up",
            "--reset",
            f"--login-server={n.headscale_url}",
            "--auth-key=file:/dev/stdin",
            f"--hostname={ctx.node.name}",
        ),
    )


def fetch_argv(ctx: Ctx) -> list[str]:
    """On the controller: the Headscale folder as JSON on our pipe, read into memory (no argv holds a value)."""
    return secrets.check_argv(ctx.inv, ctx.inv.networks.headscale_key_path)


def fetch_key(ctx: Ctx) -> Secret:
    """The pre-auth key, from Infisical into memory; a dry run reads nothing and shows the command."""
    n = ctx.inv.networks
    local = ctx.controller
    if local.dry_run:
        local.run(*fetch_argv(ctx))
        return Secret(_PLACEHOLDER)
    secrets.check_present(local, ctx.inv, n.headscale_key_path, [n.headscale_key_name])  # raises when missing
    key = local.injected(secrets.scope(ctx.inv, n.headscale_key_path))[n.headscale_key_name]
    return Secret(key.reveal().strip())


def joined(ctx: Ctx) -> Step:
    want = str(ctx.node.mesh)
    url = ctx.inv.networks.headscale_url

    def check(r: Runner) -> str | None:
        have = mesh_address(r, ctx)
        if have is None:
            return "not on the mesh"
        if have != want:
            raise ColabError(
                f"{ctx.node.name} is on the mesh as {have}, but the inventory says {want}: Headscale picks the "
                f"address; set nodes.{ctx.node.name}.mesh = {have!r}, or move the node to {want} in Headscale"
            )
        return None

    def act(r: Runner) -> None:
        key = fetch_key(ctx)
        r.run(*join_argv(ctx), stdin=key, timeout=180)

    return Step(f"joined {url} as {want}", check, act)


def steps(ctx: Ctx, base: list[Step]) -> list[Step]:
    out = [*base, tailscale_installed(ctx)]
    if ctx.os != "macos":
        out.append(tailscaled_running(ctx))
    out.append(joined(ctx))
    return out
