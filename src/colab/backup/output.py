"""How backup runs talk: dry-run command lines, log lines, rsync progress, summary reports.

Everything for people goes to stderr; stdout carries only the summary table or the --json document.
Without a terminal (cron) there is no live display: a line when rsync starts and the summary at the end.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from colab.backup.prune import Verdict
from colab.backup.rsync import Progress as RsyncProgress
from colab.backup.rsync import ProgressHook
from colab.backup.space import human
from colab.steps import Outcome, Report, Status
from colab.tables import Table


@dataclass
class Out:
    node: str
    console: Console  # stderr
    dry_run: bool = False
    commands: list[str] = field(default_factory=list)

    def command(
        self, argv: Sequence[str], suffix: str = "", *, env: Sequence[str] = (), cwd: Path | None = None
    ) -> None:
        """Print a command the run performs (dry-run) — the same text whatever the mode, for the record. `env`
        names variables the command gets secret values in (shown as NAME=***), `cwd` the folder it runs in."""
        text = " ".join(f"{name}=***" for name in env) + (" " if env else "") + shlex.join(argv)
        if cwd is not None:
            text = f"cd {shlex.quote(str(cwd))} && {text}"
        text += f" {suffix}" if suffix else ""
        self.commands.append(text)
        if self.dry_run:
            self.console.print(f"[dim]\\[{self.node}][/dim] $ {escape(text)}", highlight=False, soft_wrap=True)

    def say(self, text: str) -> None:
        self.console.print(f"[dim]\\[{self.node}][/dim] {escape(text)}", highlight=False, soft_wrap=True)

    def warn(self, text: str) -> None:
        self.console.print(f"[magenta]warning:[/magenta] {escape(text)}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def rsync_progress(console: Console, what: str) -> Iterator[ProgressHook | None]:
    """A live line while rsync runs on a terminal; nothing (None) otherwise."""
    if not console.is_terminal:
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("[cyan]{task.fields[copied]}[/cyan] copied, {task.fields[files]} files sent"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None, copied="0 B", files="0")
        last = [0.0]

        def hook(p: RsyncProgress) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                bar.update(task, copied=human(p.done_bytes), files=f"{p.xfr:,}")

        yield hook


def outcome(node: str, step: str, status: Status, detail: str = "") -> Outcome:
    return Outcome(node, step, status, " ".join(detail.split()))


def retention_table(verdicts: list[Verdict], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("name", "kind", "decision", "why"):
        table.add_column(col, no_wrap=col == "name", overflow="fold")
    for v in verdicts:
        decision = "[green]keep[/green]" if v.keep else "[yellow]prune[/yellow]"
        # Text, not markup: a reason like `monthly[oldest] 3/12` must not be read as a style tag
        table.add_row(Text(v.name), v.kind, decision, Text(v.reason))
    return table


def verdicts_json(verdicts: list[Verdict]) -> list[dict[str, Any]]:
    return [{"name": v.name, "kind": v.kind, "keep": v.keep, "reason": v.reason} for v in verdicts]


def report_json(report: Report, **extra: Any) -> str:
    data: dict[str, Any] = json.loads(report.to_json())
    data.update(extra)
    return json.dumps(data, indent=2, default=str)
