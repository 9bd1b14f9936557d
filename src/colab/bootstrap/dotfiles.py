"""Step 4: `chezmoi --source <nodes.<node>.repo> init --apply <cluster.repo_url>` as the node (COLAB_NODE=<node>).

The node's checkout of the repo (`nodes.<node>.repo`, where the mise tasks, cron and `inv` over SSH run) and
chezmoi's source are one folder: `--source` makes `init` clone into it (its `.chezmoiroot` then points chezmoi
at `chezmoi/` inside), and the config `.chezmoi.toml.tmpl` writes says `sourceDir = <checkout>`, so a later
plain `chezmoi apply` / `chezmoi update` on the node uses the same folder.

Done when the checkout is a clone of the inventory's repository, chezmoi's config (as a plain `chezmoi` reads
it) names this node and uses that checkout, and `chezmoi verify` finds every target as the source wants it.
A checkout that is a clone of another repository, or a folder in the way that is no clone at all, is left
alone (moving it is the owner's call): the step fails and says so.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from colab.bootstrap.context import Ctx, tool
from colab.errors import ColabError
from colab.runner import ENV_NODE, Runner
from colab.steps import Step, probe


def _env(ctx: Ctx) -> dict[str, str]:
    return {ENV_NODE: ctx.node.name}


def checkout(ctx: Ctx) -> str:
    """The node's checkout of the repo, which is chezmoi's source folder (normalised as chezmoi does)."""
    return posixpath.normpath(ctx.node.repo)


def chezmoi(ctx: Ctx, *args: str, source: bool = True) -> list[str]:
    """chezmoi on the node; with `source`, on the node's checkout (`--source`) whatever its config says."""
    where = ("--source", checkout(ctx)) if source else ()
    return tool(ctx, "chezmoi", "--no-tty", *where, *args)


def repo_url(ctx: Ctx) -> str:
    url = ctx.inv.cluster.repo_url
    if not url:
        raise ColabError(
            "cluster.repo_url is not set in the inventory: it is the git URL a node clones; "
            "set it, e.g. `inv inventory.set cluster.repo_url https://git.example/you/colab.git`"
        )
    return url


def applied(ctx: Ctx) -> Step:
    url = ctx.inv.cluster.repo_url or "(cluster.repo_url)"
    repo = checkout(ctx)

    def run(r: Runner, *args: str, source: bool = True) -> tuple[bool, str]:
        argv = chezmoi(ctx, *args, source=source)
        res = r.run(*argv, env=_env(ctx), check=False, mutating=False, timeout=120)
        return res.ok, res.stdout.strip() if res.ok else res.last_line

    def config(r: Runner) -> dict[str, Any]:
        """What a plain `chezmoi` (no --source) on the node reads: its config's data and chezmoi's folders."""
        ok, out = run(r, "data", "--format", "json", source=False)
        try:
            data = json.loads(out) if ok else {}
        except ValueError:
            data = {}
        return data if isinstance(data, dict) else {}

    def check(r: Runner) -> str | None:
        want = repo_url(ctx)
        ok, origin = run(r, "git", "--", "remote", "get-url", "origin")
        if not ok:
            in_the_way = probe(r, 'test -e "$1" && ls -A "$1"', repo)
            if in_the_way.ok and in_the_way.stdout.strip():
                raise ColabError(
                    f"{repo} on {r.node} (nodes.{ctx.node.name}.repo) is not empty and no clone of {want}: "
                    "move it away, or set nodes.<node>.repo to a free folder, then run again"
                )
            return f"no checkout at {repo} yet"
        if origin != want:
            raise ColabError(
                f"the checkout {repo} on {r.node} is a clone of {origin}, not {want}: move it away "
                "or set cluster.repo_url to it, then run again"
            )
        data = config(r)
        node = data.get("node")
        if node != ctx.node.name:
            return f"chezmoi's config names node {node!r}, not {ctx.node.name!r}"
        meta = data.get("chezmoi")
        tree = meta.get("workingTree") if isinstance(meta, dict) else None
        if tree != repo:
            return f"chezmoi's config uses the source {tree or '(none)'}, not the checkout {repo}"
        ok, why = run(r, "verify")
        return None if ok else f"`chezmoi verify` finds targets that differ from the source ({why})"

    def act(r: Runner) -> None:
        r.run(*chezmoi(ctx, "init", "--apply", repo_url(ctx)), env=_env(ctx), timeout=600)

    return Step(f"chezmoi --source {repo} init --apply {url}", check, act)


def steps(ctx: Ctx) -> list[Step]:
    return [applied(ctx)]
