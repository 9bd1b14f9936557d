"""Step 3: fortress, with the storage module's logic (`inv fortress.share` / `inv fortress.mount`).

On the fortress server: the share (its file system mounted at boot by UUID, folders, smb.conf, smbd, the Samba
password from Infisical). On a client: the OS's mount (the boot mount on Debian and WSL plus the Windows drive,
the LaunchAgent on macOS). The server, the Windows drive and the Keychain read the Samba password with
`infisical run` on the node as its user, so the node needs the Infisical CLI logged in; on a Debian client the
boot unit reads it as root with the node's machine identity (checked by the mount steps), so only the CLI is
needed. `infisical_ready` checks that (names only)
among the prerequisites (`colab.bootstrap.prerequisites`), before any step acts.

The storage steps are used as they are; this module only chooses them (`steps`) and adds the check.
"""

from __future__ import annotations

from colab import secrets
from colab.bootstrap.context import Ctx, have_command
from colab.runner import Runner
from colab.steps import Step, requirement
from colab.storage import fortress_share, mounts
from colab.storage.samba import SambaHost


def infisical_ready(ctx: Ctx) -> Step:
    f = ctx.inv.fortress
    # The server sets every user's password; a client mounts with its own user's.
    names = list(f.users.values()) if ctx.is_server else [ctx.inv.fortress_login(ctx.node).password_name]
    machine = not ctx.is_server and ctx.os == "debian"  # the boot unit logs in with the machine identity

    def test(r: Runner) -> str | None:
        if have_command(r, ctx, "infisical"):
            return (
                f"the Infisical CLI is not installed on {r.node}: fortress is mounted with the password it reads; "
                "install it (infisical.com/docs/cli/overview)"
                + (", then run again" if machine else " and log in (`infisical login`), then run again")
            )
        if not machine:
            secrets.check_present(r, ctx.inv, f.password_path, names)  # raises with the fix
        return None

    what = (
        "the Infisical CLI is installed (the boot unit reads the password with the machine identity)"
        if machine
        else f"Infisical has {', '.join(names)} at {f.password_path} (names only)"
    )
    return requirement("infisical ready on the node", test, what)


def steps(ctx: Ctx) -> list[Step]:
    if ctx.is_server:
        return fortress_share.steps(ctx.inv, SambaHost(), ctx.sudo)
    return mounts.mount_steps(ctx.inv, ctx.node, ctx.sudo and ctx.os != "macos")
