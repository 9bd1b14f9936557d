"""The status page in a real browser (Debian's headless Chromium) and behind the real Caddy.

- A critical and a healthy cluster (tests/unit/monitoring/clusters.py) rendered by `colab.status.html`,
  opened at phone width (390 px): the DOM Chromium built (--dump-dom) has the verdict, the problems and a
  card per node with their levels, and the layout fits the screen (a probe script, added to a copy of the
  page for the test only, records the page's scroll width and its grid's column count; the page itself has
  no script). At desktop width the cards flow into several columns.
- `inv status --html` for real, served by Caddy with the site `inv render` writes (a copy of its status
  block on an http port): Chromium reads the page through Caddy; a client outside the LAN, the mesh and
  this host (here: ::1, which the site's ranges leave out) gets 403.
- A screenshot at phone width; with COLAB_DOCS_SCREENSHOT=1 it replaces docs/status-page.png.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
import tomlkit

from colab import inventory
from colab.render.tree import render_tree
from colab.status import html
from tests.conftest import require_tool
from tests.harness.inv import run_inv
from tests.unit.monitoring.clusters import critical, healthy
from tests.unit.monitoring.page import Element, parse

pytestmark = [pytest.mark.integration, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"
PHONE, DESKTOP = (390, 844), (1280, 900)
# Test-only: a frame of exactly the phone's width holds a copy of the page with a probe that reports its layout
# (Chromium's headless window is never narrower than 500 px; a frame is). The page itself has no script.
PROBE = (
    "<script>parent.postMessage(JSON.stringify({scroll:document.documentElement.scrollWidth,"
    "client:document.documentElement.clientWidth,inner:innerWidth,"
    "columns:getComputedStyle(document.getElementById('nodes')).gridTemplateColumns.split(' ').length}),'*')"
    "</script>"
)
FRAME = (
    '<!doctype html><html><body style="margin:0"><iframe src="{page}" style="width:{w}px;height:{h}px;border:0">'
    "</iframe><script>addEventListener('message',e=>{{document.body.dataset.layout=e.data}})</script></body></html>"
)


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    require_tool("chromium")
    profile = tmp / f"profile-{time.monotonic_ns()}"
    argv = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def dom(tmp: Path, url: str, size: tuple[int, int], *extra: str) -> Element:
    return parse(chromium(tmp, f"--window-size={size[0]},{size[1]}", *extra, "--dump-dom", url).stdout)


def probed(tmp: Path, page: str, size: tuple[int, int]) -> tuple[Element, dict[str, int]]:
    """The page's DOM as Chromium built it at this window size, and its layout in a viewport of that size."""
    (tmp / "page.html").write_text(page)
    doc = dom(tmp, (tmp / "page.html").as_uri(), size)
    (tmp / f"probed-{size[0]}.html").write_text(page.replace("</body>", f"{PROBE}</body>"))
    frame = tmp / f"frame-{size[0]}.html"
    frame.write_text(FRAME.format(page=f"probed-{size[0]}.html", w=size[0], h=size[1]))
    outer = dom(tmp, frame.as_uri(), (size[0] + 40, size[1] + 40), "--virtual-time-budget=5000")
    return doc, json.loads(outer.find("body").attrs["data-layout"])


def levels(doc: Element) -> dict[str, str]:
    return {a.attrs["data-node"]: a.attrs["data-level"] for a in doc.find_all("article")}


def test_a_critical_cluster_on_a_phone(tmp_path: Path) -> None:
    page = html.render(critical(), refresh=300)
    doc, layout = probed(tmp_path, page, PHONE)
    assert layout["inner"] == PHONE[0] and layout["columns"] == 1
    assert layout["scroll"] == layout["client"]  # nothing wider than the screen: no sideways scrolling
    assert doc.find("header").attrs["data-level"] == "critical"
    assert doc.find("p", id="verdict").text == "✗5 critical, 1 warning"
    problems = doc.find("section", id="problems").find_all("li")
    assert [(li.attrs["data-node"], li.attrs["data-check"]) for li in problems][:3] == [
        ("cooperator", "services"),
        ("cooperator", "raid"),
        ("cooperator", "backup"),
    ]
    assert levels(doc) == {
        "cooperator": "critical",
        "director": "critical",
        "terminator": "critical",
        "projector": "off",
    }
    raid = doc.find("article", data_node="cooperator").find("div", data_check="raid")
    assert (raid.attrs["data-level"], raid.find("dd").text) == ("critical", "✗degraded, [2/1] [U_]")
    _, wide = probed(tmp_path, page, DESKTOP)
    assert wide["inner"] == DESKTOP[0] and wide["columns"] >= 3 and wide["scroll"] == wide["client"]


def test_a_healthy_cluster_on_a_phone(tmp_path: Path) -> None:
    doc, layout = probed(tmp_path, html.render(healthy()), PHONE)
    assert layout["inner"] == PHONE[0] and layout["columns"] == 1 and layout["scroll"] == layout["client"]
    assert doc.find("header").attrs["data-level"] == "ok"
    assert doc.find("p", id="verdict").text == "✓all good"
    assert doc.find_all("section") == []
    assert levels(doc) == {"cooperator": "ok", "director": "ok", "writer": "ok", "projector": "off"}
    services = doc.find("article", data_node="cooperator").find_all("li")
    assert [(li.attrs["data-service"], li.attrs["data-level"]) for li in services] == [
        ("caddy", "ok"),
        ("gitea", "ok"),
        ("prometheus", "ok"),
    ]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_a_screenshot_for_the_docs(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(html.render(critical()))
    shot = tmp_path / "status-page.png"
    chromium(tmp_path, "--window-size=390,1100", "--hide-scrollbars", f"--screenshot={shot}", page.as_uri())
    data = shot.read_bytes()
    assert png_size(data) == (390, 1100)
    print(
        f"\nstatus page: critical {len(page.read_bytes())} bytes, healthy {len(html.render(healthy()).encode())} bytes"
    )
    if os.environ.get("COLAB_DOCS_SCREENSHOT") == "1":
        shutil.copy(shot, ROOT / "docs" / "status-page.png")


# ------------------------------------------------------------------------------------ behind Caddy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status_site(port: int, root: Path) -> str:
    """The status site of the Caddyfile `inv render` writes, on plain http and this port, serving `root`."""
    text = render_tree(inventory.load(ROOT / "cluster.toml"))["compose/caddy/Caddyfile"].decode()
    block = re.search(r"^status\.ism\.la \{\n.*?^\}\n", text, re.S | re.M)
    assert block, text
    site = block.group(0).replace("status.ism.la {", f"http://status.ism.la:{port} {{")
    site = site.replace("root * /srv/status", f"root * {root}")
    return "{\n\tadmin off\n}\n\n" + site


def get(host: str, port: int) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": f"status.ism.la:{port}"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_inv_status_html_served_by_caddy(tmp_path: Path) -> None:
    require_tool("caddy")
    doc = tomlkit.parse(LOOPBACK.read_text())
    for name in doc["nodes"]:  # type: ignore[union-attr]
        doc["nodes"][name]["ssh_port"] = free_port()  # type: ignore[index]
    inv_path = tmp_path / "inventory.toml"
    inv_path.write_text(tomlkit.dumps(doc))
    site = tmp_path / "caddy-data" / "status"
    site.mkdir(parents=True)
    res = run_inv("status", "-i", str(inv_path), "--timeout", "3", "--html", str(site / "index.html"), timeout=60)
    assert res.returncode == 1, res.stderr  # the closed cluster is critical; the page says so
    port = free_port()
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(status_site(port, site))
    home = tmp_path / "home"
    caddy_env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    with open(tmp_path / "caddy.log", "wb") as log:
        proc = subprocess.Popen(
            ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            stdout=log,
            stderr=log,
            env=caddy_env,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = get("127.0.0.1", port)
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "caddy.log").read_text()
                time.sleep(0.2)
        assert status == 200 and body == (site / "index.html").read_text()
        assert get("::1", port)[0] == 403  # not from the LAN, the mesh or this host's IPv4: refused
        rule = "--host-resolver-rules=MAP status.ism.la 127.0.0.1"
        page = dom(tmp_path, f"http://status.ism.la:{port}/", PHONE, rule)
        assert page.find("p", id="verdict").text == "✗4 critical"
        assert [a.attrs["data-node"] for a in page.find_all("article")] == list(inventory.load(inv_path).nodes)
        assert levels(page)["projector"] == "off"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
