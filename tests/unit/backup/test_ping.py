"""Health pings against a real HTTP server on loopback; failures are warnings; the network guard holds."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from colab.backup import ping


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.status = 200


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.requests.append((self.command, self.path, dict(self.headers), body))
            self.send_response(rec.status)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", rec
    httpd.shutdown()


def test_request_shapes() -> None:
    hc = "https://hc-ping.com/0b7b9c3e-uuid"
    assert ping.request_for(hc, "auto", "start", "backup.daily").url == hc + "/start"
    assert ping.request_for(hc, "auto", "success", "backup.daily", "all good").url == hc
    assert ping.request_for(hc + "/", "auto", "failure", "backup.daily").url == hc + "/fail"
    nt = ping.request_for("https://ntfy.sh/colab-backups", "auto", "failure", "backup.daily", "rsync exit 12")
    assert (nt.url, nt.body) == ("https://ntfy.sh/colab-backups", b"rsync exit 12")
    assert nt.headers == {"Title": "backup.daily FAILED", "Tags": "x", "Priority": "high"}
    assert ping.kind_of("https://push.example.org/topic", "ntfy") == "ntfy"
    assert ping.kind_of("https://push.example.org/topic") == "healthchecks"


def test_healthchecks_start_success_failure(server: tuple[str, Recorder]) -> None:
    base, rec = server
    url = f"{base}/ping/abc-123"
    assert ping.ping(url, "healthchecks", "start", "backup.daily") is None
    assert ping.ping(url, "healthchecks", "success", "backup.daily", "snapshot fortress-20240105: changed") is None
    assert ping.ping(url, "healthchecks", "failure", "backup.daily", "rsync exit 12") is None
    assert [(m, p, b) for m, p, _h, b in rec.requests] == [
        ("POST", "/ping/abc-123/start", b""),
        ("POST", "/ping/abc-123", b"snapshot fortress-20240105: changed"),
        ("POST", "/ping/abc-123/fail", b"rsync exit 12"),
    ]


def test_ntfy_message(server: tuple[str, Recorder]) -> None:
    base, rec = server
    assert ping.ping(f"{base}/colab-backups", "ntfy", "success", "backup.weekly", "ok: 3 steps") is None
    method, path, headers, body = rec.requests[0]
    assert (method, path, body) == ("POST", "/colab-backups", b"ok: 3 steps")
    assert headers["Title"] == "backup.weekly ok"


def test_a_failed_ping_is_a_warning(server: tuple[str, Recorder]) -> None:
    base, rec = server
    rec.status = 500
    warning = ping.ping(f"{base}/ping/secret-uuid", "healthchecks", "success", "backup.daily")
    assert warning == f"health ping (success) not delivered: ping to {base}/… answered HTTP 500"
    assert "secret-uuid" not in warning


def test_unreachable_ping_is_a_warning() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, then released
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    warning = ping.ping(f"http://127.0.0.1:{port}/x", "healthchecks", "start", "backup.daily")
    assert warning is not None
    assert warning.startswith(f"health ping (start) not delivered: ping to http://127.0.0.1:{port}/… failed: ")


def test_the_network_guard_stops_pings_to_the_cluster() -> None:
    warning = ping.ping("http://192.168.254.10/ping/x", "healthchecks", "start", "backup.daily")
    assert warning is not None and "refusing to send a health ping to 192.168.254.10" in warning


# ------------------------------------------------------------------ holes in the guard: redirects, proxies

TEST_NET = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never routed, and never even dialled here


def _listener(respond: Callable[[BaseHTTPRequestHandler, list[str]], None]) -> tuple[ThreadingHTTPServer, list[str]]:
    """A loopback HTTP server recording each request line (method and target) and answering with `respond`."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(f"{self.command} {self.path}")
            respond(self, seen)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, seen


def _redirect_to(url: str) -> Callable[[BaseHTTPRequestHandler, list[str]], None]:
    def respond(h: BaseHTTPRequestHandler, _: list[str]) -> None:
        h.send_response(302)  # urllib follows a POST's 302 with a GET
        h.send_header("Location", url)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return respond


def _ok(h: BaseHTTPRequestHandler, _: list[str]) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "2")
    h.end_headers()
    h.wfile.write(b"OK")


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address a Python socket tries to connect to (recorded before the test suite's own guard)."""
    tried: list[str] = []
    guarded = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple):
            tried.append(str(address[0]))
        return guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return tried


def test_a_redirect_to_another_address_is_refused_before_connecting(dialled: list[str]) -> None:
    httpd, seen = _listener(_redirect_to(f"http://{TEST_NET}/ping/uuid"))
    try:
        warning = ping.ping(f"http://127.0.0.1:{httpd.server_address[1]}/ping/uuid", "healthchecks", "start", "t")
    finally:
        httpd.shutdown()
    assert seen == ["POST /ping/uuid/start"]
    assert warning is not None and f"refusing to follow a health ping's redirect to {TEST_NET}" in warning
    assert TEST_NET not in dialled and set(dialled) == {"127.0.0.1"}
    assert "\n" not in warning and "uuid" not in warning


def test_a_redirect_to_an_allowed_address_is_followed() -> None:
    final, got = _listener(_ok)
    first, seen = _listener(_redirect_to(f"http://127.0.0.1:{final.server_address[1]}/moved"))
    try:
        assert ping.ping(f"http://127.0.0.1:{first.server_address[1]}/p", "healthchecks", "success", "t") is None
    finally:
        first.shutdown()
        final.shutdown()
    assert (seen, got) == (["POST /p"], ["GET /moved"])


@pytest.mark.parametrize("var", ["http_proxy", "HTTP_PROXY"])  # urllib has no use for all_proxy
def test_proxy_variables_are_ignored_under_the_guard(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    proxy, via_proxy = _listener(_ok)
    server, direct = _listener(_ok)
    for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(var, f"http://127.0.0.1:{proxy.server_address[1]}")
    url = f"http://127.0.0.1:{server.server_address[1]}/ping/abc"
    try:
        assert ping.ping(url, "healthchecks", "success", "t") is None
        assert (direct, via_proxy) == (["POST /ping/abc"], [])
        monkeypatch.setattr(ping.netguard, "active", lambda: False)  # outside the guard a proxy is still used
        assert ping.ping(url, "healthchecks", "success", "t") is None
        assert via_proxy == [f"POST {url}"]
    finally:
        proxy.shutdown()
        server.shutdown()
