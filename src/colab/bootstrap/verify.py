"""Step 6: the node is ready: its mise tasks are there, the checkout's `inv` loads them, fortress is
mounted, Docker answers, and its mesh address is the inventory's. Read-only; each failure says what is wrong.
"""

from __future__ import annotations

import json

from colab.bootstrap import mesh, venv
from colab.bootstrap.context import Ctx, tool
from colab.privilege import as_root
from colab.render import mise_tasks
from colab.runner import Runner
from colab.steps import Step, requirement
from colab.storage import fortress_status


def expected_tasks(ctx: Ctx) -> list[str]:
    return [t.name for t in mise_tasks.all_node_tasks(ctx.inv, ctx.node)]


def mise_tasks_present(ctx: Ctx) -> Step:
    want = expected_tasks(ctx)

    def test(r: Runner) -> str | None:
        # From / so only the node's own config (~/.config/mise) counts, not a project's mise.toml.
        res = r.run(*tool(ctx, "mise", "--cd", "/", "tasks", "ls", "--json"), check=False, mutating=False, timeout=60)
        if not res.ok:
            return f"`mise tasks ls` failed on {r.node} ({res.last_line})"
        try:
            names = {t["name"] for t in json.loads(res.stdout)}
        except (ValueError, TypeError, KeyError):
            return f"`mise tasks ls --json` on {r.node} printed no task list"
        missing = [t for t in want if t not in names]
        if missing:
            return f"mise tasks missing on {r.node}: {', '.join(missing)} (run the chezmoi step: --steps chezmoi)"
        return None

    return requirement(f"mise tasks ({len(want)})", test, "`mise --cd / tasks ls --json` lists " + ", ".join(want))


def fortress_mounted(ctx: Ctx) -> Step:
    where = ctx.inv.fortress_mount(ctx.node)

    def test(r: Runner) -> str | None:
        st = fortress_status.probe(r, ctx.inv, ctx.node, measure=False)
        return "; ".join(st.problems) or None

    folders = ", ".join(f"{f}/" for f in ctx.inv.fortress.folders)
    return requirement(f"fortress mounted at {where}", test, f"`mount` shows fortress at {where}; {folders} writable")


def docker_argv(ctx: Ctx) -> list[str]:
    # A new docker group membership only counts from the next login, so Linux asks as root.
    argv = tool(ctx, "docker", "info", "--format", "{{.ServerVersion}}")
    return as_root(ctx.sudo, *argv) if ctx.os == "debian" else argv


def docker_answers(ctx: Ctx) -> Step:
    def test(r: Runner) -> str | None:
        res = r.run(*docker_argv(ctx), check=False, mutating=False, timeout=60)
        if res.ok and res.stdout.strip():
            return None
        return f"Docker does not answer on {r.node} ({res.last_line}); run the install step: --steps install"

    return requirement("docker answers", test, "`" + " ".join(docker_argv(ctx)) + "` prints the engine version")


def mesh_address(ctx: Ctx) -> Step:
    want = str(ctx.node.mesh)

    def test(r: Runner) -> str | None:
        have = mesh.mesh_address(r, ctx)
        if have == want:
            return None
        return f"{r.node}'s mesh address is {have or 'none'}, the inventory says {want} (run --steps mesh)"

    return requirement(f"mesh address {want}", test, "`tailscale ip -4` prints " + want)


def steps(ctx: Ctx) -> list[Step]:
    return [
        mise_tasks_present(ctx),
        venv.inv_lists_tasks(ctx),
        fortress_mounted(ctx),
        docker_answers(ctx),
        mesh_address(ctx),
    ]
