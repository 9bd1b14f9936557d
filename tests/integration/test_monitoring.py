"""The alert pipeline with the real binaries (Debian's prometheus-node-exporter, prometheus and
prometheus-alertmanager), each a process on loopback with free ports and its own temporary data:

    inv backup.daily / inv status --metrics  →  textfile directory  →  node-exporter  →  Prometheus (the
    rendered alerts.yml)  →  Alertmanager (the rendered alertmanager.yml, started by its entrypoint.sh)  →  a
    loopback webhook standing in for ntfy

The configs are the templates `inv render` uses, rendered for a loopback inventory with shorter intervals
(1 s scrapes and evaluations, 1 s grouping). Two broken conditions are made the way they happen: a backup
whose newest snapshot is 30 hours old (a real `inv backup.daily --now`), and a degraded RAID (a real `inv
status --metrics` reading the degraded mdstat sample); each must reach the webhook as a firing alert within a
bounded time, and fixing it (a new backup, a clean mdstat) must bring the resolved notification. The ntfy
token is a canary: it must reach the webhook as the Bearer token and appear in no file but the tmpfs one,
in no process's argv or environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import tomlkit

from colab import inventory
from colab.metrics import backup_metrics, status_metrics
from colab.render import context, monitoring, templates
from tests.conftest import CANARY, require_tool
from tests.harness.inv import run_inv

pytestmark = [pytest.mark.integration, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"
MDSTAT = ROOT / "tests" / "fixtures" / "mdstat"
DEADLINE = 60.0  # seconds a notification may take at most (it takes a few: 1 s intervals)
FIGURES: dict[str, float] = {}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------ the webhook


@dataclass
class Delivery:
    at: float  # time.time() when it arrived
    path: str
    query: dict[str, list[str]]
    authorization: str
    body: dict[str, Any]

    @property
    def alertname(self) -> str:
        return str(self.body["commonLabels"].get("alertname", ""))


@dataclass
class Webhook:
    port: int
    got: list[Delivery] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, alertname: str, status: str, after: float, timeout: float = DEADLINE) -> Delivery:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for d in self.got:
                    if d.at >= after and d.alertname == alertname and d.body["status"] == status:
                        return d
                left = deadline - time.monotonic()
                seen = [(d.alertname, d.body["status"]) for d in self.got]
                assert left > 0, f"no {status} {alertname} within {timeout:g}s; got {seen}"
                self.cond.wait(left)


def serve_webhook() -> tuple[Webhook, ThreadingHTTPServer]:
    hook = Webhook(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            url = urlsplit(self.path)
            d = Delivery(time.time(), url.path, parse_qs(url.query), self.headers.get("Authorization", ""), body)
            with hook.cond:
                hook.got.append(d)
                hook.cond.notify_all()
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hook.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hook, server


# ------------------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    base: Path
    inventory: Path
    textfile: Path
    secrets: Path
    webhook: Webhook
    prometheus: str  # base URL
    procs: dict[str, subprocess.Popen[bytes]]


def write_inventory(path: Path, *, textfile: Path, webhook: int, ports: dict[str, int]) -> Path:
    """loopback.toml with SSH on a closed port everywhere (the other nodes are rows, quickly), Prometheus,
    Alertmanager (with the ntfy token as its secret) and node-exporter on cooperator, and [monitoring]."""
    doc = tomlkit.parse(LOOPBACK.read_text())
    closed = free_port()
    for name in doc["nodes"]:  # type: ignore[union-attr]
        doc["nodes"][name]["ssh_port"] = closed  # type: ignore[index]
    services = doc["services"]
    for name, port, secrets in (
        ("prometheus", ports["prometheus"], []),
        ("alertmanager", ports["alertmanager"], [monitoring.NTFY_TOKEN]),
        ("node-exporter-cooperator", ports["exporter"], []),
    ):
        kind = name.removesuffix("-cooperator")
        table = {"node": "cooperator", "compose": f"compose/{kind}", "secrets_path": "/monitoring"}
        services[name] = {**table, "secrets": secrets, "port": port}  # type: ignore[index]
    doc["monitoring"] = {
        "textfile_dir": str(textfile),
        "status_every": 1,
        "status_domain": "status.ism.la",
        "ntfy_url": f"http://127.0.0.1:{webhook}/colab-alerts",
    }
    path.write_text(tomlkit.dumps(doc))
    inventory.load(path)  # valid
    return path


def rendered(inv: inventory.Inventory, service: str, rel: str, facts: monitoring.Facts) -> bytes:
    """A monitoring template rendered exactly as `inv render` does, with these facts."""
    svc = inv.service(service)
    ctx = {**context.service_context(inv, context.global_context(inv), svc), "monitoring": facts}
    return templates.Renderer(templates.TEMPLATES_DIR)(rel, ctx)


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout:g}s"
        time.sleep(0.2)


def wait_for_alertmanager(prom: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{prom}/api/v1/alertmanagers", timeout=5) as resp:
            if json.load(resp)["data"]["activeAlertmanagers"]:
                return
        assert time.monotonic() < deadline, "Prometheus did not find Alertmanager"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_tool("prometheus", "prometheus-alertmanager", "prometheus-node-exporter", "rsync", "flock")
    base = tmp_path_factory.mktemp("monitoring")
    textfile = base / "textfile"
    textfile.mkdir()
    hook, server = serve_webhook()
    ports = {"prometheus": free_port(), "alertmanager": free_port(), "exporter": free_port("127.0.20.1")}
    path = write_inventory(base / "inventory.toml", textfile=textfile, webhook=hook.port, ports=ports)
    inv = inventory.load(path)
    # Alertmanager's secrets folder: a tmpfs, as in its container
    secrets = Path(tempfile.mkdtemp(prefix="colab-am-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    fast = {"scrape_interval": "1s", "evaluation_interval": "1s", "group_wait": "1s", "group_interval": "1s"}
    am_address = f"127.0.0.1:{ports['alertmanager']}"
    prom_facts = monitoring.Facts(inv, inv.service("prometheus"), alertmanager_address=am_address).faster(**fast)
    am_facts = monitoring.Facts(inv, inv.service("alertmanager"), secrets_dir=str(secrets)).faster(**fast)
    (base / "prom").mkdir()
    (base / "am").mkdir()
    (base / "prom" / "prometheus.yml").write_bytes(
        rendered(inv, "prometheus", "compose/prometheus/prometheus.yml.j2", prom_facts)
    )
    # the rules exactly as committed (rendered from the default inventory, as deployed)
    shutil.copy(ROOT / "compose" / "prometheus" / "alerts.yml", base / "prom" / "alerts.yml")
    (base / "am" / "alertmanager.yml").write_bytes(
        rendered(inv, "alertmanager", "compose/alertmanager/alertmanager.yml.j2", am_facts)
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(base / f"{name}.log", "wb")  # noqa: SIM115 (open for the process's life)
        procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=base)
        log.close()

    try:
        exporter = f"127.0.20.1:{ports['exporter']}"
        start(
            "node-exporter",
            [
                "prometheus-node-exporter",
                f"--web.listen-address={exporter}",
                f"--collector.textfile.directory={textfile}",
                "--collector.disable-defaults",
                "--collector.textfile",
            ],
        )
        am_env = {"PATH": os.environ["PATH"], "ALERT_NTFY_TOKEN": CANARY, "COLAB_SECRETS_DIR": str(secrets)}
        start(
            "alertmanager",
            [
                "sh",
                str(ROOT / "compose" / "alertmanager" / "entrypoint.sh"),
                "prometheus-alertmanager",
                f"--config.file={base / 'am' / 'alertmanager.yml'}",
                f"--storage.path={base / 'am' / 'data'}",
                f"--web.listen-address={am_address}",
                "--cluster.listen-address=",
            ],
            env=am_env,
        )
        start(
            "prometheus",
            [
                "prometheus",
                f"--config.file={base / 'prom' / 'prometheus.yml'}",
                f"--storage.tsdb.path={base / 'prom' / 'data'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            ],
        )
        wait_http(f"http://{exporter}/metrics")
        wait_http(f"http://{am_address}/-/ready")
        prom = f"http://127.0.0.1:{ports['prometheus']}"
        wait_http(f"{prom}/-/ready")
        wait_for_alertmanager(prom)  # Prometheus's discovery takes up to 5 s after start; measure after it
        yield Stack(base, path, textfile, secrets, hook, prom, procs)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.poll() is None:
                proc.kill()
        server.shutdown()
        shutil.rmtree(secrets, ignore_errors=True)
        if FIGURES:
            print("\nmonitoring figures:", json.dumps(FIGURES))


def query(stack: Stack, promql: str) -> list[dict[str, Any]]:
    url = f"{stack.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as resp:
        return list(json.load(resp)["data"]["result"])


def check_delivery(d: Delivery, alertname: str) -> None:
    """What ntfy gets: its topic path, the title and message templates, the token as a Bearer token."""
    assert d.path == "/colab-alerts"
    assert d.query == {"tpl": ["1"], "t": [monitoring.NTFY_TITLE], "m": [monitoring.NTFY_MESSAGE]}
    assert d.authorization == f"Bearer {CANARY}"
    assert d.body["commonLabels"]["alertname"] == alertname
    assert d.body["alerts"][0]["annotations"]["summary"]


# ----------------------------------------------------------------------------------------------- tests


def test_a_stale_backup_fires_and_a_new_backup_resolves_it(stack: Stack, tmp_path: Path) -> None:
    source, target = tmp_path / "fortress", tmp_path / "backup"
    for folder in ("docker", "data", "cache"):
        (source / folder).mkdir(parents=True)
        (source / folder / "file.txt").write_text(folder)
    target.mkdir()
    env = {backup_metrics.ENV_DIR: str(stack.textfile)}
    common = ["backup.daily", "--source", str(source), "--target", str(target), "--no-dumps"]
    old = (datetime.now() - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M")
    res = run_inv(*common, "--now", old, node="cooperator", inventory=stack.inventory, env=env, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    prom = stack.textfile / backup_metrics.FILE
    broken = prom.stat().st_mtime  # the moment the stale time became visible
    fired = stack.webhook.wait_for("ColabBackupTooOld", "firing", after=broken - 1)
    FIGURES["backup_fire_s"] = round(fired.at - broken, 2)
    check_delivery(fired, "ColabBackupTooOld")
    assert fired.body["alerts"][0]["labels"]["instance"] == "cooperator"
    assert "(more than 26h)" in fired.body["alerts"][0]["annotations"]["summary"]
    assert FIGURES["backup_fire_s"] < DEADLINE

    res = run_inv(*common, node="cooperator", inventory=stack.inventory, env=env, timeout=180)  # today's backup
    assert res.returncode == 0, res.stdout + res.stderr
    fixed = prom.stat().st_mtime
    resolved = stack.webhook.wait_for("ColabBackupTooOld", "resolved", after=fixed - 1)
    FIGURES["backup_resolve_s"] = round(resolved.at - fixed, 2)
    check_delivery(resolved, "ColabBackupTooOld")
    (row,) = query(stack, "colab_backup_snapshots")
    assert row["value"][1] == "2"  # two real snapshots, counted by the run, scraped through node-exporter


def test_a_degraded_raid_fires_and_a_clean_one_resolves_it(stack: Stack) -> None:
    prom = stack.textfile / status_metrics.FILE

    def export(sample: str) -> float:
        res = run_inv(
            "status", "--metrics", str(stack.textfile), "--timeout", "5",
            node="cooperator", inventory=stack.inventory, env={"COLAB_MDSTAT": str(MDSTAT / sample)}, timeout=180,
        )  # fmt: skip
        assert res.returncode == 1, res.stdout + res.stderr  # the loopback cluster is critical anyway (nodes down)
        return prom.stat().st_mtime

    export("healthy.mdstat")
    deadline = time.monotonic() + DEADLINE  # scraped: the clean state is what Prometheus sees
    while not query(stack, 'colab_raid_state{state="clean"} == 1'):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    broken = export("degraded.mdstat")
    fired = stack.webhook.wait_for("ColabRaidDegraded", "firing", after=broken - 1)
    FIGURES["raid_fire_s"] = round(fired.at - broken, 2)
    check_delivery(fired, "ColabRaidDegraded")
    labels = fired.body["alerts"][0]["labels"]
    assert (labels["node"], labels["device"], labels["state"]) == ("cooperator", "/dev/md0", "degraded")
    assert FIGURES["raid_fire_s"] < DEADLINE

    fixed = export("healthy.mdstat")
    resolved = stack.webhook.wait_for("ColabRaidDegraded", "resolved", after=fixed - 1)
    FIGURES["raid_resolve_s"] = round(resolved.at - fixed, 2)
    # nothing else fired meanwhile: the other problems of this cluster wait out their `for` (5 minutes)
    assert {d.alertname for d in stack.webhook.got} <= {"ColabBackupTooOld", "ColabRaidDegraded"}


def test_the_token_is_only_in_memory(stack: Stack) -> None:
    """The canary reached ntfy (above); it is in the tmpfs file only: no other file, argv or environment."""
    assert (stack.secrets / "ntfy-token").read_text() == CANARY
    for path in stack.base.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    assert CANARY not in (stack.base / "am" / "alertmanager.yml").read_text()
    am = stack.procs["alertmanager"].pid  # entrypoint.sh exec'd Alertmanager: the same process
    assert Path(f"/proc/{am}/cmdline").read_bytes().split(b"\0")[0].endswith(b"prometheus-alertmanager")
    assert CANARY.encode() not in Path(f"/proc/{am}/environ").read_bytes()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                assert CANARY.encode() not in (proc / "cmdline").read_bytes(), proc
