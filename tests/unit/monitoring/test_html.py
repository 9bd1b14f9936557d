"""The status page: one self-contained file (nothing to fetch, no script), made for a phone, with the verdict,
every problem and a card per node, each carrying the levels as data attributes; text is escaped."""

from __future__ import annotations

import re

from colab.status import html
from colab.status.model import Check, Level, ServiceState

from .clusters import critical, healthy
from .page import Element, parse


def cards(doc: Element) -> dict[str, Element]:
    return {a.attrs["data-node"]: a for a in doc.find_all("article")}


def checks(card: Element) -> dict[str, tuple[str, str]]:
    return {d.attrs["data-check"]: (d.attrs["data-level"], d.find("dd").text) for d in card.find_all("div")}


def test_the_page_is_self_contained_and_made_for_a_phone() -> None:
    text = html.render(critical(), refresh=300)
    assert text.startswith("<!doctype html>\n")
    for outside in ("<script", "<link", "<img", "src=", "href=", "url(", "@import", "http://", "https://"):
        assert outside not in text, outside
    doc = parse(text)
    metas = {m.attrs.get("name") or m.attrs.get("http-equiv") or "charset": m.attrs for m in doc.find_all("meta")}
    assert metas["viewport"]["content"] == "width=device-width, initial-scale=1"
    assert metas["charset"]["charset"] == "utf-8"
    assert metas["refresh"]["content"] == "300"
    assert "refresh" not in html.render(critical())  # by hand: no reloading unless asked
    css = doc.find("style").text
    assert "minmax(min(100%,19rem),1fr)" in css  # one column on a phone, more where they fit
    assert "prefers-color-scheme:dark" in css
    assert len(text.encode()) < 20_000


def test_a_critical_cluster() -> None:
    doc = parse(html.render(critical()))
    header = doc.find("header")
    assert header.attrs["data-level"] == "critical"
    assert doc.find("p", id="verdict").text == "✗5 critical, 1 warning"
    assert doc.find("time").attrs["datetime"] == "2024-01-05T06:00:00"
    problems = [
        (li.attrs["data-node"], li.attrs["data-check"], li.attrs["data-level"])
        for li in doc.find("section").find_all("li")
    ]
    assert problems == [
        ("cooperator", "services", "critical"),
        ("cooperator", "raid", "critical"),
        ("cooperator", "backup", "critical"),
        ("director", "fortress", "critical"),
        ("director", "raid", "warning"),
        ("terminator", "reach", "critical"),
    ]
    assert doc.find("section").find_all("li")[0].text == (
        "✗cooperator services: gitea: gitea running, unhealthy; prometheus: prometheus running, health check starting"
    )
    found = cards(doc)
    assert list(found) == ["cooperator", "director", "terminator", "projector"]
    assert {n: c.attrs["data-level"] for n, c in found.items()} == {
        "cooperator": "critical",
        "director": "critical",
        "terminator": "critical",
        "projector": "off",
    }
    coop = checks(found["cooperator"])
    assert list(coop) == ["mesh", "lan", "docker", "fortress", "services", "raid", "backup", "free"]
    assert coop["raid"] == ("critical", "✗degraded, [2/1] [U_]")
    services = {li.attrs["data-service"]: li.attrs["data-level"] for li in found["cooperator"].find_all("li")}
    assert services == {"caddy": "ok", "gitea": "critical", "prometheus": "warning"}
    assert list(checks(found["director"])) == ["mesh", "lan", "docker", "fortress", "raid"]  # `-` checks left out
    assert checks(found["terminator"])["docker"] == ("unknown", "?")
    assert [t.text for t in found["projector"].find_all("span", **{"class": "tag"})] == ["on demand"]
    assert doc.find("title").text == "colab: 5 critical, 1 warning"


def test_a_healthy_cluster() -> None:
    doc = parse(html.render(healthy()))
    assert doc.find("header").attrs["data-level"] == "ok"
    assert doc.find("p", id="verdict").text == "✓all good"
    assert doc.find_all("section") == []  # no problems, no problems list
    levels = {n: c.attrs["data-level"] for n, c in cards(doc).items()}
    assert levels == {"cooperator": "ok", "director": "ok", "writer": "ok", "projector": "off"}
    assert [t.text for t in cards(doc)["cooperator"].find_all("span", **{"class": "tag"})] == ["here"]


def test_text_is_escaped() -> None:
    status = healthy()
    row = status.nodes[0]
    evil = '<script>alert("x")</script> & <b>'
    row.services = [ServiceState("caddy", Level.CRIT, evil)]
    row.checks["services"] = Check(Level.CRIT, evil)
    text = html.render(status)
    assert "<script" not in text and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in text
    assert parse(text).find("section").find("li").text.endswith(evil)
    assert not re.search(r"<b>\s*&", text)
