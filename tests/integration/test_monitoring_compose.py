"""The monitoring services' compose files (compose/prometheus, alertmanager, node-exporter), resolved by the real
`docker compose config` through the command deploy runs (the Infisical stand-in supplies the secrets), on the
loopback inventory with the default cluster's monitoring tables: pinned images of exactly the versions the
tests run, health checks, limits, data on fortress, secrets only from the injection, node-exporter with the
host's view (read-only) and the textfile folder from the inventory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from colab import inventory
from colab.deploy import command_lines
from colab.deploy.session import Session
from tests.conftest import CANARY, FakeInfisical, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"
NAMES = ["prometheus", "alertmanager", "node-exporter-cooperator", "node-exporter-director"]
VERSION = re.compile(r"version (\d+\.\d+\.\d+)")
BINARIES = {
    "prom/prometheus": "prometheus",
    "prom/alertmanager": "prometheus-alertmanager",
    "prom/node-exporter": "prometheus-node-exporter",
}


@pytest.fixture(scope="module")
def inv(tmp_path_factory: pytest.TempPathFactory) -> inventory.Inventory:
    """loopback.toml plus the default inventory's monitoring services and table (the ntfy token as a secret)."""
    default = tomllib.loads((ROOT / "cluster.toml").read_text())
    doc = tomlkit.parse(LOOPBACK.read_text())
    for name in NAMES:
        doc["services"][name] = default["services"][name]  # type: ignore[index]
    doc["services"]["alertmanager"]["secrets"] = ["ALERT_NTFY_TOKEN"]  # type: ignore[index]
    doc["monitoring"] = {**default["monitoring"], "ntfy_url": "https://ntfy.example.org/colab"}
    path = tmp_path_factory.mktemp("inv") / "inventory.toml"
    path.write_text(tomlkit.dumps(doc))
    return inventory.load(path)


def resolved(inv: inventory.Inventory, name: str, fake: FakeInfisical) -> dict[str, Any]:
    require_tool("docker")
    svc = inv.service(name)
    fake.set(svc.secrets_path, **{s: CANARY for s in svc.secrets})
    s = Session.open(inv, name, here=svc.node)
    quiet = subprocess.run(
        command_lines.config_cmd(inv, s.target), env={**os.environ, **s.env}, capture_output=True, text=True
    )
    assert quiet.returncode == 0, quiet.stderr
    argv = command_lines.compose_cmd(inv, s.target, "config", "--format", "json")
    full = subprocess.run(argv, env={**os.environ, **s.env}, capture_output=True, text=True, check=True)
    data = json.loads(full.stdout)
    assert sorted(quiet.stdout.split()) == sorted(data["services"])  # deploy's check prints names, nothing resolved
    return data  # type: ignore[no-any-return]


def version_run_by_tests(binary: str) -> str:
    require_tool(binary)
    out = subprocess.run([binary, "--version"], capture_output=True, text=True)
    m = VERSION.search(out.stdout + out.stderr)
    assert m, out
    return m.group(1)


@pytest.mark.parametrize("name", NAMES)
def test_the_compose_file_resolves_and_follows_the_rules(
    inv: inventory.Inventory, name: str, fake_infisical: FakeInfisical
) -> None:
    svc = inv.service(name)
    config = resolved(inv, name, fake_infisical)
    fortress = inv.fortress_mount(inv.node(svc.node))
    for sname, s in config["services"].items():
        image, _, tag = s["image"].partition(":")
        assert tag == f"v{version_run_by_tests(BINARIES[image])}", (sname, s["image"])  # the versions the tests run
        if s.get("restart") == "no":
            continue  # the one-shot that gives the data folder to the image's user
        assert s["restart"] == "unless-stopped"
        assert s["healthcheck"]["test"][:2] == ["CMD", "wget"]
        assert str(svc.port) in s["healthcheck"]["test"][-1]
        limits = s["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and int(limits["memory"]) > 0
    main = config["services"][name.removesuffix("-cooperator").removesuffix("-director")]
    binds = {v["target"]: v for v in main.get("volumes", []) if v["type"] == "bind"}
    if name.startswith("node-exporter"):
        assert (main["network_mode"], main["pid"]) == ("host", "host")
        assert binds["/host"]["source"] == "/" and binds["/host"]["read_only"]
        assert binds["/textfile"]["source"] == inv.monitoring.textfile_dir and binds["/textfile"]["read_only"]  # type: ignore[union-attr]
        assert f"--web.listen-address=:{svc.port}" in main["command"]
        return
    for target, v in binds.items():  # config and data: all on the node's fortress
        assert v["source"].startswith(f"{fortress}/"), (target, v["source"])
    assert main["networks"]["cluster"]["aliases"] == [name]  # Prometheus finds Alertmanager by its name
    assert main["labels"]["org.colab.files"]  # new config files recreate the container
    assert f"--web.listen-address=:{svc.port}" in main["command"]


def test_alertmanager_gets_its_secret_from_the_injection_and_keeps_it_on_a_tmpfs(
    inv: inventory.Inventory, fake_infisical: FakeInfisical
) -> None:
    am = resolved(inv, "alertmanager", fake_infisical)["services"]["alertmanager"]
    assert am["environment"]["ALERT_NTFY_TOKEN"] == CANARY  # from Infisical, through the stand-in
    assert am["environment"]["ALERT_SMTP_PASSWORD"] == ""  # not a secret of this inventory: empty, no file
    assert am["tmpfs"] == ["/run/alertmanager:size=64k,mode=0700,uid=65534,gid=65534"]
    assert am["entrypoint"] == ["/bin/sh", "/etc/alertmanager/entrypoint.sh"]
    assert am["command"][0] == "/bin/alertmanager" and "--cluster.listen-address=" in am["command"]
    text = (ROOT / "compose" / "alertmanager" / "compose.yaml").read_text()
    assert set(re.findall(r"\$\{(ALERT_[A-Z_]+)", text)) == {"ALERT_NTFY_TOKEN", "ALERT_SMTP_PASSWORD"}
