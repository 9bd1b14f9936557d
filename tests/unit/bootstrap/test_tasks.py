"""`inv bootstrap`: the collection's default task; an offline on-demand node says so and exits 1, found by a
bounded TCP connect (loopback test inventory only); user errors are one line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import tomlkit

from colab import inventory
from colab.bootstrap.run import NodeOffline, route
from tests.harness.inv import run_inv

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: nothing listens there


def loopback_with(tmp_path: Path, node: str, port: int) -> Path:
    doc = tomlkit.parse(LOOPBACK.read_text())
    doc["nodes"][node]["ssh_port"] = port  # type: ignore[index]
    path = tmp_path / "inventory.toml"
    path.write_text(tomlkit.dumps(doc))
    return path


def test_the_same_task_is_bootstrap_bootstrap_and_lists_its_options() -> None:
    assert run_inv("bootstrap.bootstrap", "--node", "writer", "--dry-run", "--steps", "verify").returncode == 0
    listed = run_inv("--list").stdout
    assert "bootstrap" in listed
    helped = run_inv("bootstrap", "--help").stdout
    assert "--steps" in helped and "--dry-run" in helped and "--json" in helped and "--inventory" in helped


def test_an_offline_on_demand_node_says_so_and_exits_1(tmp_path: Path) -> None:
    port = closed_port()
    res = run_inv("bootstrap", "--node", "projector", "--inventory", str(loopback_with(tmp_path, "projector", port)))
    assert res.returncode == 1
    assert res.stderr == (
        f"error: projector is on demand and offline: nothing answers on 127.0.20.7:{port} (mesh) or "
        f"127.0.10.70:{port} (LAN) within 3 s; power it on, then run `inv bootstrap --node projector` again\n"
    )
    assert res.stdout == ""


def test_an_always_on_node_that_does_not_answer_is_an_error_too(tmp_path: Path) -> None:
    port = closed_port()
    res = run_inv("bootstrap", "--node", "director", "--inventory", str(loopback_with(tmp_path, "director", port)))
    assert res.returncode == 1
    assert res.stderr.startswith("error: director does not answer on 127.0.20.2:")
    assert res.stderr.endswith("check that it is up and its sshd runs\n")


def test_the_lan_address_is_used_when_the_mesh_does_not_answer() -> None:
    node = inventory.load(LOOPBACK).node("director")
    dialled: list[str] = []

    def dial(host: str, port: int, timeout: float) -> bool:
        dialled.append(f"{host}:{port}/{timeout}")
        return host == str(node.lan)

    assert route(node, dial) == "lan"
    assert dialled == ["127.0.20.2:22/3.0", "127.0.10.20:22/3.0"]
    with pytest.raises(NodeOffline):
        route(node, lambda h, p, t: False)


def test_the_default_inventory_is_never_dialled_under_tests() -> None:
    res = run_inv("bootstrap", "--node", "director")  # a real run against the production addresses
    assert res.returncode == 1
    assert res.stderr.startswith("error: refusing to check that the node is up to 100.64.0.2")


def test_user_errors_are_one_line() -> None:
    for args, message in (
        (("bootstrap", "--node", "nope", "--dry-run"), "error: inventory: unknown node 'nope'; known nodes:"),
        (("bootstrap", "--dry-run"), "error: this machine (controller) is not a node of the inventory; pass --node"),
        (
            ("bootstrap", "--node", "writer", "--steps", "mesh,dns", "--dry-run"),
            "error: unknown step(s) dns in --steps; choose from mesh, install, fortress, chezmoi, venv, backup, verify",
        ),
    ):
        res = run_inv(*args, columns=2000)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        assert res.stderr.startswith(message), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
