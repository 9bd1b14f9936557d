"""`inv bootstrap`: the collection's default task; an offline on-demand node says so and exits 1, found by a
bounded TCP connect (loopback test inventory only); user errors are one line."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
import tomlkit

from colab import inventory
from colab.bootstrap.run import NodeOffline, route

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"


def inv(*args: str, node: str = "controller") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLAB_NODE": node, "COLUMNS": "2000"}
    env.pop("COLAB_INVENTORY", None)
    return subprocess.run(
        ["inv", *args], cwd=ROOT, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
    )


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


@pytest.mark.parametrize("node", ["cooperator", "director", "writer", "projector", "terminator"])
def test_inv_bootstrap_dry_run_prints_a_complete_plan_for_every_node(node: str) -> None:
    res = inv("bootstrap", "--node", node, "--dry-run")
    assert res.returncode == 0, res.stderr
    family = inventory.load(ROOT / "cluster.toml").nodes[node].os
    assert f"[{node}] # bootstrap {node} ({family}) over SSH" in res.stdout
    for group in ("mesh:", "install:", "fortress:", "chezmoi:", "verify:"):
        assert group in res.stdout
    # no step failed (the status column); the plan itself may print scripts that mention failures
    assert "planned" in res.stdout and not re.search(r"│ failed +│", res.stdout)


def test_the_same_task_is_bootstrap_bootstrap_and_lists_its_options() -> None:
    assert inv("bootstrap.bootstrap", "--node", "writer", "--dry-run", "--steps", "verify").returncode == 0
    listed = inv("--list").stdout
    assert "bootstrap" in listed
    helped = inv("bootstrap", "--help").stdout
    assert "--steps" in helped and "--dry-run" in helped and "--json" in helped and "--inventory" in helped


def test_an_offline_on_demand_node_says_so_and_exits_1(tmp_path: Path) -> None:
    port = closed_port()
    res = inv("bootstrap", "--node", "projector", "--inventory", str(loopback_with(tmp_path, "projector", port)))
    assert res.returncode == 1
    assert res.stderr == (
        f"error: projector is on demand and offline: nothing answers on 127.0.20.7:{port} (mesh) or "
        f"127.0.10.70:{port} (LAN) within 3 s; power it on, then run `inv bootstrap --node projector` again\n"
    )
    assert res.stdout == ""


def test_an_always_on_node_that_does_not_answer_is_an_error_too(tmp_path: Path) -> None:
    port = closed_port()
    res = inv("bootstrap", "--node", "director", "--inventory", str(loopback_with(tmp_path, "director", port)))
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
    res = inv("bootstrap", "--node", "director")  # a real run against the production addresses
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
        res = inv(*args)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        assert res.stderr.startswith(message), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
