"""Step 4: `chezmoi init --apply <cluster.repo_url>` as the node (COLAB_NODE=<node> in its environment).

Done when chezmoi's source is a clone of the inventory's repository, its config names this node, and
`chezmoi verify` finds every target as the source wants it. A source that is a clone of another
repository is left alone (moving it is the owner's call): the step fails and says so.
"""

from __future__ import annotations

import json

from colab.bootstrap.common import Ctx, last_line, tool
from colab.errors import ColabError
from colab.runner import ENV_NODE, Runner
from colab.steps import Step


def _env(ctx: Ctx) -> dict[str, str]:
    return {ENV_NODE: ctx.node.name}


def chezmoi(ctx: Ctx, *args: str) -> list[str]:
    return tool(ctx, "chezmoi", "--no-tty", *args)


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

    def run(r: Runner, *args: str) -> tuple[bool, str]:
        res = r.run(*chezmoi(ctx, *args), env=_env(ctx), check=False, mutating=False, timeout=120)
        return res.ok, res.stdout.strip() if res.ok else last_line(res)

    def check(r: Runner) -> str | None:
        want = repo_url(ctx)
        ok, origin = run(r, "git", "--", "remote", "get-url", "origin")
        if not ok:
            return "chezmoi has no source yet"
        if origin != want:
            raise ColabError(
                f"chezmoi's source on {r.node} is a clone of {origin}, not {want}: move it away "
                "(`chezmoi source-path`) or set cluster.repo_url to it, then run again"
            )
        ok, data = run(r, "data", "--format", "json")
        try:
            node = json.loads(data).get("node") if ok else None
        except ValueError:
            node = None
        if node != ctx.node.name:
            return f"chezmoi's config names node {node!r}, not {ctx.node.name!r}"
        ok, why = run(r, "verify")
        return None if ok else f"`chezmoi verify` finds targets that differ from the source ({why})"

    def act(r: Runner) -> None:
        r.run(*chezmoi(ctx, "init", "--apply", repo_url(ctx)), env=_env(ctx), timeout=600)

    return Step(f"chezmoi init --apply {url}", check, act)


def steps(ctx: Ctx) -> list[Step]:
    return [applied(ctx)]
