"""The bootstrap of one node as ordered groups of steps, by OS family (debian, wsl, macos).

mesh      tailscale installed and joined to Headscale with the inventory's address
install   Docker, mise, chezmoi (and git); Samba and Cockpit with its 45Drives extensions on the server
fortress  the share on the server, the mount on a client (colab.storage)
chezmoi   `chezmoi --source <nodes.<node>.repo> init --apply <cluster.repo_url>` as the node: the checkout
          is chezmoi's source
venv      the checkout's virtualenv (<repo>/.venv from uv.lock, `scripts/venv`): the `inv` every task runs
backup    on the backup node, the root-owned install /opt/colab the backup cron runs (this checkout's commit,
          its own virtualenv); elsewhere nothing
verify    mise tasks present, the checkout's inv lists its tasks, fortress mounted, Docker answering, mesh
          address as in the inventory
"""

from __future__ import annotations

from collections.abc import Sequence

from colab import options
from colab.bootstrap import GROUPS as GROUPS  # re-exported: the order, named in the package
from colab.bootstrap import backup, dotfiles, fortress, install, mesh, venv, verify
from colab.bootstrap.context import Ctx, Group
from colab.steps import Step


def parse_steps(text: str | None) -> list[str]:
    """`--steps a,b` -> the chosen group names in bootstrap order; None or "" -> all of them."""
    return options.chosen("--steps", text, list(GROUPS), "step")


def groups(ctx: Ctx, chosen: Sequence[str] = GROUPS) -> list[Group]:
    # curl, ca-certificates and git come first, once: with the mesh group, else with the install group.
    base = [] if ctx.os == "macos" else [install.base_packages(ctx)]
    build = {
        "mesh": lambda: mesh.steps(ctx, base),
        "install": lambda: install.steps(ctx, [] if "mesh" in chosen else base),
        "fortress": lambda: fortress.steps(ctx),
        "chezmoi": lambda: dotfiles.steps(ctx),
        "venv": lambda: venv.steps(ctx),
        "backup": lambda: backup.steps(ctx, with_python="venv" not in chosen),
        "verify": lambda: verify.steps(ctx),
    }
    return [Group(name, build[name]()) for name in GROUPS if name in chosen]


def flatten(chosen: Sequence[Group]) -> list[Step]:
    """The steps in order, each named `<group>: <step>` for the report."""
    return [Step(f"{g.name}: {s.name}", s.check, s.act, s.verify) for g in chosen for s in g.steps]
