"""What the inventory-editing tasks print: what was written, what to add in Infisical, what to redeploy next."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.text import Text

from colab.inventory import REPO_ROOT
from colab.lifecycle import edit, impact, scaffolds, service_new
from colab.render import disk
from colab.tables import Table


def _rel(path: Path) -> str:
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _where(root: Path) -> str:
    return "the repository" if root == REPO_ROOT else _rel(root)


REDEPLOY_AFTER = "redeploy after commit and push (`inv rollout` does it)"


def redeploy_table(changes: list[impact.Change], title: str = REDEPLOY_AFTER) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("service", "node", "why"):
        table.add_column(col, no_wrap=col in ("service", "node"), overflow="fold")
    for c in changes:
        why = Text(c.reason) if not c.removed else Text(f"{c.reason}: stop it there by hand", style="yellow")
        table.add_row(Text(c.service), Text(c.node), why)
    return table


def would_change(p: edit.Prepared) -> list[str]:
    return disk.changed_paths(p.tree, p.output, disk.owned())


def edit_summary(console: Console, p: edit.Prepared, applied: edit.Applied | None, written: list[str]) -> None:
    """The files written (or that would be), the check, the render."""
    verb = "written" if applied else "would write"
    for item in written:
        console.print(f"  [green]{verb}[/green] {escape(item)}", highlight=False)
    console.print(
        f"  [green]checked[/green] {escape(str(p.path))}: {len(p.new.nodes)} nodes, {len(p.new.services)} services "
        "(inv inventory.check)",
        highlight=False,
    )
    changed = applied.rendered if applied else would_change(p)
    total = applied.total if applied else len(p.tree)
    shown = ", ".join(changed[:8]) + (f", … ({len(changed) - 8} more)" if len(changed) > 8 else "")
    verb = "rendered" if applied else "would render"
    console.print(
        f"  [green]{verb}[/green] {len(changed)} of {total} generated files changed under {escape(_where(p.output))} "
        f"(inv render){': ' + escape(shown) if changed else ''}",
        highlight=False,
    )


def show_files(console: Console, files: dict[str, str]) -> None:
    """A dry run's new files, in full (no secret is ever in them: names only)."""
    for name, text in files.items():
        console.rule(escape(name), style="dim")
        console.print(Syntax(text, "yaml" if name.endswith(".yaml") else "toml", theme="ansi_dark", word_wrap=True))


def edit_json(p: edit.Prepared, applied: edit.Applied | None, **extra: Any) -> str:
    data: dict[str, Any] = {
        "inventory": str(p.path),
        "written": applied is not None,
        "rendered_changed": applied.rendered if applied else would_change(p),
        "redeploy": [
            {"service": c.service, "node": c.node, "reason": c.reason, "removed": c.removed} for c in p.changes
        ],
        **extra,
    }
    return json.dumps(data, indent=2)


def node_edit(console: Console, p: edit.Prepared, applied: edit.Applied | None, written: list[str], then: str) -> None:
    """`node.add` / `node.remove`: the files, the check, the render, the services to redeploy, what is next."""
    edit_summary(console, p, applied, written)
    if p.changes:
        console.print(redeploy_table(p.changes))
    console.print(then, highlight=False)


def service_new_report(console: Console, plan: service_new.Plan, applied: edit.Applied | None, path: Path) -> None:
    """`service.new`: the files (in full on a dry run), the check, the render, the secrets to add in Infisical,
    the other services to redeploy and what is next."""
    name, compose = plan.request.name, f"{plan.folder}/{scaffolds.COMPOSE_FILE}"
    if applied is None:
        show_files(console, {f"compose/{name}/{scaffolds.COMPOSE_FILE}": plan.compose_text, f"{path}": plan.table_text})
    head = "new" if applied else "dry run: new"
    node = plan.request.node
    console.print(f"[green]{head}[/green] service {name} on {node} (template {plan.scaffold.name})", highlight=False)
    edit_summary(console, plan.prepared, applied, [compose, f"{path}: [services.{name}]"])
    for note in plan.notes:
        console.print(f"  [yellow]note[/yellow] {note}", highlight=False)
    inv = plan.new_inventory
    if plan.secrets:
        console.print(
            f"Add in Infisical (project {inv.infisical.project_id}, env {inv.infisical.environment}), folder "
            f"{plan.secrets_path}: [bold]{', '.join(plan.secrets)}[/bold]",
            highlight=False,
        )
    others = [ch for ch in plan.prepared.changes if ch.service != name]
    if others:
        console.print(redeploy_table(others))
    console.print(
        f"Next: commit and push, `inv rollout` (every node's checkout{', the redeploys above' if others else ''}), "
        f"then `inv deploy --service {name}`",
        highlight=False,
    )
