"""Backups run on the backup node: from anywhere else, a task re-runs itself there over SSH.

`inv backup.daily` on terminator becomes `cd <repo> && COLAB_NODE=<backup node> inv backup.daily …` on the
backup node (COLAB_NODE tells that checkout where it is, so it cannot bounce the task on again).
--dry-run prints that command and contacts nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console

from colab.inventory import Inventory
from colab.runner import ENV_NODE, runner_for


def options(**opts: object) -> list[str]:
    """The same task's options as a command line for the backup node (`in_place=True` -> `--in-place`)."""
    argv: list[str] = []
    for key, value in opts.items():
        flag = "--" + key.strip("_").replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False and key == "dumps":
            argv.append("--no-dumps")
        elif isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            argv += [flag, str(value)]
    return argv


def command(task: str, options: Sequence[str]) -> list[str]:
    return ["inv", task, *options]


def delegate(inv: Inventory, task: str, options: Sequence[str], *, dry_run: bool, console: Console) -> int:
    """Run `inv TASK OPTIONS…` on the backup node; returns its exit status (0 in dry-run)."""
    node = inv.node(inv.backup.node)
    runner = runner_for(inv, node, dry_run=dry_run, console=console)
    argv = command(task, options)
    env = {ENV_NODE: node.name}
    if dry_run:
        console.print(f"[dim]{task} runs on the backup node {node.name}; it would run there:[/dim]", highlight=False)
        runner.run(*argv, env=env, cwd=node.repo)
        return 0
    console.print(f"[dim]{task}: running on the backup node {node.name} over SSH[/dim]", highlight=False)
    try:
        res = runner.run(*argv, env=env, cwd=node.repo, check=False)
    finally:
        runner.close()
    if res.stdout:
        sys.stdout.write(res.stdout)
        sys.stdout.flush()
    if res.stderr:
        sys.stderr.write(res.stderr)
        sys.stderr.flush()
    return res.returncode
