"""Add or remove a whole `[section.name]` table in the inventory's text, keeping everything else byte for byte.

tomlkit keeps comments and layout when values change (`inventory.set`), but a table it appends to
`[services]` lands after the comment that introduces the next section, with no blank line before that
section's header. So a new table is written by tomlkit (values, quoting, inline tables) and placed here by
lines: right after the last line of the section's last table that is not blank and not a comment, one blank
line before it. Every edit is checked: the result must parse to the old data plus (or minus) exactly that table,
else the edit is refused before anything is written.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

import tomlkit

from colab.errors import ColabError

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")


def _key(header: str) -> str:
    """`[ services . "a" ]` -> `services.a` (the names this project writes are bare or simply quoted)."""
    return ".".join(part.strip().strip("\"'") for part in header.split("."))


def _headers(lines: list[str]) -> list[tuple[int, str]]:
    found = []
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m and not line.lstrip().startswith("#"):
            found.append((i, _key(m.group(1))))
    return found


def _in(key: str, section: str, name: str | None = None) -> bool:
    prefix = f"{section}.{name}" if name else section
    return key == prefix or key.startswith(prefix + ".")


def table_text(section: str, name: str, values: Mapping[str, Any], comment: str = "") -> str:
    """`[section.name]` and its values as tomlkit writes them; `comment` goes after the header."""
    table = tomlkit.table()
    for key, value in values.items():
        table.add(key, _inline(value))
    if comment:
        table.comment(comment)
    outer = tomlkit.table(is_super_table=True)
    outer.add(name, table)
    doc = tomlkit.document()
    doc.add(section, outer)
    return tomlkit.dumps(doc)


def add_table(text: str, section: str, name: str, values: Mapping[str, Any], comment: str = "") -> str:
    """`text` with `[section.name]` added after the section's last table (or at the end)."""
    before = _data(text)
    if name in before.get(section, {}):
        raise ColabError(f"{section}.{name} is already in the inventory")
    new = table_text(section, name, values, comment).rstrip("\n").split("\n")
    lines = text.split("\n")
    headers = _headers(lines)
    ours = [i for i, key in headers if _in(key, section)]
    if not ours:
        body = text.rstrip("\n")
        result = body + "\n\n" + "\n".join(new) + "\n"
    else:
        end = next((i for i, key in headers if i > ours[-1] and not _in(key, section)), len(lines))
        last = ours[-1]
        for j in range(end - 1, ours[-1], -1):
            stripped = lines[j].strip()
            if stripped and not stripped.startswith("#"):
                last = j
                break
        result = "\n".join([*lines[: last + 1], "", *new, *lines[last + 1 :]])
    after = _data(result)
    want = {
        **before,
        section: {**before.get(section, {}), name: _data(table_text(section, name, values))[section][name]},
    }
    if after != want:
        raise ColabError(f"could not add [{section}.{name}] to the inventory's text without changing something else")
    return result


def remove_table(text: str, section: str, name: str) -> str:
    """`text` without `[section.name]` (its sub-tables, its own comments after the header) and one blank line."""
    before = _data(text)
    if name not in before.get(section, {}):
        raise ColabError(f"{section}.{name} is not in the inventory")
    lines = text.split("\n")
    headers = _headers(lines)
    ours = [i for i, key in headers if _in(key, section, name)]
    if not ours:  # an inline or dotted-key definition: tomlkit removes it, layout around it may shift
        doc = tomlkit.parse(text)
        del doc[section][name]
        result = tomlkit.dumps(doc)
    else:
        start = ours[0]
        end = next((i for i, key in headers if i > ours[-1] and not _in(key, section, name)), len(lines))
        # keep what introduces the next table (a comment block right above its header, after a blank line)
        stop = end
        while stop - 1 > start and (not lines[stop - 1].strip() or lines[stop - 1].lstrip().startswith("#")):
            stop -= 1
        while start > 0 and not lines[start - 1].strip():
            start -= 1  # the blank line(s) that separated it from the table before
        result = "\n".join([*lines[:start], *lines[stop:]])
    after = _data(result)
    want = {**before, section: {k: v for k, v in before[section].items() if k != name}}
    if after != want:
        raise ColabError(
            f"could not remove [{section}.{name}] from the inventory's text without changing something else"
        )
    return result


def append_to_array(text: str, dotted: list[str], value: str) -> str:
    """`text` with `value` appended to the array at `dotted` (tomlkit keeps the line's layout and comment)."""
    doc = tomlkit.parse(text)
    node: Any = doc
    for part in dotted:
        node = node[part]
    node.append(value)
    return tomlkit.dumps(doc)


def _inline(value: Any) -> Any:
    """Lists of tables as inline tables in one array (`databases = [{ service = "db", … }]`), as cluster.toml writes
    them, not as `[[…]]` sections."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        array = tomlkit.array()
        for item in value:
            inline = tomlkit.inline_table()
            inline.update(item)
            array.append(inline)
        return array
    return value


def _data(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ColabError(f"the inventory is not valid TOML: {e}") from None
