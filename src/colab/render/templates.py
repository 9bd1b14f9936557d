"""The templates and the Jinja environment they render in: where they are, what each one produces, the filters
that quote inventory values for each file's language, and errors that name the template file and line.

`templates/` mirrors what it produces relative to the output root (the repo root by default):
`templates/mise.toml.j2` -> `mise.toml`, `templates/chezmoi/...` -> `chezmoi/...`. A file ending `.j2` is
rendered (the suffix dropped), any other file is copied. A path holding `{node}` is rendered once per node;
`templates/compose/<folder>/<file>.j2` once for the service whose compose folder that is. `templates/_partials/`
holds Jinja includes, never output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import jinja2

from colab import quoting
from colab.errors import RenderError
from colab.repo import REPO_ROOT

TEMPLATES_DIR = REPO_ROOT / "templates"
PARTIALS = "_partials"
NODE = "{node}"
DOCS = "docs"  # generated pages (docs/inventory.md) among the hand-written ones: owned one file at a time
SERVICE_FILES = "compose"  # templates/compose/<folder>/<file>: one file for the service in that folder


def _toml(value: object) -> str:
    """A TOML value: strings as TOML strings, lists of them as arrays."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return quoting.toml_string(str(value))


def _tomlkey(value: object) -> str:
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else quoting.toml_string(text)


def _sha256(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


# Every inventory value reaches a file through the filter of that file's language (see colab.quoting).
FILTERS: dict[str, Callable[..., str]] = {
    "toml": _toml,
    "tomlkey": _tomlkey,
    "tera": lambda v: quoting.tera(str(v)),
    "sh": lambda v: quoting.sh(str(v)),
    "cron_word": lambda v: quoting.cron_word(str(v)),
    "systemd": lambda v: quoting.systemd(str(v)),
    "systemd_word": lambda v: quoting.systemd_word(str(v)),
    "json": lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False),
    "xml": lambda v: xml_escape(str(v), {'"': "&quot;"}),
    "md_cell": lambda v: str(v).replace("|", "\\|").replace("\n", " "),
    "xml_comment": lambda v: quoting.xml_comment(str(v)),
    "sha256": _sha256,
}


def environment(templates: Path = TEMPLATES_DIR) -> jinja2.Environment:
    """The one Jinja set-up every template renders in (`inv render`, and `inv fortress.mount` for a node's files)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    return env


def _where(exc: BaseException, filename: str, templates: Path) -> str:
    """`templates/x.j2:LINE` for an error raised while rendering the template at `filename`."""
    shown = os.path.relpath(filename, templates.parent)
    line = getattr(exc, "lineno", None) if isinstance(exc, jinja2.TemplateSyntaxError) else None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{shown}:{line}" if line else shown


def names(templates: Path) -> Iterator[str]:
    """Every template and copied file, as sorted posix paths relative to `templates`."""
    if not templates.is_dir():
        raise RenderError(f"{templates}: no templates folder")
    found = []
    for path in templates.rglob("*"):
        rel = path.relative_to(templates).as_posix()
        if path.is_file() and rel.split("/")[0] != PARTIALS and "__pycache__" not in rel:
            found.append(rel)
    yield from sorted(found)


def output_name(rel: str) -> str:
    """The output path of the template at `rel` (relative to the output root)."""
    return rel.removesuffix(".j2")


def service_folder(rel: str) -> str | None:
    """`compose/<folder>` for a service-file template (`compose/<folder>/<file>.j2`), else None."""
    parts = output_name(rel).split("/")
    return "/".join(parts[:-1]) if parts[0] == SERVICE_FILES and len(parts) >= 3 else None


class Renderer:
    """Renders one template (or copies one file) with a context; any error names the template file and line."""

    def __init__(self, templates: Path) -> None:
        self.templates = templates
        self.env = environment(templates)

    def __call__(self, rel: str, context: Mapping[str, Any]) -> bytes:
        path = self.templates / rel
        if not rel.endswith(".j2"):
            return path.read_bytes()
        filename = str(path)
        try:
            return self.env.get_template(rel).render(context).encode()
        except RenderError as e:
            raise RenderError(f"{_where(e, filename, self.templates)}: {e}") from None
        except jinja2.TemplateSyntaxError as e:
            raise RenderError(f"{_where(e, e.filename or filename, self.templates)}: {e.message}") from None
        except Exception as e:
            raise RenderError(f"{_where(e, filename, self.templates)}: {type(e).__name__}: {e}") from None
