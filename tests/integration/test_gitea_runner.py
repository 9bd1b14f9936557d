"""The Actions runner's compose file (compose/gitea-runner) as deploy would run it, checked with the real
`docker compose config`: act_runner can be neither built here (the Go module proxy refuses it) nor pulled (no
registry), so it never runs in these tests. The service is added to a copy of the loopback inventory, placed
on the compute node as in cluster.toml; its registration token comes from the Infisical stand-in.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import tomlkit

from colab import inventory
from colab.deploy import command_lines
from colab.deploy.session import Session
from tests.conftest import CANARY, DEFAULT_INVENTORY, INVENTORIES, FakeInfisical, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]


def runner_inventory(path: Path) -> inventory.Inventory:
    """loopback.toml plus [services.gitea-runner] exactly as cluster.toml has it."""
    default = tomlkit.parse(DEFAULT_INVENTORY.read_text())
    doc = tomlkit.parse((INVENTORIES / "loopback.toml").read_text())
    doc["services"]["gitea-runner"] = default["services"]["gitea-runner"]  # type: ignore[index]
    path.write_text(tomlkit.dumps(doc))
    return inventory.load(path)


def test_the_runner_sits_on_the_compute_node_with_its_token_from_infisical() -> None:
    inv = inventory.load(DEFAULT_INVENTORY)
    svc = inv.service("gitea-runner")
    assert "compute" in inv.node(svc.node).roles
    assert svc.secrets == ["GITEA_RUNNER_REGISTRATION_TOKEN"]
    assert svc.env["GITEA_INSTANCE_URL"] == f"https://{inv.service('gitea').domains[0]}/"
    assert inv.service("gitea").env["GITEA__actions__ENABLED"] == "true"


def test_runner_compose_config_resolves_with_a_pinned_image(tmp_path: Path, fake_infisical: FakeInfisical) -> None:
    require_tool("docker")
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        require_tool("docker-compose-v2-plugin")
    inv = runner_inventory(tmp_path / "inventory.toml")
    fake_infisical.set("/gitea-runner", GITEA_RUNNER_REGISTRATION_TOKEN=CANARY)
    s = Session.open(inv, "gitea-runner", here="director")
    env = {**os.environ, **s.env}
    quiet = subprocess.run(command_lines.config_cmd(inv, s.target), env=env, capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stdout.split() == ["runner"], quiet.stderr  # names only, nothing resolved
    full = subprocess.run(command_lines.compose_cmd(inv, s.target, "config", "--format", "json"), env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    (runner,) = json.loads(full.stdout)["services"].values()
    image, _, tag = runner["image"].rpartition(":")
    assert image == "gitea/act_runner" and tag[0].isdigit()  # pinned, never `latest`
    assert runner["environment"]["GITEA_RUNNER_REGISTRATION_TOKEN"] == CANARY  # injected by infisical run
    assert runner["environment"]["GITEA_INSTANCE_URL"] == "https://git.ism.la/"
    assert runner["environment"]["GITEA_RUNNER_NAME"] == "gitea-runner"
    fortress = inv.fortress_mount(inv.node("director"))
    binds = sorted((v["source"], v["target"]) for v in runner["volumes"] if v["type"] == "bind")
    assert binds == [(f"{fortress}/data/gitea-runner", "/data"), ("/var/run/docker.sock", "/var/run/docker.sock")]
    assert runner["restart"] == "unless-stopped" and runner["healthcheck"]["test"]
    assert float(runner["deploy"]["resources"]["limits"]["cpus"]) > 0


def test_a_missing_registration_token_fails_config_naming_it(tmp_path: Path, fake_infisical: FakeInfisical) -> None:
    require_tool("docker")
    inv = runner_inventory(tmp_path / "inventory.toml")
    fake_infisical.set("/gitea-runner")
    s = Session.open(inv, "gitea-runner", here="director")
    res = subprocess.run(
        command_lines.config_cmd(inv, s.target), env={**os.environ, **s.env}, capture_output=True, text=True
    )
    assert res.returncode != 0
    assert "GITEA_RUNNER_REGISTRATION_TOKEN must come from Infisical" in res.stderr
