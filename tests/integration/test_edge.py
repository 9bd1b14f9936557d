"""Who can reach what, proven with the real Caddy, Debian's cockpit-ws, dnsmasq and a headless Chromium.

The site (module scope, root needed), all inside network namespaces this test makes:

    L (a LAN client, 10.224.x.200) ──┐                  ┌─ Caddy (:80, :443, admin on its own loopback)
                                     ├── E (the edge) ──┼─ upstreams: one small HTTP server per service port
    O (outside, 10.2xx.y.2) ─────────┘   x.10 = cooperator's LAN address  ├─ cockpit-ws on x.10:9090
                                                        └─ dnsmasq on x.10:53 (networks.dns)

The inventory is tests/fixtures/inventories/loopback.toml with its LAN moved onto the test's subnet; `inv render`
makes the Caddyfile, Pi-hole's records and cooperator's cockpit.conf from it, and they run as rendered. Two lines
are added to the Caddyfile's global options for the test: `local_certs` (Caddy's internal CA instead of ACME)
and `skip_install_trust`. E's /etc/hosts maps the upstream names the Caddyfile uses (the Compose aliases,
host.docker.internal) to E's own addresses. Nothing routes out of E and nothing forwards: no packet leaves.

Clients: curl (trusting Caddy's root) for status codes and headers, and Chromium, which resolves every name
through dnsmasq (the namespaces' resolv.conf) and accepts Caddy's certificates by the SPKI hash of its CA
(`--ignore-certificate-errors-spki-list`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomlkit

from colab import inventory
from colab.deploy import command_lines
from colab.deploy.session import Session
from colab.inventory import Inventory
from colab.render import caddyfile, chezmoi_source
from colab.render.tree import render_tree
from tests.conftest import CANARY, INVENTORIES, FakeInfisical, require_root, require_tool, unavailable
from tests.harness import netns
from tests.harness.netns import Netns

pytestmark = [pytest.mark.integration, pytest.mark.tools]

COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
TOOLS = ("caddy", "dnsmasq", "chromium", "curl", "openssl", "ip", COCKPIT_WS)
TOKEN = CANARY  # the MCP bearer token: letters, digits and '-', long enough for the Caddyfile's shape check
LEFTOVERS = r"colab-edge-(\d+)-[elo]"
PUBLIC = ("git.ism.la", "hs.ism.la")
PRIVATE = ("dns.ism.la", "mcp.ism.la", "mng.ism.la", "vault.ism.la")  # the loopback inventory's; it has no status page

UPSTREAM = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ports, log = json.loads(sys.argv[1]), open(sys.argv[2], "a")

class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.server.service
        record = {"service": name, "path": self.path, "xff": self.headers.get("X-Forwarded-For"),
                  "proto": self.headers.get("X-Forwarded-Proto"), "auth": "Authorization" in self.headers}
        log.write(json.dumps(record) + "\n"); log.flush()
        body = (f'<!doctype html><html><head><title>{name} upstream</title></head><body>'
                f'<h1 id="upstream">{name}</h1><p id="path">{self.path}</p></body></html>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass

for name, port in ports.items():
    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    server.service = name
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Edge:
    root: Path
    inv: Inventory
    tree: dict[str, bytes]
    caddy_ip: str  # cooperator's LAN address, E's end of the LAN link
    lan: Netns
    outside: Netns
    lan_ip: str
    outside_ip: str
    spki: list[str]
    ca: Path
    upstream_log: Path
    dns_log: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def get(self, ns: Netns, url: str, *headers: str, timeout: float = 10, http1: bool = False) -> Response:
        """curl from inside `ns`, trusting Caddy's root, the name resolved to Caddy's LAN address."""
        host = re.sub(r"^https?://([^/:]+).*$", r"\1", url)
        argv = ["curl", "-s", "-i", "--max-time", str(timeout), "--cacert", str(self.ca)]
        argv += ["--http1.1"] if http1 else []
        argv += ["--resolve", f"{host}:443:{self.caddy_ip}", "--resolve", f"{host}:80:{self.caddy_ip}"]
        for header in headers:
            argv += ["-H", header]
        out = ns.run(*argv, url, check=False, timeout=timeout + 10).stdout
        return parse(out)

    def browse(self, ns: Netns, url: str, *extra: str) -> str:
        """The DOM headless Chromium builds for `url`, run inside `ns` (names resolved by its resolv.conf)."""
        profile = self.root / f"chromium-{time.monotonic_ns()}"
        argv = [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            f"--ignore-certificate-errors-spki-list={','.join(self.spki)}", *extra, "--dump-dom", url,
        ]  # fmt: skip
        res = ns.run(*argv, check=False, timeout=120)
        shutil.rmtree(profile, ignore_errors=True)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout

    def upstream_requests(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.upstream_log.read_text().splitlines()]


def parse(out: str) -> Response:
    """`curl -i` output: the last status line (after redirects or 100s), its headers and the body."""
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    if not lines or not lines[0].startswith("HTTP/"):
        return Response(0, {}, out)
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return Response(int(lines[0].split()[1]), headers, body)


def spki_hash(cert: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)), the form Chromium's --ignore-certificate-errors-spki-list takes."""
    script = 'openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary' \
             " | openssl base64 -A"  # fmt: skip
    return netns.run("sh", "-c", script, "sh", str(cert)).stdout.strip()


def site_inventory(root: Path, prefix: str) -> Inventory:
    doc = tomlkit.parse((INVENTORIES / "loopback.toml").read_text().replace("127.0.10.", f"{prefix}."))
    path = root / "inventory.toml"
    path.write_text(tomlkit.dumps(doc))
    return inventory.load(path)


def start(ns: Netns, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(ns.exec_argv(*argv), stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for(probe: object, what: str, logs: list[Path], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():  # type: ignore[operator]
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs if p.exists())
    raise RuntimeError(f"{what} did not come up:\n{tails}")


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    require_tool(*TOOLS)
    require_root("network namespaces, Caddy on :443 inside one")
    netns.remove_leftovers(LEFTOVERS)
    subnets = netns.free_subnets(2, range(224, 235))
    if len(subnets) < 2:
        unavailable("no two free 10.224-234.x.0/24 subnets for the test namespaces")
    lan_net, away_net = subnets
    prefix = str(lan_net.network_address).rsplit(".", 1)[0]
    away = str(away_net.network_address).rsplit(".", 1)[0]
    root = Path(tempfile.mkdtemp(prefix="colab-edge-"))
    root.chmod(0o755)
    inv = site_inventory(root, prefix)
    tree = render_tree(inv)
    caddy_ip = str(inv.node(inv.service("caddy").node).lan)
    assert caddy_ip == f"{prefix}.10" == str(inv.networks.dns)  # Pi-hole and Caddy on cooperator, as rendered
    base = netns.unique("colab-edge")
    e, lan, outside = Netns(f"{base}-e"), Netns(f"{base}-l"), Netns(f"{base}-o")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for ns in (e, lan, outside):
            ns.create()
        netns.link(e, "e-lan", caddy_ip, lan, "l-lan", f"{prefix}.200")
        netns.link(e, "e-out", f"{away}.1", outside, "o-out", f"{away}.2")
        outside.run("ip", "route", "add", "default", "via", f"{away}.1")  # to Caddy's LAN address, through E
        for client in (lan, outside):
            client.etc("resolv.conf", f"nameserver {inv.networks.dns}\n")
        # the upstream names as Caddy in its container would resolve them, here E's own addresses
        upstream_ports = {s.name: s.port for s in inv.services.values() if s.domains and s.port}
        e.etc("hosts", "127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {name}\n" for name in upstream_ports)
              + f"{caddy_ip} {caddyfile.HOST_ALIAS}\n")  # fmt: skip

        # upstreams, Cockpit, DNS
        upstream_log, dns_log = root / "upstream.jsonl", root / "dnsmasq.log"
        upstream_log.touch()
        script = root / "upstream.py"
        script.write_text(UPSTREAM)
        procs["upstream"] = start(e, ["python3", str(script), json.dumps(upstream_ports), str(upstream_log)],
                                  root / "upstream.out")  # fmt: skip
        conf_dir = root / "cockpit-etc"
        (conf_dir / "cockpit").mkdir(parents=True)
        (conf_dir / "cockpit" / "cockpit.conf").write_bytes(
            chezmoi_source.node_files(tree, "cooperator")["dot_config/colab/cockpit/cockpit.conf"]
        )
        cockpit_env = {**os.environ, "XDG_CONFIG_DIRS": str(conf_dir)}
        procs["cockpit"] = start(
            e, [COCKPIT_WS, "--no-tls", "--port", str(inventory.COCKPIT_PORT), "--address", caddy_ip],
            root / "cockpit.out", cockpit_env,
        )  # fmt: skip
        records = root / "custom.list"
        records.write_bytes(tree["compose/pihole/custom.list"])
        procs["dnsmasq"] = start(e, [
            "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", f"--addn-hosts={records}",
            f"--listen-address={inv.networks.dns}", "--bind-interfaces", "--port=53", "--user=root",
            f"--pid-file={root / 'dnsmasq.pid'}", "--log-queries", f"--log-facility={dns_log}",
        ], root / "dnsmasq.out")  # fmt: skip

        # Caddy, with the rendered Caddyfile; the token only in its environment
        rendered = tree["compose/caddy/Caddyfile"].decode()
        globals_ = "{\n\tadmin localhost:2019\n}\n"
        assert globals_ in rendered
        config = root / "Caddyfile"
        config.write_text(
            rendered.replace(globals_, "{\n\tadmin localhost:2019\n\tlocal_certs\n\tskip_install_trust\n}\n")
        )
        home = root / "caddy-home"
        caddy_env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home),
                     "MCP_AUTH_TOKEN": TOKEN}  # fmt: skip
        procs["caddy"] = start(e, ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"],
                               root / "caddy.out", caddy_env)  # fmt: skip
        ca_dir = home / "caddy" / "pki" / "authorities" / "local"
        logs = [root / n for n in ("caddy.out", "cockpit.out", "dnsmasq.out", "upstream.out")]

        def up() -> bool:
            if not (ca_dir / "intermediate.crt").exists():
                return False
            probe = lan.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(ca_dir / "root.crt"),
                            "--resolve", f"git.ism.la:443:{caddy_ip}", "https://git.ism.la/", check=False)  # fmt: skip
            return probe.stdout == "200"

        wait_for(up, "Caddy with its upstreams", logs)
        cockpit_url = f"http://{caddy_ip}:{inventory.COCKPIT_PORT}/"
        wait_for(
            lambda: e.run("curl", "-s", "-o", "/dev/null", cockpit_url, check=False).returncode == 0, "cockpit-ws", logs
        )
        spki = [spki_hash(ca_dir / "intermediate.crt"), spki_hash(ca_dir / "root.crt")]
        yield Edge(root, inv, tree, caddy_ip, lan, outside, f"{prefix}.200", f"{away}.2", spki,
                   ca_dir / "root.crt", upstream_log, dns_log, procs)  # fmt: skip
    finally:
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for ns in (e, lan, outside):
            ns.delete()
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------------------------ access


def test_private_sites_answer_the_lan_and_refuse_everyone_else(edge: Edge) -> None:
    sites = caddyfile.sites(edge.inv, "cooperator")
    assert ({s.domain for s in sites if s.public}, {s.domain for s in sites if not s.public}) == (
        set(PUBLIC),
        set(PRIVATE),
    )
    for domain in PRIVATE:
        headers = [f"Authorization: Bearer {TOKEN}"] if domain == "mcp.ism.la" else []
        inside = edge.get(edge.lan, f"https://{domain}/", *headers)
        assert inside.status == 200, (domain, inside)
        away = edge.get(edge.outside, f"https://{domain}/", *headers)
        assert (away.status, away.body) == (403, caddyfile.FORBIDDEN), (domain, away)
    assert edge.get(edge.lan, "https://vault.ism.la/").body.count('id="upstream">infisical<') == 1


def test_public_sites_answer_everyone(edge: Edge) -> None:
    for domain, service in zip(PUBLIC, ("gitea", "headscale"), strict=True):
        for ns in (edge.lan, edge.outside):
            res = edge.get(ns, f"https://{domain}/some/page")
            assert res.status == 200 and f'id="upstream">{service}<' in res.body, (domain, ns.name, res)
    seen = [(r["service"], r["xff"]) for r in edge.upstream_requests() if r["path"] == "/some/page"]
    assert ("gitea", edge.outside_ip) in seen and ("gitea", edge.lan_ip) in seen  # the real client, forwarded


def test_a_public_sites_private_paths_answer_the_lan_only(edge: Edge) -> None:
    assert edge.get(edge.outside, "https://hs.ism.la/api/v1/apikey").status == 403
    assert edge.get(edge.outside, "https://hs.ism.la/key").status == 200  # what joining nodes need stays open
    inside = edge.get(edge.lan, "https://hs.ism.la/api/v1/apikey")
    assert inside.status == 200 and 'id="path">/api/v1/apikey<' in inside.body


def test_mcp_needs_the_bearer_token(edge: Edge) -> None:
    url = "https://mcp.ism.la/mcp"
    bare = edge.get(edge.lan, url)
    assert (bare.status, bare.headers.get("www-authenticate"), bare.body) == (401, "Bearer", caddyfile.UNAUTHORIZED)
    for wrong in ("Bearer nope-nope-nope-nope", f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer"):
        assert edge.get(edge.lan, url, f"Authorization: {wrong}").status == 401, wrong
    good = edge.get(edge.lan, url, f"Authorization: Bearer {TOKEN}")
    assert good.status == 200 and 'id="upstream">mcp-files<' in good.body
    assert edge.get(edge.outside, url, f"Authorization: Bearer {TOKEN}").status == 403  # private first
    reached = [r for r in edge.upstream_requests() if r["service"] == "mcp-files"]
    assert reached and all(r["auth"] for r in reached)  # nothing without the token got through


def test_the_token_is_in_no_file_and_no_argv(edge: Edge) -> None:
    rendered = edge.tree["compose/caddy/Caddyfile"].decode()
    assert "{env.MCP_AUTH_TOKEN}" in rendered and TOKEN not in rendered
    leaked = []
    for path in edge.root.rglob("*"):
        if path.is_file():
            with contextlib.suppress(OSError):
                if TOKEN.encode() in path.read_bytes():
                    leaked.append(str(path))
    assert leaked == []  # not in the Caddyfile, Caddy's saved config and certificates, its log, or any other log
    autosave = edge.root / "caddy-home" / "caddy" / "autosave.json"
    assert "{env.MCP_AUTH_TOKEN}" in autosave.read_text()  # Caddy keeps the placeholder and reads it per request
    for pid in (p.pid for p in edge.procs.values()):
        assert TOKEN.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_security_headers(edge: Edge) -> None:
    hsts = "max-age=31536000"
    public = edge.get(edge.lan, "https://git.ism.la/")
    private = edge.get(edge.lan, "https://vault.ism.la/")
    refused = edge.get(edge.outside, "https://vault.ism.la/")
    assert public.headers.get("strict-transport-security") == hsts
    for res in (private, refused):
        assert "strict-transport-security" not in res.headers  # HSTS on public sites only
    for res in (public, private, refused):
        assert res.headers.get("x-content-type-options") == "nosniff"
        assert res.headers.get("referrer-policy") == "strict-origin-when-cross-origin"
        assert res.headers.get("x-frame-options") == "SAMEORIGIN"


# ------------------------------------------------------------------------------------------ Cockpit


def test_cockpit_answers_its_login_page_through_caddy(edge: Edge) -> None:
    page = edge.get(edge.lan, "https://mng.ism.la/")
    assert page.status == 200 and "login-user-input" in page.body
    # ProtocolHeader: Cockpit knows the page is https, so its own policy names the https origin
    assert "https://mng.ism.la" in page.headers.get("content-security-policy", ""), page.headers
    assert "Secure" in page.headers.get("set-cookie", "")  # its cookie only over https
    # its own headers win where it sets them (`?` in the Caddyfile): it frames itself, and sends no referrer
    assert page.headers.get("x-frame-options", "").lower() == "sameorigin"
    assert page.headers.get("referrer-policy") == "no-referrer"
    assert "strict-transport-security" not in page.headers


def websocket(edge: Edge, origin: str) -> int:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    res = edge.get(
        edge.lan, "https://mng.ism.la/cockpit/socket", f"Origin: {origin}", "Connection: Upgrade",
        "Upgrade: websocket", "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Protocol: cockpit1", timeout=3, http1=True,  # an Upgrade is HTTP/1.1's
    )  # fmt: skip
    return res.status


def test_cockpit_accepts_websockets_from_its_proxied_origin_only(edge: Edge) -> None:
    assert websocket(edge, "https://mng.ism.la") == 101
    assert websocket(edge, "https://elsewhere.example") == 403


def test_cockpit_login_page_in_a_browser(edge: Edge) -> None:
    dom = edge.browse(edge.lan, "https://mng.ism.la/", "--virtual-time-budget=5000")
    assert 'id="login-user-input"' in dom and 'id="login-password-input"' in dom, dom[:2000]


# ------------------------------------------------------------------------------------- DNS, browser


def test_each_public_site_in_a_browser_resolved_by_the_rendered_records(edge: Edge) -> None:
    for domain, service in zip(PUBLIC, ("gitea", "headscale"), strict=True):
        dom = edge.browse(edge.outside, f"https://{domain}/")
        assert f'<h1 id="upstream">{service}</h1>' in dom, dom[:2000]
        assert f"<title>{service} upstream</title>" in dom
    queries = edge.dns_log.read_text()
    for domain in PUBLIC:  # Chromium asked dnsmasq, which answered from custom.list
        assert re.search(rf"query\[A\] {re.escape(domain)} from {re.escape(edge.outside_ip)}$", queries, re.M), queries
        assert re.search(rf"{re.escape(domain)} is {re.escape(edge.caddy_ip)}$", queries, re.M), queries


def test_a_private_site_in_a_browser_from_outside_is_refused(edge: Edge) -> None:
    dom = edge.browse(edge.outside, "https://vault.ism.la/")
    assert caddyfile.FORBIDDEN in dom and "infisical" not in dom


# ---------------------------------------------------------------------------- the token's way in


def test_caddys_container_gets_the_token_through_deploys_injection(fake_infisical: FakeInfisical) -> None:
    """`docker compose config` as `inv deploy --service caddy` runs it, under the Infisical stand-in: the token
    from /caddy lands in Caddy's environment through the rendered bearer-tokens.yaml, read from the checkout
    (the target's project folder does not exist on this machine), and a missing one fails naming it."""
    require_tool("docker")
    inv = inventory.load(INVENTORIES / "loopback.toml")
    session = Session.open(inv, "caddy", here="cooperator")
    assert not Path(session.target.project_dir).exists()
    argv = command_lines.compose_cmd(inv, session.target, "config", "--format", "json")
    fake_infisical.set("/caddy", MCP_AUTH_TOKEN=TOKEN)
    res = subprocess.run(argv, env={**os.environ, **session.env}, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["services"]["caddy"]["environment"]["MCP_AUTH_TOKEN"] == TOKEN
    fake_infisical.envs["prod"]["/caddy"] = {}
    fake_infisical.set("/caddy")
    res = subprocess.run(argv, env={**os.environ, **session.env}, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "MCP_AUTH_TOKEN must come from Infisical (services.caddy.secrets)" in res.stderr
