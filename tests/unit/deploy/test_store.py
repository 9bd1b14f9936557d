"""Recorded deployments on the target with the real sh: written whole, read back, pruned, cut-off writes found."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.deploy import store
from colab.deploy.sync import File
from colab.deploy.target import Target, resolve
from colab.runner import Runner

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"


@pytest.fixture
def target(tmp_path: Path) -> Target:
    src = tmp_path / "src" / "web"
    src.mkdir(parents=True)
    (src / "compose.yaml").write_text("services: {}\n")
    text = LOOPBACK.read_text().replace('path = "/srv/fortress"', f'path = "{tmp_path / "fortress"}"')
    assert str(tmp_path) in text  # else the store would write to the inventory's real fortress path
    text += f'\n[services.web]\nnode = "cooperator"\ncompose = "{src}"\nsecrets_path = "/web"\n'
    return resolve(inventory.parse(text), "web", here="cooperator")


def runner() -> Runner:
    return Runner("cooperator", console=Console(file=io.StringIO()))


def deployment(id: int, text: str = "a") -> store.Deployment:
    files = [File("compose.yaml", f"services: {{}} # {text}\n".encode(), "644"), File("bin/run", b"\x00\xff", "755")]
    return store.Deployment(id, files, {"app": f"sha256:{id}"}, "2024-05-01T12:00:00+00:00", "crtr on x", "deploy")


def test_nothing_recorded_reads_as_empty(target: Target) -> None:
    state = store.read_state(runner(), target)
    assert state == store.State() and state.next_id == 1


def test_a_saved_deployment_reads_back_whole_and_becomes_current(target: Target) -> None:
    r = runner()
    dep = deployment(1)
    store.save(r, target, store.Current(1, dep.since, dep.by, "deploy"), dep, [])
    state = store.read_state(r, target)
    assert state.current == store.Current(1, dep.since, dep.by, "deploy") and state.ids == [1]
    assert store.read(r, target, 1) == dep  # binary content and modes included
    assert (
        state.current is not None and state.current.describe() == "#1 (deploy, 2024-05-01T12:00:00+00:00, by crtr on x)"
    )
    assert dep.same_as(dep.files, {"app": "sha256:1"}) and not dep.same_as(dep.files, {"app": "sha256:2"})


def test_old_records_are_dropped_but_never_the_current_one(target: Target) -> None:
    r = runner()
    for i in range(1, 8):
        state = store.read_state(r, target)
        current = store.Current(2 if i > 2 else i, "t", "me", "deploy")  # #2 stays current (rolled back to)
        store.save(r, target, current, deployment(i), state.to_drop(i))
    assert store.read_state(r, target).ids == [2, 3, 4, 5, 6, 7]
    assert store.read_state(r, target).before(5) == 4 and store.read_state(r, target).before(2) is None


def test_a_cut_off_write_is_found_and_removed(target: Target) -> None:
    r = runner()
    store.save(r, target, store.Current(1, "t", "me", "deploy"), deployment(1), [])
    folder = Path(target.state_dir)
    (folder / "deployments" / ".2.tmp").write_text('{"id": 2')
    (folder / ".current.tmp").write_text("")
    state = store.read_state(r, target)
    assert state.ids == [1] and sorted(state.leftovers) == sorted(
        [str(folder / "deployments" / ".2.tmp"), str(folder / ".current.tmp")]
    )
    assert len(store.recover(r, target, state)) == 2
    assert store.read_state(r, target).leftovers == []


def test_an_unreadable_current_is_treated_as_not_recorded(target: Target) -> None:
    folder = Path(target.state_dir)
    folder.mkdir(parents=True)
    (folder / "current").write_text("garbage\n")
    assert store.read_state(runner(), target).current is None
