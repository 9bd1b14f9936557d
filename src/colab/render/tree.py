"""`render_tree`: every file `inv render` produces, in memory, from the inventory and the templates.

Per-node templates are rendered in three passes so later ones can refer to earlier results:
1. content files; 2. `run_*` scripts, which get `files` (the node's content, e.g. to embed a hash so
chezmoi's `run_onchange_` re-runs them when it changes); 3. `*.chezmoiignore`, which gets `ignored`.
Under `chezmoi/.nodes/{node}/` an output that is empty (only white space) means "this node does not get that
file". A service file (`templates/compose/<folder>/<file>.j2`) is rendered for the service whose compose folder
that is, and not at all when no service uses the folder.

Every rendered TOML, JSON and plist file must parse, or nothing is returned: a template error writes nothing
(`colab.render.disk` writes the tree).
"""

from __future__ import annotations

import json
import plistlib
import tomllib
from collections.abc import Callable
from pathlib import Path
from xml.parsers.expat import ExpatError

from colab.errors import RenderError
from colab.inventory import Inventory

from . import chezmoi_source, edge
from .context import global_context, node_context, service_context
from .templates import NODE, TEMPLATES_DIR, Renderer, names, output_name, service_folder

Tree = dict[str, bytes]


def _phase(rel: str) -> int:
    out = output_name(rel)
    if out.endswith(chezmoi_source.IGNORE_SUFFIX):
        return 3
    return 2 if out.rsplit("/", 1)[-1].startswith("run_") else 1


def render_tree(inv: Inventory, templates: Path = TEMPLATES_DIR) -> Tree:
    """Every generated file, path (posix, relative to the output root) -> bytes. Same inventory, same bytes."""
    render = Renderer(templates)
    rels = list(names(templates))
    tree: Tree = {}
    shared = global_context(inv)
    for rel in rels:
        if NODE in rel:
            continue
        folder = service_folder(rel)
        if folder is None:
            tree[output_name(rel)] = render(rel, shared)
            continue
        try:
            svc = edge.service_in(inv, folder)
        except edge.EdgeError as e:
            raise RenderError(f"templates/{rel}: {e}") from None
        if svc is not None:
            tree[output_name(rel)] = render(rel, service_context(inv, shared, svc))

    per_node = sorted((rel for rel in rels if NODE in rel), key=lambda r: (_phase(r), r))
    contexts = {name: node_context(inv, node) for name, node in inv.nodes.items()}
    files: dict[str, dict[str, str]] = {name: {} for name in inv.nodes}
    for name, ctx in contexts.items():
        node_dir = f"{chezmoi_source.NODES_PREFIX}/{name}/"
        for rel in per_node:
            if _phase(rel) == 3:
                continue
            out = output_name(rel).replace(NODE, name)
            data = render(rel, {**ctx, "files": files[name]})
            if out.startswith(node_dir):
                if not data.strip():
                    continue  # not for this node
                files[name][out.removeprefix(node_dir)] = data.decode()
            tree[out] = data

    sources = sorted({src for node_files in files.values() for src in node_files})
    for src in sources:
        out = f"{chezmoi_source.SOURCE_DIR}/{src}.tmpl"
        if out in tree:
            raise RenderError(f"templates/{out}: clashes with the per-node file {src}; rename one of them")
        tree[out] = chezmoi_source.wrapper(src)

    common = [chezmoi_source.target_path(src) for src in chezmoi_source.shared_sources(tree)]
    everything = [chezmoi_source.target_path(src) for src in sources]
    for name, ctx in contexts.items():
        kept = [*common, *(chezmoi_source.target_path(s) for s in files[name])]
        hidden = chezmoi_source.ignored(kept, everything)
        for rel in per_node:
            if _phase(rel) == 3:
                tree[output_name(rel).replace(NODE, name)] = render(rel, {**ctx, "ignored": hidden})
    for path, data in tree.items():
        problem = syntax_problem(path, data)
        if problem:
            raise RenderError(f"{path}: {problem}; nothing was written (fix the template or the inventory value)")
    return dict(sorted(tree.items()))


# What a rendered file is read as, by its name: it must parse, or render refuses the whole tree.
_PARSERS: dict[str, tuple[str, Callable[[bytes], object]]] = {
    ".toml": ("TOML", lambda data: tomllib.loads(data.decode())),
    ".json": ("JSON", json.loads),
    ".plist": ("plist XML", plistlib.loads),
}


def syntax_problem(path: str, data: bytes) -> str | None:
    """Why the rendered file at `path` does not parse in its own language, as one line; None when it does
    (or when it is not a TOML, JSON or plist file)."""
    for suffix, (what, parse) in _PARSERS.items():
        if path.endswith(suffix):
            try:
                parse(data)
            except (ValueError, ExpatError) as e:
                return f"not valid {what} ({' '.join(str(e).split())})"
    return None
