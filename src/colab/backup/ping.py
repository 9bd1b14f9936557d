"""Health pings on start, success and failure: healthchecks.io-style or ntfy, from backup.ping_url.

healthchecks: `URL/start`, `URL` (success) and `URL/fail`, with the run's summary as the body (it shows
in the check's log). ntfy: a message POSTed to the topic URL, with a title and, on failure, high priority.
The kind is `backup.ping_kind`; `auto` picks ntfy when the URL's host names ntfy, else healthchecks.
A ping that fails is a warning: it never fails a backup. Every request goes through the network guard:
the URL's host, and the host of every redirect before it is followed; under the guard the proxy variables
(`http_proxy`, …) are ignored, since a proxy would make the connection the guard cannot see.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO, Literal
from urllib.parse import urlsplit

from colab import netguard
from colab.errors import ColabError

Event = Literal["start", "success", "failure"]
TIMEOUT = 10.0
MAX_BODY = 10_000


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes
    headers: dict[str, str]


def kind_of(url: str, kind: str = "auto") -> str:
    if kind != "auto":
        return kind
    host = (urlsplit(url).hostname or "").lower()
    return "ntfy" if "ntfy" in host else "healthchecks"


def request_for(url: str, kind: str, event: Event, task: str, message: str = "") -> Request:
    """The HTTP request announcing `event` (pure: nothing is sent)."""
    body = message.encode("utf-8")[:MAX_BODY]
    if kind_of(url, kind) == "ntfy":
        title = {"start": f"{task} started", "success": f"{task} ok", "failure": f"{task} FAILED"}[event]
        headers = {"Title": title, "Tags": {"start": "hourglass", "success": "white_check_mark", "failure": "x"}[event]}
        if event == "failure":
            headers["Priority"] = "high"
        return Request("POST", url, body or title.encode(), headers)
    base = url.rstrip("/")
    suffix = {"start": "/start", "success": "", "failure": "/fail"}[event]
    return Request("POST", base + suffix, body, {"Content-Type": "text/plain; charset=utf-8"})


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only after the network guard has passed its host."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            netguard.ensure_allowed(urlsplit(newurl).hostname or "", "follow a health ping's redirect")
        except ColabError:
            fp.close()
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def opener() -> urllib.request.OpenerDirector:
    """urllib with every redirect checked, and no proxy under the guard (an empty ProxyHandler: none at all)."""
    proxies = urllib.request.ProxyHandler({}) if netguard.active() else urllib.request.ProxyHandler()
    return urllib.request.build_opener(proxies, _CheckedRedirects())


def send(req: Request, timeout: float = TIMEOUT) -> None:
    """Send one ping; raises ColabError (one line) when it cannot be delivered."""
    host = urlsplit(req.url).hostname or ""
    netguard.ensure_allowed(host, "send a health ping")
    request = urllib.request.Request(req.url, data=req.body, method=req.method, headers=req.headers)
    try:
        with opener().open(request, timeout=timeout) as resp:
            resp.read(1024)
    except urllib.error.HTTPError as e:
        raise ColabError(f"ping to {_safe(req.url)} answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ColabError(f"ping to {_safe(req.url)} failed: {reason}") from None


def _safe(url: str) -> str:
    """The URL without its path (a healthchecks UUID is a capability; keep it out of logs)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def ping(url: str, kind: str, event: Event, task: str, message: str = "") -> str | None:
    """Ping if a URL is configured; returns a warning text instead of raising."""
    if not url:
        return None
    try:
        send(request_for(url, kind, event, task, message))
    except ColabError as e:
        return f"health ping ({event}) not delivered: {e}"
    return None
