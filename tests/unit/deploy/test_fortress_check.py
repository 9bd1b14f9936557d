"""Deploy refuses a node whose fortress is not there (colab.deploy.fortress_check), with the real `sh`.

The check looks for the inventory's fortress folders on the target (they exist only on the share); missing
ones stop the deploy in one line before anything is written. The boot-and-reboot side of the same guarantee is
tests/integration/test_reboot.py, where `inv deploy` is refused on a real node that came back without fortress.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from colab import inventory
from colab.deploy import fortress_check
from colab.errors import ColabError
from colab.runner import Runner

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")


def session(fortress: Path, node: str = "director", dry_run: bool = False) -> SimpleNamespace:
    target = SimpleNamespace(fortress=str(fortress), node=INV.node(node), service=INV.services["gitea"])
    runner = Runner(node=node, dry_run=dry_run, console=Console(file=io.StringIO()))
    return SimpleNamespace(target=target, node=runner)


def test_all_folders_there_passes_and_writes_nothing(tmp_path: Path) -> None:
    for folder in INV.fortress.folders:
        (tmp_path / folder).mkdir()
    fortress_check.require_folders(INV, session(tmp_path))  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(INV.fortress.folders)


@pytest.mark.parametrize(("node", "fix"), [("director", "inv fortress.mount --node director"),
                                           ("cooperator", "inv fortress.share --node cooperator")])  # fmt: skip
def test_a_bare_mount_point_is_refused_in_one_line(tmp_path: Path, node: str, fix: str) -> None:
    bare = tmp_path / "my fortress"  # a path with a space: one folder per line
    bare.mkdir()
    (bare / "data").mkdir()
    with pytest.raises(ColabError) as info:
        fortress_check.require_folders(INV, session(bare, node))  # type: ignore[arg-type]
    assert str(info.value) == (
        f"fortress is not mounted on {node}: {bare}/docker, {bare}/cache missing, and gitea would be written onto "
        f"the bare mount point; mount it (`{fix}`), then deploy again (nothing was changed)"
    )
    assert sorted(p.name for p in bare.iterdir()) == ["data"]  # nothing written


def test_a_dry_run_only_shows_the_check(tmp_path: Path) -> None:
    s = session(tmp_path / "absent", dry_run=True)
    fortress_check.require_folders(INV, s)  # type: ignore[arg-type]
    assert s.node.history == [
        'sh -c \'for d; do [ -d "$d" ] || printf "%s\\n" "$d"; done\' sh '
        + " ".join(f"{tmp_path}/absent/{f}" for f in INV.fortress.folders)
    ]
