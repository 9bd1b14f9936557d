"""The rendered chezmoi source tree applied by the real chezmoi, as each node of two inventories.

Each case renders an inventory into a temporary folder, runs `chezmoi init --apply` there with a
temporary HOME as one node (scripts excluded: they would write to /etc; the container test runs them),
and checks the node got exactly its files with the rendered content, nothing of the other nodes, and
that `chezmoi verify` exits 0. A node's checkout (`nodes.<node>.repo`) is chezmoi's source, so the
inventories are rendered with every node's checkout at the folder chezmoi is given.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from colab import inventory
from colab.render import chezmoi_source, disk
from colab.render.tree import render_tree
from tests.conftest import RENDER_CASES as CASES
from tests.conftest import RENDER_INVENTORIES as INVENTORIES
from tests.conftest import require_tool
from tests.harness.project_copy import git

USER_RC = "# the user's own line\nalias ll='ls -l'\n"
CHEZMOI_OWN = (".config/chezmoi/", ".local/share/chezmoi/", ".cache/chezmoi/")

pytestmark = [pytest.mark.tools, pytest.mark.integration]


@dataclass(frozen=True)
class Rendered:
    name: str
    inv: inventory.Inventory
    tree: dict[str, bytes]
    root: Path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    out = {}
    for name, path in INVENTORIES.items():
        root = tmp_path_factory.mktemp(f"rendered-{name}")
        inv = with_checkouts(path, root)
        tree = render_tree(inv)
        disk.write_tree(tree, root)
        out[name] = Rendered(name, inv, tree, root)
    return out


def with_checkouts(path: Path, checkout: Path) -> inventory.Inventory:
    """The inventory at `path` with every node's checkout (`nodes.<node>.repo`) at `checkout`."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for node in data["nodes"].values():
        node["repo"] = str(checkout)
    return inventory.from_dict(data)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment minus anything that would point chezmoi elsewhere than `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CHEZMOI", "COLAB_NODE"))}
    return {**env, "HOME": str(home), **extra}


def chezmoi(
    home: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    require_tool("chezmoi")
    proc = subprocess.run(
        ["chezmoi", *args, "--no-tty"],
        env=env or clean_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, f"chezmoi {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    return proc


def files_under(home: Path) -> dict[str, Path]:
    found = {}
    for path in home.rglob("*"):
        rel = path.relative_to(home).as_posix()
        if path.is_file() and not rel.startswith(CHEZMOI_OWN):
            found[rel] = path
    return found


def split(files: dict[str, bytes]) -> tuple[dict[str, tuple[str, bytes]], set[str]]:
    """A node's rendered files as {target: (source, bytes)} for files and {target} for scripts."""
    targets: dict[str, tuple[str, bytes]] = {}
    scripts: set[str] = set()
    for source, data in files.items():
        target = chezmoi_source.target_path(source)
        if source.startswith("run_"):
            scripts.add(target)
        else:
            targets[target] = (source, data)
    return targets, scripts


@pytest.mark.parametrize(("name", "node"), CASES)
def test_node_gets_exactly_its_share(rendered: dict[str, Rendered], tmp_path: Path, name: str, node: str) -> None:
    r = rendered[name]
    home = tmp_path / "home"
    home.mkdir()
    rc = ".zshrc" if r.inv.nodes[node].os == "macos" else ".bashrc"
    (home / rc).write_text(USER_RC)
    source = ["--source", str(r.root), "--destination", str(home)]
    env = clean_env(home, COLAB_NODE=node)

    chezmoi(home, "init", "--apply", "--exclude=scripts", *source, env=env)

    targets, scripts = split(chezmoi_source.node_sources(r.tree, node))
    got = files_under(home)
    assert sorted(got) == sorted(targets)
    for target, (src, data) in targets.items():
        if src.startswith("modify_"):  # the user's rc file keeps its lines and gains one
            body = got[target].read_text()
            assert body.startswith(USER_RC) and body.count("colab/env.sh") == 2  # one line, named twice
        else:
            assert got[target].read_bytes() == data, target
        assert bool(got[target].stat().st_mode & 0o100) == ("executable_" in src), target
    others = set(chezmoi_source.all_targets(r.tree)) - set(targets) - scripts
    assert others, "the other nodes' files are a real test"
    assert not [t for t in others if (home / t).exists()]

    managed = chezmoi(home, "managed", "--include=scripts", *source, env=env).stdout.split()
    assert sorted(managed) == sorted(scripts)
    assert chezmoi(home, "verify", "--exclude=scripts", *source, env=env).returncode == 0

    chezmoi(home, "apply", "--exclude=scripts", *source, env=env)  # a second apply changes nothing
    assert (home / rc).read_text().count("colab/env.sh") == 2
    assert chezmoi(home, "status", "--exclude=scripts", *source, env=env).stdout == ""


def test_unknown_host_fails_listing_the_known_nodes(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    r = rendered["other"]
    proc = chezmoi(
        home,
        "init",
        "--apply",
        "--exclude=scripts",
        "--source",
        str(r.root),
        "--destination",
        str(home),
        env=clean_env(home, COLAB_NODE="nosuch"),
        check=False,
    )
    assert proc.returncode != 0
    assert 'this host is "nosuch", which is not a node of the inventory; known nodes: hub, studio, forge' in proc.stderr
    assert proc.stderr.count("which is not a node") == 1 and "printf" not in proc.stderr  # no template text before it
    assert not (home / ".config/mise").exists()


def test_node_comes_from_the_hostname_command_without_override(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    """`output "hostname"`, first label, any case: a fake `hostname` on PATH plays an FQDN host."""
    home = tmp_path / "home"
    home.mkdir()
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "hostname").write_text("#!/bin/sh\necho Studio.lab.example\n")
    (fake / "hostname").chmod(0o755)
    r = rendered["other"]
    env = clean_env(home)
    env["PATH"] = f"{fake}:{env['PATH']}"
    chezmoi(home, "init", "--apply", "--exclude=scripts", "--source", str(r.root), "--destination", str(home), env=env)
    assert (home / "Library/LaunchAgents/colab.fortress.plist").exists()
    assert 'COLAB_NODE = "studio"' in (home / ".config/mise/conf.d/colab-node.toml").read_text()
    assert 'node = "studio"' in (home / ".config/chezmoi/chezmoi.toml").read_text()


def test_init_clones_into_the_nodes_checkout_and_plain_chezmoi_keeps_using_it(tmp_path: Path) -> None:
    """`chezmoi init --apply --source <checkout> <repo>`: the clone is the node's checkout, `.chezmoiroot` at
    its top selects chezmoi/, and the config's sourceDir makes a later plain apply/verify/update use it.
    A plain `chezmoi init --apply <repo>` (into chezmoi's default folder) is refused with that command."""
    origin, checkout = tmp_path / "origin", tmp_path / "checkout"
    inv = with_checkouts(INVENTORIES["default"], checkout)
    tree = render_tree(inv)
    disk.write_tree(tree, origin)
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "rendered")
    url = f"file://{origin}"
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, COLAB_NODE="writer")

    plain = chezmoi(home, "init", "--apply", "--exclude=scripts", url, env=env, check=False)
    assert plain.returncode != 0
    default = home / ".local/share/chezmoi"
    assert (
        f"colab: chezmoi's source is {default}, but writer's checkout of the repo, where its tasks run, is "
        f"{checkout} (nodes.writer.repo); they must be one folder: run `chezmoi init --apply --source {checkout} "
        f"{inv.cluster.repo_url}` ({default} is not needed then)"
    ) in plain.stderr
    assert not (home / ".config/chezmoi").exists() and not (home / ".config/mise").exists()

    chezmoi(home, "init", "--apply", "--exclude=scripts", "--source", str(checkout), url, env=env)
    assert git(checkout, "rev-parse", "--show-toplevel") == str(checkout)
    assert git(checkout, "remote", "get-url", "origin") == url
    assert (checkout / ".chezmoiroot").read_text() == "chezmoi\n"
    config = (home / ".config/chezmoi/chezmoi.toml").read_text()
    assert f'sourceDir = "{checkout}"' in config and 'node = "writer"' in config
    assert (home / ".config/colab/fortress/mount-fortress.sh").exists()
    assert f"export COLAB_REPO={checkout}\n" in (home / ".config/colab/env.sh").read_text()

    # later, plain commands (no --source, no COLAB_NODE) use the checkout
    later = clean_env(home)
    assert chezmoi(home, "source-path", env=later).stdout.strip() == str(checkout / "chezmoi")
    assert chezmoi(home, "verify", "--exclude=scripts", env=later).returncode == 0
    shared = origin / "chezmoi/dot_config/mise/config.toml"
    shared.write_text(shared.read_text() + "# a later commit\n")
    git(origin, "commit", "-q", "-am", "later")
    stale = git(default, "rev-parse", "HEAD")
    chezmoi(home, "update", "--exclude=scripts", env=later)
    assert git(checkout, "rev-parse", "HEAD") == git(origin, "rev-parse", "HEAD")
    assert (home / ".config/mise/config.toml").read_text().endswith("# a later commit\n")
    assert git(default, "rev-parse", "HEAD") == stale  # the refused clone is not used
    assert chezmoi(home, "verify", "--exclude=scripts", env=later).returncode == 0


def test_a_node_gone_from_the_inventory_is_told_to_init_again(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    r = rendered["default"]
    source = ["--source", str(r.root), "--destination", str(home)]
    chezmoi(home, "init", "--apply", "--exclude=scripts", *source, env=clean_env(home, COLAB_NODE="director"))
    config = home / ".config/chezmoi/chezmoi.toml"
    config.write_text(config.read_text().replace('"director"', '"retired"'))  # as if removed since init
    proc = chezmoi(home, "apply", "--exclude=scripts", *source, check=False)
    assert proc.returncode != 0
    assert 'colab: node "retired" (chosen at chezmoi init) is not in the inventory; run `chezmoi init` again' in (
        proc.stderr
    )
    assert proc.stderr.count("chosen at chezmoi init") == 1 and "printf" not in proc.stderr
