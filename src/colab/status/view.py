"""The cluster as one rich table (a row per node), the problems under it, and a one-line verdict."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from colab.tables import Table, headline

from .model import COLUMNS, Check, ClusterStatus, Level

STYLES = {
    Level.OK: "green",
    Level.WARN: "yellow",
    Level.CRIT: "bold red",
    Level.OFF: "dim",
    Level.UNKNOWN: "dim",
    Level.NA: "dim",
}
MARKS = {Level.CRIT: "✗", Level.WARN: "!"}


def cell(check: Check) -> Text:
    """A problem's cell holds its first clause: the whole text is listed under the table."""
    text = headline(check.text) if check.level in MARKS else check.text
    return Text(text, style=STYLES[check.level])


def table(status: ClusterStatus) -> Table:
    t = Table(title=f"{status.cluster} cluster at {status.now:%Y-%m-%d %H:%M}", title_justify="left", show_lines=True)
    t.add_column("node", no_wrap=True)
    for col in COLUMNS:
        t.add_column(col, overflow="fold")
    for row in status.nodes:
        name = Text(row.node, style="bold")
        if row.here:
            name.append("\n(here)", style="dim")
        if row.availability == "on-demand":
            name.append("\non-demand", style="dim")
        cells = [cell(row.checks[col]) for col in COLUMNS]
        if row.services:  # one line per service, each in its own colour
            services = Text()
            for i, s in enumerate(row.services):
                services.append(("\n" if i else "") + s.text, style=STYLES[s.level])
            cells[COLUMNS.index("services")] = services
        t.add_row(name, *cells)
    return t


def summary(status: ClusterStatus) -> Text:
    problems = status.problems()
    crit = sum(c.level == Level.CRIT for _, _, c in problems)
    warn = sum(c.level == Level.WARN for _, _, c in problems)
    if not problems:
        return Text("all good", style="green")
    parts = [f"{crit} critical"] if crit else []
    parts += [f"{warn} warning{'s' if warn != 1 else ''}"] if warn else []
    return Text(", ".join(parts), style=STYLES[Level.CRIT if crit else Level.WARN])


def render(status: ClusterStatus) -> RenderableType:
    lines: list[RenderableType] = [table(status)]
    for node, col, check in status.problems():
        text = check.text.replace("\n", "; ")
        lines.append(Text(f"{MARKS[check.level]} {node} {col}: {text}", style=STYLES[check.level]))
    lines.append(summary(status))
    return Group(*lines)
