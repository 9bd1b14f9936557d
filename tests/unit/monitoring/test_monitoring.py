"""The monitoring facts from the inventory: scrape targets by mesh address with their availability, the status
export's schedule and paths per node, the receivers, the deploy environment of node-exporter, and the
inventories that cannot work refused in one line each."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from colab import inventory
from colab.deploy import command_lines
from colab.deploy.target import resolve
from colab.errors import ColabError
from colab.render import monitoring
from colab.render.tree import render_tree

ROOT = Path(__file__).resolve().parents[3]
DEFAULT = tomllib.loads((ROOT / "cluster.toml").read_text())


def data() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT)


def exporter(node: str) -> dict[str, Any]:
    return {"node": node, "compose": "compose/node-exporter", "secrets_path": "/monitoring", "port": 9100}


def test_targets_are_the_exporters_by_mesh_address_with_their_availability() -> None:
    d = data()
    d["services"]["node-exporter-projector"] = exporter("projector")  # WSL, on demand
    inv = inventory.from_dict(d)
    assert monitoring.targets(inv) == [
        monitoring.Target("cooperator", "100.64.0.1:9100", "always"),
        monitoring.Target("director", "100.64.0.2:9100", "always"),
        monitoring.Target("projector", "100.64.0.7:9100", "on-demand"),
    ]
    text = render_tree(inv)["compose/prometheus/prometheus.yml"].decode()
    assert (
        '      - targets: ["100.64.0.7:9100"]\n        labels: {instance: "projector", availability: "on-demand"}'
        in text
    )
    assert 'targets: ["alertmanager:9093"]' in text  # on the cluster network, by its service name


def test_the_status_export_runs_on_prometheus_node_and_every_exporter_node_gets_its_folder() -> None:
    inv = inventory.from_dict(data())
    facts = {name: monitoring.node_facts(inv, node) for name, node in inv.nodes.items()}
    assert facts["cooperator"] == {
        "textfile_dir": "/var/lib/colab/metrics",
        "status": {
            "cron": "*/5 * * * *",
            "hourly": "9 * * * *",
            "every": 5,
            "metrics": "/var/lib/colab/metrics",
            "page": "/srv/fortress/data/caddy/status/index.html",
            "timeout": 20,
        },
    }
    assert facts["director"] == {"textfile_dir": "/var/lib/colab/metrics", "status": None}
    assert facts["writer"] == facts["terminator"] == {"textfile_dir": "", "status": None}


def test_the_page_goes_to_caddys_folder_as_prometheus_node_sees_fortress() -> None:
    d = data()
    for name in ("prometheus", "alertmanager"):
        d["services"][name]["node"] = "director"
    d["monitoring"]["status_every"] = 1
    inv = inventory.from_dict(d)
    status = monitoring.node_facts(inv, inv.node("director"))["status"]
    assert status["page"] == "/mnt/fortress/data/caddy/status/index.html"  # a fortress client
    assert status["cron"] == "* * * * *"
    assert monitoring.node_facts(inv, inv.node("cooperator"))["status"] is None
    cron = render_tree(inv)["chezmoi/.nodes/director/dot_config/colab/monitoring/colab-status.cron"].decode()
    assert "* * * * * crtr /home/crtr/colab/scripts/status-cron /var/lib/colab/metrics " in cron


def test_no_status_domain_no_page() -> None:
    d = data()
    d["monitoring"]["status_domain"] = ""
    inv = inventory.from_dict(d)
    assert monitoring.node_facts(inv, inv.node("cooperator"))["status"]["page"] == ""
    tree = render_tree(inv)
    assert "status.ism.la" not in tree["compose/caddy/Caddyfile"].decode()
    cron = tree["chezmoi/.nodes/cooperator/dot_config/colab/monitoring/colab-status.cron"].decode()
    assert cron.rstrip().endswith("status-cron --read-sample /var/lib/colab/metrics")


def test_ntfy_gets_its_title_and_message_templates_in_the_url() -> None:
    d = data()
    d["monitoring"]["ntfy_url"] = "https://ntfy.example.org/colab-alerts"
    inv = inventory.from_dict(d)
    facts = monitoring.Facts(inv, inv.service("alertmanager"))
    assert facts.ntfy is not None and facts.ntfy["token_file"] == ""  # no ALERT_NTFY_TOKEN: a public topic
    url = urlsplit(facts.ntfy["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "ntfy.example.org", "/colab-alerts")
    assert parse_qs(url.query) == {"tpl": ["1"], "t": [monitoring.NTFY_TITLE], "m": [monitoring.NTFY_MESSAGE]}


def test_only_node_exporter_gets_the_textfile_folder_in_its_environment() -> None:
    inv = inventory.from_dict(data())
    envs = {
        name: command_lines.compose_env(inv, resolve(inv, name, here=svc.node), "h")
        for name, svc in inv.services.items()
    }
    assert {n for n, e in envs.items() if "COLAB_TEXTFILE_DIR" in e} == {
        "node-exporter-cooperator",
        "node-exporter-director",
    }
    assert envs["node-exporter-director"]["COLAB_TEXTFILE_DIR"] == "/var/lib/colab/metrics"


def _without(d: dict[str, Any], service: str) -> dict[str, Any]:
    del d["services"][service]
    return d


REFUSED = [
    (
        lambda d: d["services"]["alertmanager"].update(node="director"),
        "services.alertmanager.node: Alertmanager runs on director, Prometheus on cooperator; place them on the same "
        "node (Prometheus reaches it on the cluster network)",
    ),
    (
        lambda d: _without(d, "node-exporter-cooperator"),
        "monitoring: Prometheus's node (the status export) cooperator runs no node-exporter, so its metrics would not "
        'be scraped; add a [services.node-exporter-cooperator] with compose = "compose/node-exporter"',
    ),
    (
        lambda d: d["services"].update({"node-exporter-terminator": exporter("terminator")}),
        "services.node-exporter-terminator: node-exporter runs on Linux nodes; terminator runs macOS",
    ),
    (
        lambda d: d["services"].update({"node-exporter-2": exporter("director")}),
        "services.node-exporter-2: director already runs services.node-exporter-director",
    ),
    (
        lambda d: d.pop("monitoring"),
        "services.prometheus: Prometheus needs a [monitoring] table (see docs/monitoring.md)",
    ),
]


@pytest.mark.parametrize(("change", "message"), REFUSED, ids=["apart", "no-exporter", "macos", "twice", "no-table"])
def test_a_stack_that_cannot_work_is_one_line(change: Any, message: str) -> None:
    d = data()
    change(d)
    inv = inventory.from_dict(d)
    with pytest.raises(ColabError) as info:
        render_tree(inv)
    assert str(info.value) == message


def test_without_prometheus_nothing_is_rendered_for_monitoring() -> None:
    d = data()
    for name in ("prometheus", "alertmanager", "node-exporter-cooperator", "node-exporter-director"):
        del d["services"][name]
    tree = render_tree(inventory.from_dict(d))
    assert not [p for p in tree if "prometheus" in p or "alertmanager" in p or "monitoring" in p]
