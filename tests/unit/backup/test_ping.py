"""Health pings against a real HTTP server on loopback; failures are warnings; the network guard holds."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
