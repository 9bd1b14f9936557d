"""`inv status --metrics DIR --html FILE` as cron runs it: both files written (atomically) whatever the verdict,
the exit code unchanged; bad paths are one line before anything is probed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomlkit

from colab.metrics import status_metrics as sm
from tests.harness.inv import run_inv
from tests.unit.status.test_tasks import LOOPBACK, closed_port

from .page import parse


@pytest.fixture
def closed_inventory(tmp_path: Path) -> Path:
    """loopback.toml with every node's SSH on a port nothing listens on (as tests/unit/status/test_tasks.py)."""
    doc = tomlkit.parse(LOOPBACK.read_text())
    port = closed_port()
    for name in doc["nodes"]:  # type: ignore[union-attr]
        doc["nodes"][name]["ssh_port"] = port  # type: ignore[index]
    path = tmp_path / "inventory.toml"
    path.write_text(tomlkit.dumps(doc))
    return path


def test_the_export_writes_the_metrics_and_the_page(closed_inventory: Path, tmp_path: Path) -> None:
    metrics, page = tmp_path / "metrics", tmp_path / "site" / "index.html"
    metrics.mkdir()
    page.parent.mkdir()
    res = run_inv(
        "status",
        "-i",
        str(closed_inventory),
        "--json",
        "--timeout",
        "3",
        "--metrics",
        str(metrics),
        "--html",
        str(page),
    )
    assert res.returncode == 1, res.stderr  # four always-on nodes unreachable: critical, as without the export
    assert json.loads(res.stdout)["exit_code"] == 1
    text = (metrics / sm.FILE).read_text()
    assert [line for line in text.splitlines() if line.startswith("colab_node_up")] == [
        'colab_node_up{node="cooperator",availability="always"} 0',
        'colab_node_up{node="director",availability="always"} 0',
        'colab_node_up{node="writer",availability="always"} 0',
        'colab_node_up{node="projector",availability="on-demand"} 0',
        'colab_node_up{node="terminator",availability="always"} 0',
    ]
    assert 'colab_status_problems{level="critical"} 4\n' in text
    assert sorted(p.name for p in metrics.iterdir()) == [sm.FILE]  # no read sample asked, no temporary left
    doc = parse(page.read_text())
    assert [a.attrs["data-node"] for a in doc.find_all("article")] == [
        "cooperator",
        "director",
        "writer",
        "projector",
        "terminator",
    ]
    assert doc.find("p", id="verdict").text == "✗4 critical"


def test_a_read_sample_run_also_writes_its_file(closed_inventory: Path, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    res = run_inv("status", "-i", str(closed_inventory), "--timeout", "3", "--metrics", str(metrics), "--read-sample")
    assert res.returncode == 1, res.stderr
    assert sorted(p.name for p in metrics.iterdir()) == sorted([sm.FILE, sm.READ_FILE])
    assert (metrics / sm.READ_FILE).read_text() == ""  # nobody could be asked: no sample, an empty file


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--metrics",
            "missing",
            "error: --metrics {tmp}/missing: not a directory; give node-exporter's textfile directory",
        ),
        (
            "--html",
            "missing/index.html",
            "error: --html {tmp}/missing/index.html: the folder {tmp}/missing does not exist; create it first",
        ),
        ("--html", "", "error: --html {tmp}/: is a directory; give a file name, e.g. {tmp}/index.html"),
    ],
)
def test_bad_paths_are_one_line_and_nothing_is_probed(
    closed_inventory: Path,
    tmp_path: Path,
    option: str,
    value: str,
    message: str,
) -> None:
    res = run_inv("status", "-i", str(closed_inventory), option, f"{tmp_path}/{value}")
    assert res.returncode == 1
    assert res.stderr.strip() == message.format(tmp=tmp_path)
    assert res.stdout == ""  # refused before the table: nothing was probed
