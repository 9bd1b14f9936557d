"""The monitoring stack, computed from the inventory: what Prometheus scrapes, the alert rules' thresholds,
where Alertmanager sends alerts, and which node runs the status export.

The parts are ordinary services, recognised by their compose folder (as `colab.render.edge` does for Caddy):
`compose/prometheus`, `compose/alertmanager` (on the same node: Prometheus reaches it on the cluster network
by its service name), and `compose/node-exporter`, one service per node that runs it (its host network and
`monitoring.textfile_dir`). `[monitoring]` holds the rest. `inv render` lays these facts out through
`templates/compose/prometheus/*.j2` and `templates/compose/alertmanager/*.j2`, and the per-node chezmoi
templates (the textfile directory, and on Prometheus's node the status cron).

- Scrape targets: every node-exporter by its node's mesh address (the one address that works from anywhere),
  labelled `instance=<node>` and `availability` (`always` / `on-demand`), so rules can leave an on-demand
  node's absence alone; Prometheus and Alertmanager themselves on the cluster network.
- Status export: on Prometheus's node, every `monitoring.status_every` minutes, `inv status --metrics
  <textfile_dir> --html <page>`; the page goes to Caddy's data folder on fortress (`data/<caddy>/status/`),
  which Caddy serves at `monitoring.status_domain`, whichever node each of them runs on.
- Receivers: ntfy (`monitoring.ntfy_url`; its access token, secret `ALERT_NTFY_TOKEN`, as a Bearer token
  read from a file) and/or e-mail (`ALERT_SMTP_PASSWORD`, `auth_password_file`). Alertmanager 0.25 reads
  neither from its environment and has no `url_file` for webhooks, so the secrets reach it as files on a
  tmpfs that the container's entry point writes from the Infisical-injected environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any
from urllib.parse import quote

from colab.errors import ColabError
from colab.inventory import Inventory, Node, Service

from . import edge

PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
NODE_EXPORTER = "node-exporter"
NTFY_TOKEN = "ALERT_NTFY_TOKEN"
SMTP_PASSWORD = "ALERT_SMTP_PASSWORD"
SECRETS_DIR = "/run/alertmanager"  # the tmpfs in Alertmanager's container (compose/alertmanager/entrypoint.sh)
PAGE_DIR = "status"  # in Caddy's data folder; compose/caddy mounts it at /srv/status
PAGE_FILE = "index.html"
FULL_PERCENT = 90  # a file system fuller than this is critical
STATUS_TIMEOUT = 20  # seconds each node may take in the periodic export

# ntfy (v2.10+) fills a title and a message from the JSON body when the URL asks for it (`tpl`): Alertmanager
# 0.25 can neither template a webhook body nor set headers, so the templates travel in the URL's query.
NTFY_TITLE = "{{.status}}: {{.commonLabels.alertname}}"
NTFY_MESSAGE = "{{range .alerts}}{{.annotations.summary}}\n{{end}}"


class MonitoringError(ColabError):
    """The monitoring services or the [monitoring] table contradict each other; one line, how to fix it."""


@dataclass(frozen=True)
class Timings:
    """How often Prometheus scrapes and evaluates and how Alertmanager batches; tests shorten them."""

    scrape_interval: str = "30s"
    evaluation_interval: str = "30s"
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"


@dataclass(frozen=True)
class Target:
    node: str
    address: str  # host:port
    availability: str


def prometheus(inv: Inventory) -> Service | None:
    return edge.by_kind(inv, PROMETHEUS)


def alertmanager(inv: Inventory) -> Service | None:
    return edge.by_kind(inv, ALERTMANAGER)


def exporters(inv: Inventory) -> list[Service]:
    """The node-exporter services (compose/node-exporter), one per node that runs one."""
    return edge.services_in(inv, f"compose/{NODE_EXPORTER}")


def exporter_on(inv: Inventory, node: str) -> Service | None:
    return next((s for s in exporters(inv) if s.node == node), None)


def check(inv: Inventory) -> None:
    """Refuse, one line each, what would make a stack that cannot work; nothing when there is no Prometheus."""
    prom = prometheus(inv)
    seen: dict[str, str] = {}
    for svc in exporters(inv):
        node = inv.node(svc.node)
        if node.os == "macos":
            raise MonitoringError(f"services.{svc.name}: node-exporter runs on Linux nodes; {node.name} runs macOS")
        if svc.port is None:
            raise MonitoringError(f"services.{svc.name}.port: node-exporter needs its port (e.g. 9100)")
        if node.name in seen:
            raise MonitoringError(f"services.{svc.name}: {node.name} already runs services.{seen[node.name]}")
        seen[node.name] = svc.name
    if prom is None:
        return
    where = f"services.{prom.name}"
    if inv.monitoring is None:
        raise MonitoringError(f"{where}: Prometheus needs a [monitoring] table (see docs/monitoring.md)")
    if prom.port is None:
        raise MonitoringError(f"{where}.port: Prometheus needs its port")
    am = alertmanager(inv)
    if am is not None and am.node != prom.node:
        raise MonitoringError(
            f"services.{am.name}.node: Alertmanager runs on {am.node}, Prometheus on {prom.node}; place them on "
            "the same node (Prometheus reaches it on the cluster network)"
        )
    if am is not None and am.port is None:
        raise MonitoringError(f"services.{am.name}.port: Alertmanager needs its port")
    for role, name in (("Prometheus's node (the status export)", prom.node), ("the backup node", inv.backup.node)):
        if exporter_on(inv, name) is None:
            raise MonitoringError(
                f"monitoring: {role} {name} runs no node-exporter, so its metrics would not be scraped; add a "
                f'[services.node-exporter-{name}] with compose = "compose/{NODE_EXPORTER}"'
            )
    if inv.node(prom.node).os == "macos":
        raise MonitoringError(f"{where}.node: the status export needs cron; {prom.node} runs macOS")


def targets(inv: Inventory) -> list[Target]:
    """node-exporter on each node that runs one, by mesh address, in inventory order."""
    found = []
    for node in inv.nodes.values():
        svc = exporter_on(inv, node.name)
        if svc is not None and svc.port is not None:
            found.append(Target(node.name, f"{node.mesh}:{svc.port}", node.availability))
    return found


def status_page(inv: Inventory, node: Node) -> str:
    """Where the status export on `node` writes the page ("" when there is no page): Caddy's data folder on
    fortress, as this node sees fortress."""
    caddy = edge.by_kind(inv, edge.CADDY)
    if inv.monitoring is None or not inv.monitoring.status_domain or caddy is None:
        return ""
    return f"{inv.fortress_mount(node)}/data/{caddy.name}/{PAGE_DIR}/{PAGE_FILE}"


def node_facts(inv: Inventory, node: Node) -> dict[str, Any]:
    """What the per-node chezmoi templates need: the textfile directory to create (nodes with node-exporter)
    and, on Prometheus's node, the status export's schedule and paths."""
    mon = inv.monitoring
    prom = prometheus(inv)
    if mon is None or prom is None:
        return {"textfile_dir": "", "status": None}
    check(inv)
    status = None
    if node.name == prom.node:
        every = mon.status_every
        status = {
            "cron": "* * * * *" if every == 1 else f"*/{every} * * * *",
            "hourly": f"{(7 + every // 2) % 60} * * * *",  # between two regular runs
            "every": every,
            "metrics": mon.textfile_dir,
            "page": status_page(inv, node),
            "timeout": STATUS_TIMEOUT,
        }
    return {"textfile_dir": mon.textfile_dir if exporter_on(inv, node.name) else "", "status": status}


def _ntfy_url(base: str) -> str:
    return f"{base}?tpl=1&t={quote(NTFY_TITLE, safe='')}&m={quote(NTFY_MESSAGE, safe='')}"


@dataclass
class Facts:
    """What the Prometheus and Alertmanager templates lay out (`prometheus`, `alerts`, `alertmanager` files)."""

    inv: Inventory
    service: Service
    timings: Timings = field(default_factory=Timings)
    secrets_dir: str = SECRETS_DIR
    alertmanager_address: str = ""  # host:port; default the Alertmanager service on the cluster network

    def __post_init__(self) -> None:
        check(self.inv)

    def faster(self, **timings: str) -> Facts:
        """The same facts with other timings (tests)."""
        return replace(self, timings=replace(self.timings, **timings))

    @cached_property
    def targets(self) -> list[Target]:
        return targets(self.inv)

    @cached_property
    def alertmanager_target(self) -> str:
        if self.alertmanager_address:
            return self.alertmanager_address
        am = alertmanager(self.inv)
        return f"{am.name}:{am.port}" if am is not None and am.port is not None else ""

    @cached_property
    def self_target(self) -> str:
        return f"localhost:{self.service.port}"

    @property
    def backup_max_age_hours(self) -> int:
        from colab.status.backups import MAX_AGE_HOURS  # here: colab.status reaches us (storage.mounts, render.context)

        return MAX_AGE_HOURS

    @property
    def full_percent(self) -> int:
        return FULL_PERCENT

    @property
    def status_stale_seconds(self) -> int:
        """Three missed exports (and at least 15 minutes) before the export counts as stopped."""
        every = self.inv.monitoring.status_every if self.inv.monitoring else 5
        return max(3 * every, 15) * 60

    @cached_property
    def ntfy(self) -> dict[str, str] | None:
        mon = self.inv.monitoring
        if mon is None or not mon.ntfy_url:
            return None
        am = alertmanager(self.inv)
        token = f"{self.secrets_dir}/ntfy-token" if am is not None and NTFY_TOKEN in am.secrets else ""
        return {"url": _ntfy_url(mon.ntfy_url), "token_file": token}

    @cached_property
    def email(self) -> dict[str, str] | None:
        mon = self.inv.monitoring
        if mon is None or not mon.email_to:
            return None
        am = alertmanager(self.inv)
        password = f"{self.secrets_dir}/smtp-password" if am is not None and SMTP_PASSWORD in am.secrets else ""
        return {
            "to": mon.email_to,
            "from": mon.email_from,
            "smarthost": mon.smtp,
            "user": mon.smtp_user,
            "password_file": password,
        }
