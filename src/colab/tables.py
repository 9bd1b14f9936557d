"""Tables for people: identifying columns are never cut, header words never split, and a table too wide for the
terminal becomes one small block per row instead of a grid of `coop…` and `192.…`.

Every table the tasks print is a `Table` from here. A column added with `no_wrap=True` identifies its row (a
node, a service, an address, a snapshot): its cells are printed whole or the table is laid out per row. The
width comes from the console: a terminal's, or for a pipe no limit at all (see `cli.out`).
"""

from __future__ import annotations

from rich import table as rich_table
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text

UNLIMITED = 100_000


class Table(rich_table.Table):
    """A rich Table that fits itself to the width it is printed at (see the module's docstring)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if needed_width(self, console, options) <= options.max_width:
            yield from super().__rich_console__(console, options)
        else:
            yield per_row(self)


def _plain(renderable: RenderableType, console: Console, options: ConsoleOptions) -> int:
    return Measurement.get(console, options, renderable).maximum


def needed_width(t: Table, console: Console, options: ConsoleOptions) -> int:
    """The narrowest this table can be with whole identifying cells and whole header words (sets min widths)."""
    wide = options.update(max_width=UNLIMITED)
    for col in t.columns:
        words = str(col.header).split() or [""]
        least = max(len(w) for w in words)
        if col.no_wrap:
            least = max([least, *(_plain(cell, console, wide) for cell in col.cells)])
        col.min_width = max(col.min_width or 0, least)
    return Measurement.get(console, wide, t).minimum


def per_row(t: Table) -> RenderableType:
    """Each row as a block: its first cell as a heading, then `header  value` lines that wrap within the width."""
    parts: list[RenderableType] = []
    if t.title:
        parts.append(Text(str(t.title), style="italic") if isinstance(t.title, str) else t.title)
    columns = t.columns
    for i in range(t.row_count):
        cells = [list(col.cells)[i] for col in columns]
        heading = Text.from_markup(cells[0]) if isinstance(cells[0], str) else cells[0]
        if isinstance(heading, Text):
            heading = heading.copy()
            heading.stylize("bold")
        parts.append(heading)
        block = rich_table.Table.grid(padding=(0, 2))
        block.add_column(style="dim", no_wrap=True)
        block.add_column(overflow="fold")
        for col, cell in zip(columns[1:], cells[1:], strict=True):
            if _empty(cell):
                continue
            block.add_row(Text("  " + str(col.header)), cell)
        parts.append(block)
    return Group(*parts)


def _empty(cell: RenderableType) -> bool:
    text = cell.plain if isinstance(cell, Text) else cell if isinstance(cell, str) else None
    return text is not None and text.strip() in ("", "-")


def headline(text: str, limit: int = 24) -> str:
    """A long detail's first clause for a table cell (the whole text is listed under the table)."""
    first = text.splitlines()[0] if text else text
    for sep in (" (", ": ", "; "):
        first = first.split(sep, 1)[0]
    if first == text and len(text) <= limit:
        return text
    return (first if len(first) <= limit else first[: limit - 1].rstrip()) + " ↓"
