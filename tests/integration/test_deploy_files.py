"""The real service files (compose/<service>/): valid for Compose v2 under the injection, and built to the rules.

No image registry can be reached here, so the real services cannot run; each compose file is checked with
the real `docker compose config` through the same command deploy runs (the Infisical stand-in supplies
placeholder secret values), on the loopback inventory. The rendered Caddyfile is checked with the real
`caddy validate`, in a network namespace of its own so nothing can be contacted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from colab import inventory
from colab.deploy import command_lines
from colab.deploy.session import Session
from colab.render import caddyfile
from tests.conftest import FakeInfisical, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]
INV = inventory.load(ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml")
SERVICES = sorted(INV.services)
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:\?[^}]*)?\}")


def resolved(name: str, fake: FakeInfisical) -> dict:  # type: ignore[type-arg]
    """`docker compose config` of the service as deploy would run it (placeholder secrets from the stand-in)."""
    svc = INV.service(name)
    fake.set(svc.secrets_path, **{s: f"placeholder-{s.lower()}" for s in svc.secrets})
    s = Session.open(INV, name, here="cooperator")
    quiet = subprocess.run(
        command_lines.config_cmd(INV, s.target), env={**os.environ, **s.env}, capture_output=True, text=True
    )
    assert quiet.returncode == 0, quiet.stderr
    argv = command_lines.compose_cmd(INV, s.target, "config", "--format", "json")
    full = subprocess.run(argv, env={**os.environ, **s.env}, capture_output=True, text=True, check=True)
    data = json.loads(full.stdout)
    assert sorted(quiet.stdout.split()) == sorted(data["services"])  # deploy's check prints names, nothing resolved
    return data  # type: ignore[no-any-return]


@pytest.fixture(scope="module", autouse=True)
def _compose() -> None:
    require_tool("docker")
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        require_tool("docker-compose-v2-plugin")


@pytest.mark.parametrize("name", SERVICES)
def test_compose_file_is_valid_and_follows_the_rules(name: str, fake_infisical: FakeInfisical) -> None:
    svc = INV.service(name)
    config = resolved(name, fake_infisical)
    fortress = INV.fortress_mount(INV.node(svc.node))
    networks = config["networks"]
    assert (networks["cluster"]["name"], networks["cluster"]["external"]) == (INV.docker.cluster_network, True)
    assert any(n.get("internal") for n in networks.values())
    aliased = []
    for sname, s in config["services"].items():
        one_shot = s.get("restart") == "no"
        if not one_shot:
            assert s["restart"] == "unless-stopped", sname
            assert s["healthcheck"]["test"], sname
            limits = s["deploy"]["resources"]["limits"]
            assert float(limits["cpus"]) > 0 and int(limits["memory"]) > 0, sname
            assert set(s["networks"]) <= {"internal", "cluster"} and "internal" in s["networks"], sname
        for vol in s.get("volumes", []):
            if vol["type"] == "bind":  # data and config only ever on the target's fortress
                assert vol["source"].startswith(f"{fortress}/"), (sname, vol["source"])
        if (s.get("networks") or {}).get("cluster"):
            aliased += (s["networks"]["cluster"] or {}).get("aliases", [])
    assert aliased == [name]  # exactly one container answers to the service's name on the cluster network
    for db in svc.databases:
        assert db.service in config["services"], f"services.{name}.databases names a missing compose service"


def compose_text(folder: Path) -> str:
    """compose.yaml and the files its services extend, which live beside it (caddy's rendered bearer-tokens.yaml,
    named through ${COLAB_COMPOSE_DIR}): what Compose reads."""
    text = (folder / "compose.yaml").read_text()
    extended = [m.rsplit("/", 1)[-1] for m in re.findall(r"^\s+file:\s*(.+?)\s*$", text, re.M)]
    return "\n".join([text, *((folder / f).read_text() for f in extended)])


@pytest.mark.parametrize("name", SERVICES)
def test_secrets_appear_only_as_required_placeholders(name: str) -> None:
    svc = INV.service(name)
    text = compose_text(ROOT / svc.compose)
    used = {}
    for m in PLACEHOLDER.finditer(text):
        used.setdefault(m.group(1), set()).add(bool(m.group(2)))
    secret_like = {n for n in used if not n.startswith("COLAB_") and n not in svc.env}
    assert secret_like == set(svc.secrets)  # every secret declared in the inventory, and nothing else
    assert {n for n in used if n in svc.env} == set(svc.env)  # every setting of services.NAME.env is used
    assert all(forms == {True} for forms in used.values()), used  # always ${NAME:?message}: fail fast
    assert not re.search(r"\$[A-Za-z_]", text.replace("$$", "")), "bare $VAR interpolation"


def test_a_missing_placeholder_value_fails_config_naming_it(fake_infisical: FakeInfisical) -> None:
    # the path exists and holds every secret but one: Compose names the first missing one it meets, in no set order
    others = {n: "x" for n in INV.service("gitea").secrets if n != "GITEA_DB_PASSWORD"}
    fake_infisical.set("/gitea", **others)
    s = Session.open(INV, "gitea", here="cooperator")
    res = subprocess.run(
        command_lines.config_cmd(INV, s.target), env={**os.environ, **s.env}, capture_output=True, text=True
    )
    assert res.returncode != 0
    assert "GITEA_DB_PASSWORD must come from Infisical" in res.stderr


def caddy_validate(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    argv = ["caddy", "validate", "--config", str(path), "--adapter", "caddyfile"]
    if shutil.which("unshare") and os.geteuid() == 0:
        argv = ["unshare", "--net", *argv]  # no network at all: validation must not need one
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def test_rendered_caddyfile_passes_caddy_validate(tmp_path: Path) -> None:
    require_tool("caddy")
    path = tmp_path / "Caddyfile"
    path.write_text(caddyfile.render(INV, INV.service("caddy").node))
    res = caddy_validate(path, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Valid configuration" in res.stdout + res.stderr
    assert "not formatted" not in res.stderr  # the renderer writes what `caddy fmt` would
    broken = tmp_path / "Broken"
    broken.write_text(path.read_text().replace("reverse_proxy gitea:3000", "reverse_proxi gitea:3000"))
    bad = caddy_validate(broken, tmp_path)
    assert bad.returncode != 0 and "reverse_proxi" in bad.stderr  # and the check can fail
