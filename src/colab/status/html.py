"""`inv status --html FILE`: the cluster as one static page, to read on a phone.

One self-contained file: inline CSS, no scripts, no fonts, images or links to fetch, so it works from a file,
behind Caddy's `file_server`, or saved on a phone. On top, the verdict (the same words as the table's last
line) and when it was checked; then every problem; then a card per node with each check that applies to it.
Cards flow into as many columns as fit (one on a phone). Colour is never the only signal: every check starts
with a mark (✓ ok, ! warning, ✗ critical, ○ off, ? unknown), and every element carries `data-level`,
`data-node` and `data-check` attributes that the tests (and any scraper) read. A `refresh` meta tag reloads
the page as often as it is regenerated.
"""

from __future__ import annotations

from html import escape

from .model import COLUMNS, Check, ClusterStatus, Level, NodeStatus, worst
from .view import summary

MARKS = {Level.OK: "✓", Level.WARN: "!", Level.CRIT: "✗", Level.OFF: "○", Level.UNKNOWN: "?", Level.NA: "-"}
CLASSES = {
    Level.OK: "ok",
    Level.WARN: "warning",
    Level.CRIT: "critical",
    Level.OFF: "off",
    Level.UNKNOWN: "unknown",
    Level.NA: "na",
}

CSS = """
:root{--bg:#f6f7f9;--card:#fff;--fg:#1c1f24;--dim:#5d6570;--line:#dde1e6;
--ok:#1a7f37;--warning:#9a6700;--critical:#c0182a;--off:#6e7781}
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--card:#181c22;--fg:#e6e9ee;--dim:#9aa3ad;
--line:#2b313a;--ok:#4ac26b;--warning:#d4a72c;--critical:#ff6b6b;--off:#8b949e}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
sans-serif;overflow-wrap:anywhere}
header{padding:1rem;border-bottom:4px solid var(--ok);background:var(--card)}
h1{margin:0;font-size:1.3rem}h2{margin:0 0 .4rem;font-size:1.05rem}
.verdict{margin:.3rem 0 0;font-size:1.2rem;font-weight:700}
.when{margin:.2rem 0 0;color:var(--dim);font-size:.9rem}
section,main{padding:1rem}
ul{margin:0;padding:0;list-style:none}
#problems li{background:var(--card);border-left:4px solid var(--off);margin:0 0 .4rem;padding:.45rem .6rem;
border-radius:4px}
main{display:grid;gap:.8rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,19rem),1fr))}
article{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--ok);border-radius:6px;
padding:.7rem .8rem}
.tag{font-size:.75rem;font-weight:400;color:var(--dim);border:1px solid var(--line);border-radius:3px;
padding:0 .3rem;margin-left:.4rem;white-space:nowrap}
dl{margin:0}dl>div{display:grid;grid-template-columns:5.2rem 1fr;gap:.5rem;padding:.25rem 0;
border-top:1px solid var(--line)}
dt{color:var(--dim)}dd{margin:0;white-space:pre-line}
.m{display:inline-block;width:1.1em;font-weight:700}
.ok>.m,.m.ok{color:var(--ok)}.warning>.m{color:var(--warning)}.critical>.m{color:var(--critical)}
.off>.m,.unknown>.m{color:var(--off)}
dd.warning,dd .warning{color:var(--warning)}dd.critical,dd .critical{color:var(--critical)}
dd.off,dd.unknown{color:var(--dim)}dd li.ok{color:var(--fg)}
header.warning,#problems li.warning{border-color:var(--warning)}
header.critical,#problems li.critical{border-color:var(--critical)}
article.warning{border-top-color:var(--warning)}article.critical{border-top-color:var(--critical)}
article.off,article.unknown{border-top-color:var(--off)}
footer{padding:0 1rem 1.5rem;color:var(--dim);font-size:.85rem}
""".strip()


def node_level(row: NodeStatus) -> Level:
    """A card's colour: its worst problem; `off` for an on-demand node that is off; else ok."""
    problems = [c.level for _, c in row.problems()]
    if problems:
        return worst(problems)
    if all(c.level in (Level.OFF, Level.NA) for c in row.checks.values()):
        return Level.OFF
    return Level.OK


def _mark(level: Level, text: str) -> str:
    shown = "" if text == MARKS[level] else escape(text)  # "?" needs no second "?"
    return f'<span class="m">{MARKS[level]}</span>{shown}'


def _check(row: NodeStatus, col: str, check: Check) -> str:
    cls = CLASSES[check.level]
    if col == "services" and row.services:
        items = "".join(
            f'<li class="{CLASSES[s.level]}" data-service="{escape(s.service)}" data-level="{s.level}">'
            f"{_mark(s.level, s.text)}</li>"
            for s in row.services
        )
        body = f"<ul>{items}</ul>"
    else:
        body = _mark(check.level, check.text)
    return f'<div data-check="{col}" data-level="{check.level}"><dt>{col}</dt><dd class="{cls}">{body}</dd></div>'


def _card(row: NodeStatus) -> str:
    level = node_level(row)
    tags = "".join(
        f'<span class="tag">{t}</span>'
        for t in (("here" if row.here else ""), ("on demand" if row.availability == "on-demand" else ""))
        if t
    )
    checks = "".join(_check(row, col, row.checks[col]) for col in COLUMNS if row.checks[col].level != Level.NA)
    return (
        f'<article class="{CLASSES[level]}" id="node-{escape(row.node)}" data-node="{escape(row.node)}" '
        f'data-level="{level}"><h2>{escape(row.node)}{tags}</h2><dl>{checks}</dl></article>'
    )


def render(status: ClusterStatus, *, refresh: int | None = None) -> str:
    """The page; `refresh`: seconds between reloads (the export's period), none by default."""
    when = status.now
    problems = status.problems()
    levels = [c.level for _, _, c in problems]
    overall = worst(levels) if levels else Level.OK
    verdict = summary(status).plain
    slowest = max((n.seconds for n in status.nodes), default=0.0)
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
    ]
    if refresh:
        head.append(f'<meta http-equiv="refresh" content="{int(refresh)}">')
    head += [f"<title>{escape(status.cluster)}: {escape(verdict)}</title>", f"<style>{CSS}</style>"]
    items = "".join(
        f'<li class="{CLASSES[c.level]}" data-node="{escape(node)}" data-check="{col}" data-level="{c.level}">'
        f'<span class="m">{MARKS[c.level]}</span><b>{escape(node)}</b> {col}: '
        f"{escape(c.text.replace(chr(10), '; '))}</li>"
        for node, col, c in problems
    )
    body = [
        f'<header class="{CLASSES[overall]}" data-level="{overall}">',
        f"<h1>{escape(status.cluster)} cluster</h1>",
        f'<p class="verdict {CLASSES[overall]}" id="verdict">{_mark(overall, verdict)}</p>',
        f'<p class="when">checked <time datetime="{when.isoformat(timespec="seconds")}">'
        f"{when:%Y-%m-%d %H:%M}</time> · slowest node {slowest:.1f} s</p>",
        "</header>",
    ]
    if problems:
        body.append(f'<section id="problems"><h2>Problems</h2><ul>{items}</ul></section>')
    body.append(f'<main id="nodes">{"".join(_card(row) for row in status.nodes)}</main>')
    body.append(
        "<footer>Written by <code>inv status --html</code>; a static page, regenerated by the status export "
        "(docs/monitoring.md). Alerts come from Alertmanager, not from this page.</footer>"
    )
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n'
        + "\n".join(head)
        + "\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
