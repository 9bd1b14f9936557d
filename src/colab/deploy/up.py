"""`docker compose up` of one version of a service, and what is shown when it is not healthy.

Every `up` reads this tool's override on stdin (`colab.deploy.override`: the labels, and for a rollback the
image ids), waits for health checks (`--wait --wait-timeout N`) and removes containers of services the
version no longer has (`--remove-orphans`: safe, the project is known to be ours). On failure the service's
`ps -a` and last log lines are printed, as plain text: Rich markup is never applied to them and terminal
escapes are removed.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from colab.errors import ColabError
from colab.inventory import Inventory
from colab.runner import Result

from . import command_lines, override, running
from .output import cause, plain
from .session import Session


def ps(inv: Inventory, s: Session) -> list[running.Container]:
    res = s.local.run(*command_lines.ps_json_cmd(inv, s.target), env=s.env, check=False, mutating=False)
    if not res.ok:
        raise ColabError(f"`docker compose ps` failed for {s.target.service.name}: {cause(res)}")
    return running.parse_ps(res.stdout)


def diagnostics(inv: Inventory, s: Session, console: Console, which: str = "") -> None:
    """The service's `ps -a` and its last log lines (after a failed `up`)."""
    name = s.target.service.name + (f" ({which})" if which else "")
    for title, argv in (
        ("docker compose ps -a", command_lines.ps_table_cmd(inv, s.target)),
        (f"last {command_lines.DIAGNOSTIC_LOG_LINES} log lines", command_lines.logs_cmd(inv, s.target)),
    ):
        res = s.local.run(*argv, env=s.env, check=False, mutating=False)
        console.rule(Text(f"{name}: {title}"), style="red")
        text = plain(res.stdout.rstrip() or res.stderr.rstrip())
        console.print(text, markup=False, highlight=False, soft_wrap=True)


def compose_up(
    inv: Inventory, s: Session, wait_timeout: int, console: Console, images: dict[str, str] | None = None
) -> Result:
    """`up -d --wait` of the session's version (pinned to `images` for a rollback)."""
    stdin = override.render(s.target.service.name, s.compose_services, images)
    where = s.target.node.name
    with console.status(f"compose up {s.target.service.name} on {where} (health checks, ≤ {wait_timeout}s) …"):
        return s.local.run(*command_lines.up_cmd(inv, s.target, wait_timeout), env=s.env, stdin=stdin, check=False)


def describe(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> str:
    """What `up` did, from container ids and states before and after: `web-app-1 recreated` …"""
    parts = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            parts.append(f"{name} created")
        elif name not in after:
            parts.append(f"{name} removed")
        elif before[name][0] != after[name][0]:
            parts.append(f"{name} recreated")
        elif before[name][1] != after[name][1]:
            parts.append(f"{name} {before[name][1]} → {after[name][1]}")
    return ", ".join(parts)
