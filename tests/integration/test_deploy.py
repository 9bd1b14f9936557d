"""`inv deploy` end to end on the real Docker engine with Compose v2, through the Infisical stand-in.

Each test writes a loopback inventory in tmp (fortress folders in tmp, a cluster network of its own) with a
test service built from the local busybox image, and runs the real task (`inv deploy …`) as a subprocess,
as `mise run deploy:<service>` would.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CANARY, FakeInfisical, require_tool
from tests.integration.deploy_support import (
    UNHEALTHY,
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


@pytest.fixture
def cluster(
    tmp_path: Path, busybox_image: str, fake_infisical: FakeInfisical, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestCluster]:
    """One test service `web-<pid>` placed on cooperator (= this machine), needing TEST_SECRET from /web."""
    require_tool("docker")
    tag = f"{os.getpid()}-{time.monotonic_ns() % 100000}"
    name = f"web-{tag}"
    subnet = f"10.220.{os.getpid() % 250}.0/24"
    c = write_cluster(tmp_path, tag, {name: {"node": "cooperator", "secrets": ["TEST_SECRET"]}}, subnet)
    c.compose_dir(name).joinpath("compose.yaml").write_text(web_compose(busybox_image))
    fake_infisical.set("/web", TEST_SECRET=CANARY)
    monkeypatch.setenv("COLAB_FAKE_INFISICAL_LOG", str(tmp_path / "infisical-calls.log"))
    yield c
    remove_project(name, c.network)


def statuses(res: subprocess.CompletedProcess[str]) -> dict[str, str]:
    data = json.loads(res.stdout)
    return {s["step"].split(" ")[0] + (" " + s["step"].split(" ")[1] if s["step"].startswith("compose") else ""):
            s["status"] for s in data["steps"]}  # fmt: skip


def test_deploy_runs_the_service_with_the_secret_injected_and_written_nowhere(cluster: TestCluster) -> None:
    name = cluster.services[0]
    started = time.time()
    with ArgvWatch(CANARY) as watch:
        res = cluster.inv("deploy", "--service", name, "--wait-timeout", "60")
    assert res.returncode == 0, res.stdout + res.stderr
    assert watch.samples > 10 and watch.hits == [], watch.hits  # no process's argv ever held the secret

    containers = project_containers(name)
    assert [(n.split("-")[-2], s[2]) for n, s in containers.items()] == [("app", "running")]
    cid = next(iter(containers.values()))[0]
    seen = subprocess.run(["docker", "exec", cid, "sh", "-c", 'echo "$TEST_SECRET"'], capture_output=True, text=True)
    assert seen.stdout.strip() == CANARY  # the container sees it
    health = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", cid], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    assert health == "healthy"

    # files on the target's fortress: the compose file in docker/<service>, the volume in data/<service>
    fortress = cluster.server_fortress
    assert (fortress / "docker" / name / "compose.yaml").read_text() == (
        cluster.compose_dir(name) / "compose.yaml"
    ).read_text()
    assert (fortress / "data" / name / "written").read_text() == "written\n"
    assert not cluster.client_fortress.exists()  # cooperator is the fortress server: the server path is used

    # the secret is in no file we or the tools wrote (repo, fortress, the container's log), nor in the output.
    # (The engine keeps a container's environment in its own state, /var/lib/docker/containers/*/config.v2.json:
    # that is how Compose hands a variable to a container, and outside what this project writes.)
    log_path = subprocess.run(["docker", "inspect", "--format", "{{.LogPath}}", cid], capture_output=True,
                              text=True).stdout.strip()  # fmt: skip
    roots = [ROOT, cluster.root, Path(log_path)]
    assert list(files_containing(CANARY, roots, since=started - 1)) == []
    assert CANARY not in res.stdout + res.stderr
    calls = (cluster.root / "infisical-calls.log").read_text()
    assert '"--path", "/web"' in calls and CANARY not in calls
    assert "changed" in res.stdout


def test_second_deploy_changes_nothing(cluster: TestCluster) -> None:
    name = cluster.services[0]
    first = cluster.inv("deploy", "--service", name, "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert statuses(first) == {
        "lock": "ok", "recover": "ok", "files": "changed", "network": "changed", "compose up": "changed",
        "record": "changed",
    }  # fmt: skip
    before = project_containers(name)
    second = cluster.inv("deploy", "--service", name, "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    assert statuses(second) == {
        "lock": "ok", "recover": "ok", "files": "ok", "network": "ok", "compose up": "ok", "record": "ok"
    }  # fmt: skip
    assert project_containers(name) == before  # same ids, same creation times: nothing recreated


def test_a_changed_compose_file_recreates_and_is_reported(cluster: TestCluster) -> None:
    name = cluster.services[0]
    assert cluster.inv("deploy", "--service", name).returncode == 0
    ((cid, *_),) = project_containers(name).values()
    compose = cluster.compose_dir(name) / "compose.yaml"
    compose.write_text(compose.read_text().replace("memory: 64M", "memory: 96M"))
    res = cluster.inv("deploy", "--service", name, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert statuses(res) == {
        "lock": "ok", "recover": "ok", "files": "changed", "network": "ok", "compose up": "changed", "record": "changed"
    }  # fmt: skip
    detail = next(s["detail"] for s in json.loads(res.stdout)["steps"] if s["step"].startswith("compose up"))
    assert detail.endswith("recreated")
    ((new_cid, *_),) = project_containers(name).values()
    assert new_cid != cid
    assert "memory: 96M" in (cluster.server_fortress / "docker" / name / "compose.yaml").read_text()


def test_a_missing_secret_is_named_and_nothing_is_touched(cluster: TestCluster, fake_infisical: FakeInfisical) -> None:
    name = cluster.services[0]
    fake_infisical.envs["prod"]["/web"] = {"OTHER": "x"}
    fake_infisical.set("/web")
    res = cluster.inv("deploy", "--service", name)
    assert res.returncode == 1
    assert res.stderr.strip() == (
        "error: missing secret(s) TEST_SECRET at Infisical path /web (env prod); add them in Infisical, then run again"
    )
    assert project_containers(name) == {}
    assert cluster.fortress_untouched()


def test_a_broken_compose_file_fails_before_any_change(cluster: TestCluster) -> None:
    name = cluster.services[0]
    assert cluster.inv("deploy", "--service", name).returncode == 0
    before = project_containers(name)
    deployed = (cluster.server_fortress / "docker" / name / "compose.yaml").read_text()
    (cluster.compose_dir(name) / "compose.yaml").write_text("services:\n  app:\n    image: [unclosed\n")
    res = cluster.inv("deploy", "--service", name)
    assert res.returncode == 1
    assert res.stderr.startswith(
        f"error: {cluster.compose_dir(name) / 'compose.yaml'} is not valid under the injection"
    )
    assert res.stderr.rstrip().endswith("fix it (nothing was changed)") and len(res.stderr.splitlines()) == 1
    assert project_containers(name) == before
    assert (cluster.server_fortress / "docker" / name / "compose.yaml").read_text() == deployed


def test_an_unhealthy_service_fails_with_its_ps_and_logs(cluster: TestCluster) -> None:
    name = cluster.services[0]
    compose = cluster.compose_dir(name) / "compose.yaml"
    compose.write_text(web_compose(health=UNHEALTHY).replace("echo web-started", "echo unhealthy-service-log-line"))
    res = cluster.inv("deploy", "--service", name, "--wait-timeout", "20")
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout
    assert f"{name}: docker compose ps -a" in out and f"{name}: last 30 log lines" in out
    assert "unhealthy" in out and "unhealthy-service-log-line" in out
    assert "failed" in out and "up failed" in out


def test_status_logs_and_down(cluster: TestCluster) -> None:
    name = cluster.services[0]
    missing = cluster.inv("deploy.status", "--json")
    assert missing.returncode == 1
    assert json.loads(missing.stdout) == [
        {"service": name, "node": "cooperator", "container": "", "state": "", "health": "", "image": "",
         "problem": "not deployed (no container)", "deployment": "none recorded"}
    ]  # fmt: skip
    assert cluster.inv("deploy", "--service", name).returncode == 0
    res = cluster.inv("deploy.status", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    (row,) = json.loads(res.stdout)
    assert (row["service"], row["node"], row["container"], row["state"], row["health"]) == (
        name, "cooperator", "app", "running", "healthy"
    )  # fmt: skip
    assert row["image"].startswith("colab-test/busybox")
    assert row["deployment"].startswith("#1 (deploy, ") and row["deployment"].endswith(" on cooperator)")
    assert "web-started" in cluster.inv("deploy.logs", "--service", name).stdout
    down = cluster.inv("deploy.down", "--service", name, "--json")
    assert down.returncode == 0 and statuses(down) == {"lock": "ok", "recover": "ok", "compose down": "changed"}
    assert project_containers(name) == {}
    assert (cluster.server_fortress / "data" / name / "written").exists()  # data stays
    again = cluster.inv("deploy.down", "--service", name, "--json")
    assert statuses(again)["compose down"] == "ok"


def test_mise_run_deploy_reaches_the_same_code(cluster: TestCluster, tmp_path: Path) -> None:
    """`mise run deploy:<service>` with the task as rendered (mise_tasks) runs the real deploy (mise offline)."""
    require_tool("mise")
    from colab import inventory
    from colab.render import mise_tasks

    name = cluster.services[0]
    inv_model = inventory.load(cluster.inventory)
    (task,) = [t for t in mise_tasks.repo_tasks(inv_model) if t.name == f"deploy:{name}"]
    assert task.run == (f"inv deploy --service {name}",)
    config = tmp_path / "home" / ".config" / "mise" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[tasks."deploy:{name}"]\ndir = "{ROOT}"\nrun = "{task.run[0]}"\n')
    closed = "http://127.0.0.1:9"  # nothing listens: mise may not fetch anything
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MISE_", "XDG_"))}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home/.config"), MISE_OFFLINE="1",
               MISE_DATA_DIR=str(tmp_path / "mise/data"), MISE_CACHE_DIR=str(tmp_path / "mise/cache"),
               MISE_STATE_DIR=str(tmp_path / "mise/state"), MISE_TASK_RUN_AUTO_INSTALL="0", NO_COLOR="1",
               HTTP_PROXY=closed, HTTPS_PROXY=closed, ALL_PROXY=closed, COLAB_NODE="cooperator",
               COLAB_INVENTORY=str(cluster.inventory), COLUMNS="200")  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    res = subprocess.run(["mise", "run", f"deploy:{name}"], cwd=work, env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"$ inv deploy --service {name}" in res.stderr and "changed" in res.stdout
    assert [s[2] for s in project_containers(name).values()] == ["running"]
