"""Injected values on deploy's error paths, with the real engine and Compose v2 and the Infisical stand-in.

The secret is used where Compose echoes it: in a port mapping (`config` fails with `Invalid hostPort: <value>`)
and as the container's name, with a service that logs it and never gets healthy (`up` fails naming the
container; `ps` shows it as a table and as JSON; `logs` prefixes every line with it and the line holds it).
The value must reach Compose and the container, and appear in no output of `inv deploy` (table or `--json`),
`deploy.logs`, `deploy.status` or `deploy.down`, nor in any file under the test's folders or the repo.
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
from tests.integration.deploy_support import TestCluster, files_containing, remove_project, write_cluster

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
BAD_PORT = """\
services:
  app:
    image: {image}
    command: ["sleep", "600"]
    ports: ["${{TEST_SECRET:?from Infisical}}:8080"]
"""
LEAKY = """\
services:
  app:
    image: {image}
    container_name: "${{TEST_SECRET:?from Infisical}}"
    command: ["sh", "-c", "echo \\"booting with $$TEST_SECRET\\"; exec sleep 600"]
    environment:
      TEST_SECRET: ${{TEST_SECRET:?from Infisical}}
    restart: "no"
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "sh", "-c", "exit 1"]
      interval: 1s
      timeout: 1s
      retries: 1
"""


@pytest.fixture
def masked(tmp_path: Path, busybox_image: str, fake_infisical: FakeInfisical) -> Iterator[tuple[TestCluster, str, str]]:
    """A service `mask-<tag>` on cooperator needing TEST_SECRET = CANARY-<tag> (unique: it names a container)."""
    require_tool("docker")
    tag = f"{os.getpid()}-{time.monotonic_ns() % 100000}"
    name, secret = f"mask-{tag}", f"{CANARY}-{tag}"
    subnet = f"10.221.{os.getpid() % 250}.0/24"
    cluster = write_cluster(tmp_path, tag, {name: {"node": "cooperator", "secrets": ["TEST_SECRET"]}}, subnet)
    fake_infisical.set("/web", TEST_SECRET=secret)
    yield cluster, name, busybox_image
    subprocess.run(["docker", "rm", "-f", secret], capture_output=True)
    remove_project(name, cluster.network)


def assert_nowhere(results: list[subprocess.CompletedProcess[str]], cluster: TestCluster, since: float) -> None:
    for res in results:
        assert CANARY not in res.stdout + res.stderr, res.stdout + res.stderr
    assert list(files_containing(CANARY, [ROOT, cluster.root], since=since - 1)) == []


def test_config_error_quoting_the_secret_is_masked(masked: tuple[TestCluster, str, str]) -> None:
    cluster, name, image = masked
    compose = cluster.compose_dir(name) / "compose.yaml"
    compose.write_text(BAD_PORT.format(image=image))
    started = time.time()
    runs = [cluster.inv("deploy", "--service", name), cluster.inv("deploy", "--service", name, "--json")]
    for res in runs:
        assert res.returncode == 1 and res.stdout == ""
        assert res.stderr == (
            f"error: {compose} is not valid under the injection (Invalid hostPort: ***); fix it (nothing was changed)\n"
        )  # Compose got the value (it rejected it) and the message masks it
    assert_nowhere(runs, cluster, started)
    assert cluster.fortress_untouched()  # nothing was changed


def test_up_ps_logs_and_down_quoting_the_secret_are_masked(masked: tuple[TestCluster, str, str]) -> None:
    cluster, name, image = masked
    (cluster.compose_dir(name) / "compose.yaml").write_text(LEAKY.format(image=image))
    secret = f"{CANARY}-{name.removeprefix('mask-')}"
    started = time.time()
    plain = cluster.inv("deploy", "--service", name, "--wait-timeout", "30")
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert f"{name}: docker compose ps -a" in plain.stdout and "booting with ***" in plain.stdout
    assert "***  | " in plain.stdout or "*** | " in plain.stdout  # the log prefix is the container's name

    as_json = cluster.inv("deploy", "--service", name, "--wait-timeout", "30", "--json")
    assert as_json.returncode == 1
    up = next(s for s in json.loads(as_json.stdout)["steps"] if s["step"].startswith("compose up"))
    assert up["status"] == "failed" and "***" in up["detail"], up
    assert "booting with ***" in as_json.stderr  # the diagnostics go to stderr next to JSON

    logs = cluster.inv("deploy.logs", "--service", name)
    assert logs.returncode == 0 and "booting with ***" in logs.stdout
    status = cluster.inv("deploy.status", "--json")
    assert status.returncode == 1 and json.loads(status.stdout)[0]["health"] == "unhealthy"

    # the value reached the container: it is its name, and it logged it
    seen = subprocess.run(["docker", "logs", secret], capture_output=True, text=True)
    assert seen.stdout.strip() == f"booting with {secret}"

    down = cluster.inv("deploy.down", "--service", name, "--json")
    details = {s["step"].split(" ")[0]: s["detail"] for s in json.loads(down.stdout)["steps"]}
    assert down.returncode == 0 and details["compose"] == "removed ***"
    assert_nowhere([plain, as_json, logs, status, down], cluster, started)
