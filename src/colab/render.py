"""`inv render`: the inventory through the Jinja templates in `templates/` into files in the repo.

`templates/` mirrors what it produces relative to the output root (the repo root by default):
`templates/mise.toml.j2` -> `mise.toml`, `templates/chezmoi/...` -> `chezmoi/...`. A file ending `.j2` is
rendered (the suffix dropped), any other file is copied. A path holding `{node}` is rendered once per node
with that node's facts; under `chezmoi/.nodes/{node}/` an output that is empty (only white space) means
"this node does not get that file". `templates/_partials/` holds Jinja includes, never output.

`templates/compose/<folder>/<file>.j2` is rendered into `compose/<folder>/<file>` for the service whose compose
folder that is (with `service` and `edge`, a `colab.edge.Facts`), and not at all when no service uses the
folder. The compose folders hold the services' own files too: render owns those single files only, never a
folder (`owned` lists them one by one; one no longer generated is removed).

Per-node templates are rendered in three passes so later ones can refer to earlier results:
1. content files; 2. `run_*` scripts, which get `files` (the node's content, e.g. to embed a hash so
chezmoi's `run_onchange_` re-runs them when it changes); 3. `*.chezmoiignore`, which gets `ignored`.

Everything is rendered in memory first (`render_tree`), so a template error writes nothing; `write_tree`
then builds the new tree in a temporary folder beside the target and swaps it in.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import plistlib
import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from xml.parsers.expat import ExpatError
from xml.sax.saxutils import escape as xml_escape

import jinja2

from colab import chezmoi_source, edge, inventory_docs, mise_tasks, monitoring, quoting
from colab.backup import install as backup_install
from colab.errors import ColabError
from colab.inventory import REPO_ROOT, Inventory, Node, Service
from colab.storage import boot

TEMPLATES_DIR = REPO_ROOT / "templates"
PARTIALS = "_partials"
NODE = "{node}"
SOURCE_DIR = "chezmoi"
NODES_PREFIX = f"{SOURCE_DIR}/{chezmoi_source.NODES_DIR}"
DOCS = "docs"  # generated pages (docs/inventory.md) among the hand-written ones: owned one file at a time
SERVICE_FILES = "compose"  # templates/compose/<folder>/<file>: one file for the service in that folder

Tree = dict[str, bytes]


class RenderError(ColabError):
    """A template or an inventory fact the templates cannot use; names the file and line."""


# ------------------------------------------------------------------------------------------- facts


systemd_escape_path = quoting.systemd_escape_path


_CRON_DAYS = {"Sun": 0, "Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6}


def cron_time(when: str) -> str:
    """`HH:MM` -> `M H * * *`; `Day HH:MM` -> `M H * * D` (the inventory's schedule formats)."""
    day, _, clock = when.rpartition(" ")
    hour, minute = (int(x) for x in clock.split(":"))
    return f"{minute} {hour} * * {_CRON_DAYS[day] if day else '*'}"


def docker_daemon(inv: Inventory) -> dict[str, Any]:
    """Docker daemon settings for every node: bounded json-file logs, overlay2, non-colliding pools."""
    d = inv.docker
    taken = [*inv.production_networks(), d.cluster_subnet]
    for pool in d.address_pools:
        for net in taken:
            if pool.base.overlaps(net):  # the inventory check refuses this; never render it anyway
                raise RenderError(f"docker.address_pools: {pool.base} collides with {net}; pick another base")
    return {
        "default-address-pools": [{"base": str(p.base), "size": p.size} for p in d.address_pools],
        "log-driver": "json-file",
        "log-opts": {"max-file": str(d.log_max_file), "max-size": d.log_max_size},
        "storage-driver": "overlay2",
    }


# What Docker Desktop manages itself: the storage of the engine inside its VM. With its containerd image
# store (the default for new installs since Docker Desktop 4.34), "storage-driver": "overlay2" names a
# snapshotter containerd does not have and pulls fail (moby/moby#46254), so Docker Desktop does not get it.
_DESKTOP_MANAGED = ("storage-driver",)


def docker_desktop_daemon(inv: Inventory) -> dict[str, Any]:
    """The daemon settings for Docker Desktop (macOS, and Windows under WSL nodes): logs and pools as everywhere."""
    return {k: v for k, v in docker_daemon(inv).items() if k not in _DESKTOP_MANAGED}


def node_docker_daemon(inv: Inventory, node: Node) -> dict[str, Any]:
    """A node's daemon settings: Docker Engine on Debian, Docker Desktop on WSL (its Windows side) and macOS."""
    return docker_daemon(inv) if node.os == "debian" else docker_desktop_daemon(inv)


def fortress_client(inv: Inventory, node: Node) -> str:
    """How this node mounts fortress: "" (it is the server), "systemd", "wsl" or "macos".

    "wsl": the Linux side as "systemd" (the same mount + automount units), plus the Windows drive, which
    `inv fortress.mount` maps through interop.
    """
    if node.name == inv.fortress.server:
        return ""
    return {"debian": "systemd", "wsl": "wsl", "macos": "macos"}[node.os]


def fortress_units(inv: Inventory, node: Node) -> bool:
    """Whether the node gets the systemd mount + automount units: Debian clients and WSL nodes."""
    return fortress_client(inv, node) in ("systemd", "wsl")


def boot_context(inv: Inventory, node: Node) -> dict[str, Any]:
    """What the boot-mount files need (colab.storage.boot): unit names, paths, retry timing, files to install."""
    server = node.name == inv.fortress.server
    return {
        "server": server,
        "docker": node.os == "debian",  # Docker Engine with a systemd unit (WSL and macOS run Docker Desktop)
        "password_unit": boot.PASSWORD_UNIT,
        "script": boot.PASSWORD_SCRIPT,
        "runtime_dir": boot.RUNTIME_DIR.rsplit("/", 1)[1],
        "credentials": boot.CREDENTIALS,
        "identity_dir": boot.IDENTITY_DIR,
        "mount_unit": boot.mount_unit(inv.fortress_mount(node)),
        "after_units": boot.after_units(node),
        "first_delay": boot.FIRST_DELAY,
        "max_delay": boot.MAX_DELAY,
        "mount_wait": boot.MOUNT_WAIT,
        "files": boot.server_files() if server else boot.client_files(inv, node) if fortress_units(inv, node) else [],
    }


def node_context(inv: Inventory, node: Node) -> dict[str, Any]:
    """Everything a per-node template may use, computed here so templates only lay it out."""
    server = inv.nodes[inv.fortress.server]
    client = fortress_client(inv, node)
    mount = inv.fortress_mount(node)
    login = inv.fortress_login(node) if client else None  # a client mounts as its own user
    if client == "macos" and mount != f"/Volumes/{inv.fortress.share}":
        raise RenderError(
            f"fortress.mounts.macos: macOS mounts the share {inv.fortress.share!r} at "
            f"/Volumes/{inv.fortress.share}, not {mount}; set it to /Volumes/{inv.fortress.share}"
        )
    if node.name == inv.backup.node and node.os == "macos":
        raise RenderError(f"backup.node: {node.name} runs macOS, which has no /etc/cron.d; pick a Linux node")
    return {
        "inv": inv,
        "node": node,
        "fortress": {
            "client": client,
            "mount": mount,
            # The mesh address: stable wherever the node is (the LAN one is not reachable from away).
            "server": str(server.mesh),
            "unc": f"//{server.mesh}/{inv.fortress.share}",
            "unit": systemd_escape_path(mount),
            "units": fortress_units(inv, node),
            "drive": inv.fortress.mounts.windows,
            "user": login.user if login else "",
            "password_name": login.password_name if login else "",
            "boot": boot_context(inv, node),
        },
        "is_backup_node": node.name == inv.backup.node,
        "backup_cron": {
            "daily": cron_time(inv.backup.schedule.daily),
            "weekly": cron_time(inv.backup.schedule.weekly),
            "offsite": cron_time(inv.backup.offsite.schedule) if inv.backup.offsite else "",
            "offsite_check": (
                cron_time(inv.backup.offsite.check_schedule)
                if inv.backup.offsite and inv.backup.offsite.check_schedule
                else ""
            ),
            "script": backup_install.cron_script(),  # root's own install, not the node user's checkout
            "install": backup_install.ROOT,
        },
        "docker_daemon": node_docker_daemon(inv, node),
        "tasks": mise_tasks.node_tasks(inv, node),
        "env": {mise_tasks.ENV_NODE: node.name, mise_tasks.ENV_REPO: node.repo},
        "venv_bin": mise_tasks.VENV_BIN,
        "monitoring": monitoring.node_facts(inv, node),
        "cockpit": {"conf": edge.cockpit_conf(inv, node), "path": edge.COCKPIT_CONF, "marker": edge.COCKPIT_MARKER},
    }


def service_folder(rel: str) -> str | None:
    """`compose/<folder>` for a service-file template (`compose/<folder>/<file>.j2`), else None."""
    parts = _output_name(rel).split("/")
    return "/".join(parts[:-1]) if parts[0] == SERVICE_FILES and len(parts) >= 3 else None


def service_context(inv: Inventory, shared: Mapping[str, Any], svc: Service) -> dict[str, Any]:
    """A service file's context: the shared one plus the service, the edge facts (computed on use) and, when the
    inventory has a Prometheus, the monitoring facts."""
    facts = monitoring.Facts(inv, svc) if monitoring.prometheus(inv) else None
    return {**shared, "service": svc, "edge": edge.Facts(inv, svc), "monitoring": facts}


def global_context(inv: Inventory) -> dict[str, Any]:
    return {
        "inv": inv,
        "repo_tasks": mise_tasks.repo_tasks(inv),
        "config_root": mise_tasks.CONFIG_ROOT,
        "shared_tasks": mise_tasks.shared_tasks(inv),
        "node_dir": mise_tasks.NODE_DIR,
        "env_names": [mise_tasks.ENV_NODE, mise_tasks.ENV_REPO],
        "venv_bin": mise_tasks.VENV_BIN,
        "inventory_reference": inventory_docs.sections,  # docs/inventory.md (the model, not this inventory)
    }


# ---------------------------------------------------------------------------------------- templates


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


def _environment(templates: Path) -> jinja2.Environment:
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


def _templates(templates: Path) -> Iterator[str]:
    """Every template and copied file, as sorted posix paths relative to `templates`."""
    if not templates.is_dir():
        raise RenderError(f"{templates}: no templates folder")
    found = []
    for path in templates.rglob("*"):
        rel = path.relative_to(templates).as_posix()
        if path.is_file() and rel.split("/")[0] != PARTIALS and "__pycache__" not in rel:
            found.append(rel)
    yield from sorted(found)


def _output_name(rel: str) -> str:
    return rel.removesuffix(".j2")


def _phase(rel: str) -> int:
    out = _output_name(rel)
    if out.endswith(chezmoi_source.IGNORE_SUFFIX):
        return 3
    return 2 if out.rsplit("/", 1)[-1].startswith("run_") else 1


class _Renderer:
    def __init__(self, templates: Path) -> None:
        self.templates = templates
        self.env = _environment(templates)

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


def render_tree(inv: Inventory, templates: Path = TEMPLATES_DIR) -> Tree:
    """Every generated file, path (posix, relative to the output root) -> bytes. Same inventory, same bytes."""
    render = _Renderer(templates)
    names = list(_templates(templates))
    tree: Tree = {}
    shared = global_context(inv)
    for rel in names:
        if NODE in rel:
            continue
        folder = service_folder(rel)
        if folder is None:
            tree[_output_name(rel)] = render(rel, shared)
            continue
        try:
            svc = edge.service_in(inv, folder)
        except edge.EdgeError as e:
            raise RenderError(f"templates/{rel}: {e}") from None
        if svc is not None:
            tree[_output_name(rel)] = render(rel, service_context(inv, shared, svc))

    per_node = sorted((rel for rel in names if NODE in rel), key=lambda r: (_phase(r), r))
    contexts = {name: node_context(inv, node) for name, node in inv.nodes.items()}
    files: dict[str, dict[str, str]] = {name: {} for name in inv.nodes}
    for name, ctx in contexts.items():
        node_dir = f"{NODES_PREFIX}/{name}/"
        for rel in per_node:
            if _phase(rel) == 3:
                continue
            out = _output_name(rel).replace(NODE, name)
            data = render(rel, {**ctx, "files": files[name]})
            if out.startswith(node_dir):
                if not data.strip():
                    continue  # not for this node
                files[name][out.removeprefix(node_dir)] = data.decode()
            tree[out] = data

    sources = sorted({src for node_files in files.values() for src in node_files})
    for src in sources:
        out = f"{SOURCE_DIR}/{src}.tmpl"
        if out in tree:
            raise RenderError(f"templates/{out}: clashes with the per-node file {src}; rename one of them")
        tree[out] = chezmoi_source.wrapper(src)

    common = [chezmoi_source.target_path(src) for src in _shared_sources(tree)]
    everything = [chezmoi_source.target_path(src) for src in sources]
    for name, ctx in contexts.items():
        kept = [*common, *(chezmoi_source.target_path(s) for s in files[name])]
        hidden = chezmoi_source.ignored(kept, everything)
        for rel in per_node:
            if _phase(rel) == 3:
                tree[_output_name(rel).replace(NODE, name)] = render(rel, {**ctx, "ignored": hidden})
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


def _sources(tree: Mapping[str, bytes]) -> dict[str, bytes]:
    """The chezmoi source entries (not .chezmoi* files, not dot-folders): source path -> bytes."""
    prefix = f"{SOURCE_DIR}/"
    return {
        path.removeprefix(prefix): data
        for path, data in tree.items()
        if path.startswith(prefix) and not any(part.startswith(".") for part in path.split("/")[1:])
    }


def _shared_sources(tree: Mapping[str, bytes]) -> dict[str, bytes]:
    """Source entries every node gets as they are (not the one-line templates picking per-node copies)."""
    return {
        src: data
        for src, data in _sources(tree).items()
        if not (src.endswith(".tmpl") and data == chezmoi_source.wrapper(src.removesuffix(".tmpl")))
    }


def node_files(tree: Mapping[str, bytes], node: str) -> dict[str, bytes]:
    """A node's own rendered content: chezmoi source path -> bytes."""
    prefix = f"{NODES_PREFIX}/{node}/"
    return {path.removeprefix(prefix): data for path, data in tree.items() if path.startswith(prefix)}


def node_sources(tree: Mapping[str, bytes], node: str) -> dict[str, bytes]:
    """Everything chezmoi gives this node, as source path -> content: its own files and the shared ones."""
    return {**_shared_sources(tree), **node_files(tree, node)}


def node_targets(tree: Mapping[str, bytes], node: str) -> list[str]:
    """Targets (relative to the home directory; scripts by name) chezmoi gives this node."""
    return chezmoi_source.node_targets(node_sources(tree, node))


def all_targets(tree: Mapping[str, bytes]) -> list[str]:
    """Every target of the source tree, whichever node gets it."""
    return sorted(chezmoi_source.target_path(src) for src in _sources(tree))


# ------------------------------------------------------------------------------------ write / check


def _top(path: str) -> str:
    """What render owns for an output path: its top-level entry, or the file itself under compose/ and docs/."""
    top = path.split("/")[0]
    return path if top in (SERVICE_FILES, DOCS) else top


def _tops(tree: Mapping[str, bytes]) -> list[str]:
    return sorted({_top(p) for p in tree})


def owned(templates: Path = TEMPLATES_DIR) -> list[str]:
    """What render owns under the output root: the top-level entries chezmoi, .chezmoiroot and mise.toml, and
    each service file (compose/caddy/Caddyfile …) on its own, whether or not this inventory produces it."""
    return sorted({_top(_output_name(rel)) for rel in _templates(templates)})


def _on_disk(root: Path, tops: list[str]) -> Tree:
    found: Tree = {}
    for top in tops:
        path = root / top
        if path.is_file():
            found[top] = path.read_bytes()
        elif path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() or f.is_symlink():
                    found[f.relative_to(root).as_posix()] = f.read_bytes() if f.is_file() else b""
    return found


def _lines(data: bytes | None) -> list[str]:
    if data is None:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def check_tree(tree: Mapping[str, bytes], root: Path = REPO_ROOT, tops: list[str] | None = None) -> str:
    """A unified diff from the files under `root` to what the inventory gives; "" when they match."""
    tops = tops if tops is not None else _tops(tree)
    disk = _on_disk(root, tops)
    chunks: list[str] = []
    for path in sorted(set(disk) | set(tree)):
        have, want = disk.get(path), tree.get(path)
        if have == want:
            continue
        a, b = (f"a/{path}" if have is not None else "/dev/null"), (f"b/{path}" if want is not None else "/dev/null")
        chunk = list(difflib.unified_diff(_lines(have), _lines(want), fromfile=a, tofile=b))
        chunks.extend(chunk or [f"--- {a}\n", f"+++ {b}\n"])  # an empty file appears or goes
    return "".join(chunks)


def changed_paths(tree: Mapping[str, bytes], root: Path, tops: list[str] | None = None) -> list[str]:
    tops = tops if tops is not None else _tops(tree)
    disk = _on_disk(root, tops)
    return sorted(p for p in set(disk) | set(tree) if disk.get(p) != tree.get(p))


def write_tree(tree: Mapping[str, bytes], root: Path = REPO_ROOT, tops: list[str] | None = None) -> list[str]:
    """Make `root` hold exactly `tree` under its top-level entries; returns the paths that changed.

    The new entries are written in full to a temporary folder inside `root` (same file system), then each
    top-level entry that changed (or single file under compose/) is swapped in by rename, so no reader ever
    sees a half-written tree.
    """
    tops = tops if tops is not None else _tops(tree)
    changed = changed_paths(tree, root, tops)
    if not changed:
        return []
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".render-", dir=root))
    try:
        new, old = staging / "new", staging / "old"
        new.mkdir()
        old.mkdir()
        for path, data in tree.items():
            target = new / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o644)
        for top in tops:
            if not any(p == top or p.startswith(f"{top}/") for p in changed):
                continue  # nothing new under it: leave it alone
            dest, fresh, aside = root / top, new / top, old / top
            aside.parent.mkdir(parents=True, exist_ok=True)  # tops under compose/ are nested files
            if fresh.is_dir() and dest.is_dir() and not dest.is_symlink():
                dest.rename(aside)
                fresh.rename(dest)
            elif fresh.exists():
                if dest.is_dir() and not dest.is_symlink():
                    dest.rename(aside)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(fresh, dest)
            elif dest.exists() or dest.is_symlink():
                dest.rename(aside)  # no longer generated
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changed
