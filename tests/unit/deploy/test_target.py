"""Target resolution: node, engine, folders, placement rules (default and test inventories, no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest

from colab import compose, inventory
from colab.deploy.target import resolve
from colab.errors import ColabError, NetworkGuardError

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")
LOOPBACK = inventory.load(ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml")


def test_on_the_node_itself_the_engine_is_the_local_socket() -> None:
    t = resolve(INV, "gitea", here="cooperator")
    assert (t.node.name, t.local, t.docker_host, t.moved) == ("cooperator", True, "", False)
    assert t.fortress == "/srv/fortress"
    assert t.project_dir == "/srv/fortress/docker/gitea" == compose.project_dir(INV, t.service)
    assert t.data_dir == "/srv/fortress/data/gitea"
    assert t.compose_file == ROOT / "compose" / "gitea" / "compose.yaml"


def test_from_another_node_the_engine_is_reached_over_ssh_to_the_mesh_address() -> None:
    t = resolve(INV, "gitea", here="director", dry_run=True)
    assert (t.local, t.docker_host) == (False, "ssh://crtr@100.64.0.1")
    # paths stay the target's, whatever node we run on
    assert t.project_dir == "/srv/fortress/docker/gitea"


def test_a_non_default_ssh_port_is_part_of_docker_host(tmp_path: Path) -> None:
    text = (ROOT / "tests/fixtures/inventories/loopback.toml").read_text()
    text = text.replace("[nodes.director]\n", "[nodes.director]\nssh_port = 2222\n")
    inv = inventory.parse(text)
    t = resolve(inv, "gitea", "director", here="cooperator", yes=True)
    assert t.docker_host == "ssh://crtr@127.0.20.2:2222"
    assert (t.fortress, t.moved) == ("/mnt/fortress", True)  # a Linux client's mount point


def test_real_runs_against_the_production_addresses_are_refused_under_tests() -> None:
    with pytest.raises(NetworkGuardError, match=r"refusing to use the Docker engine of cooperator to 100\.64\.0\.1"):
        resolve(INV, "gitea", here="director")


def test_moving_a_service_needs_yes_when_there_is_no_terminal() -> None:
    with pytest.raises(ColabError) as info:
        resolve(LOOPBACK, "gitea", "director", here="cooperator")
    assert str(info.value) == (
        "gitea is placed on cooperator by the inventory; deploying it on director needs confirmation: "
        "add --yes (no terminal to ask on)"
    )


def test_moving_a_service_asks_and_a_no_keeps_it_in_place() -> None:
    asked: list[str] = []

    def no(question: str) -> bool:
        asked.append(question)
        return False

    with pytest.raises(ColabError, match=r"not confirmed; gitea stays where the inventory places it \(cooperator\)"):
        resolve(LOOPBACK, "gitea", "director", here="cooperator", confirm=no)
    assert asked == ["gitea is placed on cooperator by the inventory; deploy it on director instead?"]
    t = resolve(LOOPBACK, "gitea", "director", here="cooperator", confirm=lambda q: True)
    assert (t.node.name, t.moved) == ("director", True)


def test_naming_the_inventory_node_needs_no_confirmation() -> None:
    assert resolve(LOOPBACK, "gitea", "cooperator", here="cooperator").moved is False


def test_a_gpu_service_cannot_move_to_a_node_without_one() -> None:
    other = inventory.load(ROOT / "tests/fixtures/inventories/other.toml")
    with pytest.raises(ColabError, match="llm requires a GPU and hub has none"):
        resolve(other, "llm", "hub", here="hub", yes=True)


def test_unknown_names_and_missing_compose_folders_are_one_line_errors() -> None:
    with pytest.raises(ColabError, match="unknown service 'nope'; known services: caddy, pihole"):
        resolve(LOOPBACK, "nope", here="cooperator")
    with pytest.raises(ColabError, match="unknown node 'moon'"):
        resolve(LOOPBACK, "gitea", "moon", here="cooperator")
    other = inventory.load(ROOT / "tests/fixtures/inventories/other.toml")
    with pytest.raises(ColabError, match=r"compose/forgejo/compose.yaml not found; services.forgejo.compose must"):
        resolve(other, "forgejo", here="hub")
