"""`inv service.new` then `inv deploy`, and `inv secrets.rotated`, end to end on the real Docker engine with Compose
v2 and the Infisical stand-in, with a loopback inventory in tmp (as test_deploy.py): the tasks run as subprocesses.

- service.new writes compose/<name>/compose.yaml from the busybox template (the test variant of `web`, built
  locally: no registry), the inventory entry and the rendered files; `inv deploy` then runs it healthy, with its
  secret injected, its port answering on 127.0.0.1, its data on fortress; a bad name or node writes nothing.
- secrets.rotated: two services deployed, one naming the rotated secret: after the value changed in the vault,
  exactly that one is recreated and sees the new value; the other keeps its container. Neither the old nor the
  new value is in any file, process argv (sampled every 2 ms) or output.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CANARY, FakeInfisical, require_tool
from tests.integration.deploy_support import (
    ArgvWatch,
    TestCluster,
    files_containing,
    project_containers,
    remove_project,
    web_compose,
    write_cluster,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tag() -> str:
    return f"{os.getpid()}-{time.monotonic_ns() % 100000}"


@pytest.fixture
def empty(tmp_path: Path, busybox_image: str, fake_infisical: FakeInfisical) -> Iterator[TestCluster]:
    """A loopback inventory with no services and a cluster network of its own."""
    require_tool("docker")
    tag = _tag()
    c = write_cluster(tmp_path, tag, {}, f"10.221.{os.getpid() % 250}.0/24")
    yield c
    for name in c.services:
        remove_project(name, c.network)


def test_service_new_then_deploy_runs_the_new_service(
    empty: TestCluster, fake_infisical: FakeInfisical, tmp_path: Path
) -> None:
    name = f"shop{os.getpid()}"
    empty.services.append(name)
    out = tmp_path / "out"
    port = free_port()
    before = empty.inventory.read_text()

    # refused, one line each, nothing written
    for args, message in (
        (["Shop", "--node", "cooperator"], "error: 'Shop' is not a service name"),
        ([name, "--node", "nowhere"], "error: inventory: unknown node 'nowhere'; known nodes: cooperator"),
        ([name, "--node", "cooperator", "--template", "nope"], "error: unknown template 'nope'; choose from web"),
        (["caddy", "--node", "cooperator"], "error: 'caddy' is the compose folder name the edge and monitoring"),
    ):
        res = empty.inv("service.new", *args, "--output", str(out))
        assert res.returncode == 1 and res.stderr.startswith(message), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert empty.inventory.read_text() == before and not out.exists()

    made = empty.inv("service.new", name, "--node", "cooperator", "--template", "busybox", "--port", str(port),
               "--output", str(out), "--json")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    data = json.loads(made.stdout)
    secret = f"SHOP{os.getpid()}_SECRET"
    assert data["secrets"] == [secret] and data["secrets_path"] == f"/{name}"
    compose = out / "compose" / name / "compose.yaml"
    assert data["compose"] == str(compose) and compose.is_file()
    assert f"{secret}: ${{{secret}:?{secret} must come from Infisical}}" in compose.read_text()
    added = empty.inventory.read_text()
    assert added.startswith(before.rstrip("\n")) and f"[services.{name}]" in added  # appended, the rest kept
    assert f'health = "http://127.0.0.1:{port}/health"' in added
    assert "mise.toml" in data["rendered_changed"] and (out / "mise.toml").read_text().count(f"deploy:{name}") == 1
    assert empty.inv("inventory.check").returncode == 0

    # the secret in Infisical, then the real deploy
    fake_infisical.set(f"/{name}", **{secret: CANARY})
    started = time.time()
    with ArgvWatch(CANARY) as watch:
        deployed = empty.inv("deploy", "--service", name, "--wait-timeout", "60", "--json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert watch.hits == [] and watch.samples > 10
    ((cid, _, state),) = project_containers(name).values()
    assert state == "running"
    health = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", cid], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    assert health == "healthy"
    seen = subprocess.run(["docker", "exec", cid, "sh", "-c", f'echo "${secret}"'], capture_output=True, text=True)
    assert seen.stdout.strip() == CANARY
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:  # published on loopback
        assert answer.read() == b"ok\n"
    assert (empty.server_fortress / "data" / name / "started").is_file()  # its volume on fortress
    assert list(files_containing(CANARY, [ROOT, empty.root], since=started - 1)) == []
    assert CANARY not in deployed.stdout + deployed.stderr + made.stdout


@pytest.fixture
def two(tmp_path: Path, busybox_image: str, fake_infisical: FakeInfisical) -> Iterator[TestCluster]:
    """Two busybox services on cooperator: `rot-…` takes ROTATED, `stay-…` takes STAYS."""
    require_tool("docker")
    tag = _tag()
    rot, stay = f"rot-{tag}", f"stay-{tag}"
    c = write_cluster(
        tmp_path, tag,
        {rot: {"node": "cooperator", "secrets": ["ROTATED"]}, stay: {"node": "cooperator", "secrets": ["STAYS"]}},
        f"10.222.{os.getpid() % 250}.0/24",
    )  # fmt: skip
    c.compose_dir(rot).joinpath("compose.yaml").write_text(web_compose().replace("TEST_SECRET", "ROTATED"))
    c.compose_dir(stay).joinpath("compose.yaml").write_text(web_compose().replace("TEST_SECRET", "STAYS"))
    yield c
    remove_project(rot)
    remove_project(stay, c.network)


def env_of(cid: str, name: str) -> str:
    res = subprocess.run(["docker", "exec", cid, "sh", "-c", f'echo "${name}"'], capture_output=True, text=True)
    return res.stdout.strip()


def test_secrets_rotated_redeploys_exactly_the_services_that_name_it(
    two: TestCluster, fake_infisical: FakeInfisical
) -> None:
    rot, stay = two.services
    old, new = f"{CANARY}-old", f"{CANARY}-new"
    fake_infisical.set("/web", ROTATED=old, STAYS="stays-the-same-value")
    for svc in (rot, stay):
        assert two.inv("deploy", "--service", svc).returncode == 0
    ((rot_id, *_),) = project_containers(rot).values()
    stay_before = project_containers(stay)
    assert env_of(rot_id, "ROTATED") == old

    plan = two.inv("secrets.rotated", "ROTATED", "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"# service {rot} on cooperator: services.{rot}.secrets lists it" in plan.stdout
    assert stay not in plan.stdout and CANARY not in plan.stdout + plan.stderr
    assert [v[0] for v in project_containers(rot).values()] == [rot_id]  # the dry run changed nothing

    fake_infisical.set("/web", ROTATED=new)  # rotated in the vault
    started = time.time()
    with ArgvWatch(CANARY) as watch:
        res = two.inv("secrets.rotated", "ROTATED", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert watch.samples > 10 and watch.hits == []
    steps = json.loads(res.stdout)["steps"]
    ups = {s["step"]: (s["status"], s["detail"]) for s in steps if s["step"].startswith("compose up")}
    assert list(ups) == [f"compose up {rot}"] and ups[f"compose up {rot}"][0] == "changed"
    assert ups[f"compose up {rot}"][1].endswith("recreated")
    ((rot_after, *_),) = project_containers(rot).values()
    assert rot_after != rot_id and env_of(rot_after, "ROTATED") == new
    assert project_containers(stay) == stay_before  # the other service: same container, untouched
    # neither value in any file written meanwhile (repo, fortress, the containers' logs) nor in the output
    logs = [Path(subprocess.run(["docker", "inspect", "--format", "{{.LogPath}}", c], capture_output=True,
                                text=True).stdout.strip()) for c in (rot_after,)]  # fmt: skip
    assert list(files_containing(CANARY, [ROOT, two.root, *logs], since=started - 1)) == []
    assert CANARY not in res.stdout + res.stderr

    recreated = project_containers(rot)
    again = two.inv("secrets.rotated", "ROTATED", "--json")  # nothing left to do: recreates nothing
    assert again.returncode == 0
    assert {s["status"] for s in json.loads(again.stdout)["steps"]} == {"ok"}
    assert project_containers(rot) == recreated
