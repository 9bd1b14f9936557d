"""`inv status` as a user runs it: bad options are one line, the real cluster is refused, nodes that do not
answer are rows (a loopback inventory whose SSH ports are closed), --json is the data, exit codes 0/1."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import tomlkit

from tests.harness.inv import run_inv

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def closed_inventory(tmp_path: Path) -> Path:
    """loopback.toml with every node's SSH on a port nothing listens on."""
    doc = tomlkit.parse(LOOPBACK.read_text())
    port = closed_port()
    for name in doc["nodes"]:  # type: ignore[union-attr]
        doc["nodes"][name]["ssh_port"] = port  # type: ignore[index]
    path = tmp_path / "inventory.toml"
    path.write_text(tomlkit.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "soon"], "error: --timeout 'soon' is not a number of seconds; use e.g. --timeout 5"),
        (["--timeout", "0"], "error: --timeout 0: use a number of seconds between 0 and 3600, e.g. --timeout 5"),
        (["--now", "yesterday"], "error: --now 'yesterday' is not a date and time; use YYYY-MM-DDTHH:MM"),
    ],
)
def test_bad_options_are_one_line(args: list[str], message: str) -> None:
    res = run_inv("status", "-i", str(LOOPBACK), *args)
    assert res.returncode == 1
    assert res.stderr.strip().startswith(message) and len(res.stderr.strip().splitlines()) == 1
    assert res.stdout == ""


def test_the_default_inventory_is_refused_and_nothing_is_contacted() -> None:
    res = run_inv("status")
    assert res.returncode == 1
    assert res.stderr.strip() == (
        "error: refusing to send a status probe for cooperator to 100.64.0.1: under tests/CI only loopback and "
        "the test containers' networks (COLAB_TEST_NETWORKS) may be contacted; use a test inventory or --dry-run"
    )


def test_unreachable_nodes_are_rows_not_hangs(closed_inventory: Path) -> None:
    res = run_inv("status", "-i", str(closed_inventory), "--json", "--timeout", "3")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    rows = {n["node"]: {c: (v["level"], v["text"]) for c, v in n["checks"].items()} for n in doc["nodes"]}
    assert rows["director"] == {
        "mesh": ("critical", "down (connection refused)"),
        "lan": ("critical", "down (connection refused)"),
        "docker": ("unknown", "?"),
        "fortress": ("unknown", "?"),
        "services": ("-", "-"),
        "raid": ("-", "-"),
        "backup": ("-", "-"),
        "free": ("-", "-"),
    }
    assert set(rows["projector"].values()) == {("off", "off"), ("-", "-")}  # on-demand and off: not an error
    assert [(p["node"], p["check"]) for p in doc["problems"]] == [
        ("cooperator", "reach"),
        ("director", "reach"),
        ("writer", "reach"),
        ("terminator", "reach"),
    ]


def test_the_table(closed_inventory: Path) -> None:
    res = run_inv("status", "-i", str(closed_inventory), "--timeout", "3")
    assert res.returncode == 1
    assert "colab cluster at " in res.stdout
    line = "✗ terminator reach: unreachable: mesh down (connection refused); LAN down (connection refused)"
    assert line in res.stdout
    assert res.stdout.rstrip().endswith("4 critical")
