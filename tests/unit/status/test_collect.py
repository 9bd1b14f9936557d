"""Parallel probing with a deadline per node, the verdict, the JSON and the table (probes replaced here; the
real ones run against containers in tests/integration/test_status.py)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.errors import NetworkGuardError
from colab.inventory import Node
from colab.status import collect, reach, view
from colab.status.collect import Collector, Context, Recorder
from colab.status.model import COLUMNS, Check, Level, ServiceState

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = inventory.load(ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml")
NOW = datetime(2024, 1, 3, 10, 0)


def ok_probe(ctx: Context, node: Node, rec: Recorder) -> None:
    for col in COLUMNS:
        rec.put(col, Check(Level.OK, f"{col} fine"))
    rec.finish()


def run(probe: object, timeout: float = 2.0, inv: inventory.Inventory = LOOPBACK) -> collect.ClusterStatus:
    return Collector(Context(inv, "cooperator", NOW, timeout), probe).run()  # type: ignore[arg-type]


def test_nodes_are_probed_at_the_same_time() -> None:
    def slow(ctx: Context, node: Node, rec: Recorder) -> None:
        time.sleep(0.5)
        ok_probe(ctx, node, rec)

    started = time.monotonic()
    status = run(slow)
    assert time.monotonic() - started < 1.2  # five nodes of 0.5 s each, in parallel
    assert [n.node for n in status.nodes] == list(LOOPBACK.nodes)
    assert status.exit_code == 0 and not status.problems()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # let the stuck probes end


def test_a_node_that_hangs_is_a_row_that_says_so(release: threading.Event) -> None:
    def hangs_on(names: set[str]) -> object:
        def probe(ctx: Context, node: Node, rec: Recorder) -> None:
            rec.put("mesh", Check(Level.OK, "up"))
            if node.name in names:
                rec.put("lan", Check(Level.OK, "up"))
                release.wait(60)  # e.g. an SSH login that never completes
            ok_probe(ctx, node, rec)

        return probe

    started = time.monotonic()
    status = run(hangs_on({"writer", "projector"}), timeout=0.5)
    assert time.monotonic() - started < 1.0
    writer = status.nodes[2]
    assert [(c, writer.checks[c].level, writer.checks[c].text) for c in COLUMNS[:4]] == [
        ("mesh", Level.OK, "up"),
        ("lan", Level.OK, "up"),
        ("docker", Level.CRIT, "no answer within 0.5s"),  # always on: critical
        ("fortress", Level.UNKNOWN, "?"),
    ]
    projector = status.nodes[3]
    assert projector.checks["docker"].level == Level.WARN  # on-demand: it is on, but slow
    assert [(n, c) for n, c, _ in status.problems()] == [("writer", "docker"), ("projector", "docker")]
    assert status.exit_code == 1
    release.set()
    time.sleep(0.1)
    assert status.nodes[2].checks["docker"].text == "no answer within 0.5s"  # late results are dropped


def test_a_failing_probe_takes_only_its_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def body(ctx: Context, node: Node, rec: Recorder) -> None:
        if node.name == "director":
            rec.put("mesh", Check(Level.OK, "up"))
            raise RuntimeError("boom")
        for col in COLUMNS:
            rec.put(col, Check(Level.OK, f"{col} fine"))

    monkeypatch.setattr(collect, "_probe", body)  # probe_node's own error handling stays
    status = run(collect.probe_node)
    director = status.nodes[1]
    assert director.checks["lan"] == Check(Level.CRIT, "status failed: RuntimeError: boom")
    assert director.checks["docker"] == Check(Level.UNKNOWN, "?")
    assert status.nodes[0].checks["lan"].level == Level.OK
    assert status.exit_code == 1


def test_the_real_cluster_is_refused_before_anything_is_contacted() -> None:
    default = inventory.load(ROOT / "cluster.toml")
    with pytest.raises(NetworkGuardError, match=r"refusing to send a status probe for cooperator to 100.64.0.1"):
        collect.collect(default, now=NOW, timeout=1, here="nowhere")


def test_a_non_positive_timeout_is_refused() -> None:
    with pytest.raises(collect.ColabError, match="--timeout 0: must be more than 0 seconds"):
        collect.collect(LOOPBACK, now=NOW, timeout=0)


# ------------------------------------------------------------------------------------------- reach


def test_tcp_reach_on_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        up = reach.tcp("127.0.0.1", port, 1.0)
    assert up.ok and up.detail == "" and up.ms >= 0
    down = reach.tcp("127.0.0.1", port, 1.0)  # closed now
    assert (down.ok, down.detail) == (False, "connection refused")
    assert reach.tcp("127.0.0.1", port, 0) == reach.Reach(False, "no time left")
    with pytest.raises(NetworkGuardError):
        reach.tcp("192.168.254.20", 22, 1.0)


# -------------------------------------------------------------------------------------- verdict


def row(node: str, availability: str = "always", **checks: Check) -> collect.NodeStatus:
    full = {col: checks.get(col, Check(Level.OK, "fine")) for col in COLUMNS}
    return collect.NodeStatus(node, availability, False, full)


def cluster(*rows: collect.NodeStatus) -> collect.ClusterStatus:
    return collect.ClusterStatus("colab", NOW, 10.0, list(rows))


def test_exit_codes() -> None:
    assert cluster(row("a"), row("b", "on-demand", mesh=Check(Level.OFF, "off"))).exit_code == 0
    assert cluster(row("a", raid=Check(Level.WARN, "recovery"))).exit_code == 2
    assert cluster(row("a", raid=Check(Level.WARN, "x")), row("b", backup=Check(Level.CRIT, "old"))).exit_code == 1
    assert cluster(row("a", docker=Check(Level.UNKNOWN, "?"))).exit_code == 0  # unknown alone is not a verdict


def test_an_unreachable_node_is_one_problem() -> None:
    down = row(
        "t", mesh=Check(Level.CRIT, "down (connection refused)"), lan=Check(Level.CRIT, "down (no answer within 5s)")
    )
    half = row("w", mesh=Check(Level.WARN, "down (connection refused)"))
    problems = cluster(down, half).problems()
    assert [(n, c, k.level, k.text) for n, c, k in problems] == [
        ("t", "reach", Level.CRIT, "unreachable: mesh down (connection refused); LAN down (no answer within 5s)"),
        ("w", "mesh", Level.WARN, "down (connection refused)"),
    ]


def test_a_service_problem_names_only_the_services_that_are_wrong() -> None:
    r = row("d", services=Check(Level.CRIT, "web: healthy\nsick: app running, unhealthy"))
    r.services = [
        ServiceState("web", Level.OK, "web: healthy"),
        ServiceState("sick", Level.CRIT, "sick: app running, unhealthy"),
    ]
    assert [(c, k.text) for _, c, k in cluster(r).problems()] == [("services", "sick: app running, unhealthy")]


def test_json_document() -> None:
    r = row("a", backup=Check(Level.CRIT, "fortress-20240101, 2d ago, ok: older than 26h", {"age_hours": 54.8}))
    r.services = [ServiceState("web", Level.OK, "web: healthy", [{"name": "web-web-1"}])]
    doc = json.loads(cluster(r).to_json())
    assert doc["exit_code"] == 1 and doc["now"] == "2024-01-03T10:00" and doc["timeout"] == 10.0
    assert doc["nodes"][0]["checks"]["backup"] == {
        "level": "critical",
        "text": "fortress-20240101, 2d ago, ok: older than 26h",
        "age_hours": 54.8,
    }
    assert list(doc["nodes"][0]["checks"]) == list(COLUMNS)
    assert doc["nodes"][0]["services"] == [
        {"service": "web", "level": "ok", "text": "web: healthy", "containers": [{"name": "web-web-1"}]}
    ]
    assert doc["problems"] == [
        {"node": "a", "check": "backup", "level": "critical", "text": "fortress-20240101, 2d ago, ok: older than 26h"}
    ]


def test_table_and_problem_lines() -> None:
    r1 = row("cooperator", raid=Check(Level.WARN, "recovery, 23.0%"))
    r1.here = True
    r2 = row("projector", "on-demand", **{c: Check(Level.OFF, "off") for c in COLUMNS})
    console = Console(width=220, record=True, color_system=None)
    console.print(view.render(cluster(r1, r2)))
    text = console.export_text()
    assert "colab cluster at 2024-01-03 10:00" in text
    assert "│ cooperator │" in text and "│ (here)     │" in text and "on-demand" in text
    assert "! cooperator raid: recovery, 23.0%" in text
    assert text.rstrip().endswith("1 warning")
    console = Console(width=220, record=True, color_system=None)
    console.print(view.render(cluster(row("a"))))
    assert console.export_text().rstrip().endswith("all good")
