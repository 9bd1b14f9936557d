"""render: the chezmoi source tree, mise.toml and the edge files (Caddyfile, Pi-hole records, Headscale ACL)."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from colab.cli import HELP, err, finish, load_inventory, out, user_errors
from colab.repo import REPO_ROOT


@task(
    help={
        "check": "write nothing; print a unified diff and exit 1 if a generated file differs from the inventory",
        "inventory": HELP["inventory"],
        "output": "render into this folder instead of the repo root (tests, benchmarks)",
    }
)
@user_errors
def render(c: Context, check: bool = False, inventory: str | None = None, output: str | None = None) -> None:
    """Render chezmoi/, .chezmoiroot, mise.toml and the edge files in compose/ from the inventory (templates/)."""
    from colab.render import disk
    from colab.render.tree import render_tree

    inv = load_inventory(inventory)
    tree = render_tree(inv)
    root = Path(output) if output else REPO_ROOT
    tops = disk.owned()
    if check:
        diff = disk.check_tree(tree, root, tops)
        if diff:
            print(diff, end="")
            count = len(disk.changed_paths(tree, root, tops))
            err().print(f"[red]stale[/red] {count} generated file(s) differ from the inventory; run `inv render`")
            finish(1)
        out().print(f"[green]ok[/green] {len(tree)} generated files match the inventory", highlight=False)
        return
    changed = disk.write_tree(tree, root, tops)
    if changed:
        out().print(f"[yellow]changed[/yellow] {len(changed)} of {len(tree)} files under {root}", highlight=False)
    else:
        out().print(f"[green]ok[/green] {len(tree)} files under {root} already match the inventory", highlight=False)
