"""The exact commands of a deploy: inventory + service → environment, argv, and the dry-run plan in order."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.deploy import command_lines, run, sync
from colab.deploy.target import resolve
from colab.steps import Status

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"
INV = inventory.load(ROOT / "cluster.toml")
PROJECT = "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
INJECT = ["infisical", "run", "--env", "prod", "--path", "/gitea", "--projectId", PROJECT, "--silent", "--"]


def dry_run(service: str, here: str, **kwargs: object) -> tuple[list[str], run.Report]:
    buf = io.StringIO()
    report = run.deploy(
        INV,
        service,
        dry_run=True,
        here=here,
        console=Console(file=buf, width=2000),
        **kwargs,  # type: ignore[arg-type]
    )
    # the checkout's path and the hash of the service's files vary; everything else is exact
    files_hash = sync.digest(sync.collect(resolve(INV, service, here=here, dry_run=True), {}))
    out = (
        buf.getvalue().replace(str(ROOT), "{repo}").replace(f"COLAB_FILES_HASH={files_hash}", "COLAB_FILES_HASH={hash}")
    )
    return out.splitlines(), report


def test_compose_env_carries_only_non_secret_facts_from_the_inventory() -> None:
    t = resolve(INV, "gitea", here="cooperator")
    assert command_lines.compose_env(INV, t, "abc") == {
        "COLAB_SERVICE": "gitea",
        "COLAB_FORTRESS": "/srv/fortress",
        "COLAB_DATA_DIR": "/srv/fortress/data/gitea",
        "COLAB_CLUSTER_NETWORK": "colab",
        "COLAB_DOMAIN": "ism.la",
        "COLAB_PUBLIC_HOST": "git.ism.la",
        "COLAB_PORT": "3000",
        "COLAB_DB_NAME": "gitea",
        "COLAB_DB_USER": "gitea",
        "COLAB_FILES_HASH": "abc",
        "GITEA__actions__ENABLED": "true",  # services.gitea.env: the service's own non-secret settings
        "GITEA__packages__ENABLED": "true",
    }
    remote = resolve(INV, "caddy", here="director", dry_run=True)
    env = command_lines.compose_env(INV, remote, "h")
    assert env["DOCKER_HOST"] == "ssh://crtr@100.64.0.1"
    assert "COLAB_PORT" not in env and "COLAB_DB_NAME" not in env  # caddy has neither


def test_every_compose_verb_runs_under_the_injection_with_the_checkout_file_and_the_target_folder() -> None:
    t = resolve(INV, "gitea", here="cooperator")
    compose = ["docker", "compose", "-f", str(ROOT / "compose/gitea/compose.yaml")]
    compose += ["--project-directory", "/srv/fortress/docker/gitea", "-p", "gitea"]
    assert command_lines.config_cmd(INV, t) == [*INJECT, *compose, "config", "--services"]
    with_override = [*compose[:4], "-f", "-", *compose[4:]]  # this tool's labels, on stdin
    assert command_lines.up_cmd(INV, t, 90) == [
        *INJECT, *with_override, "up", "-d", "--wait", "--wait-timeout", "90", "--remove-orphans"
    ]  # fmt: skip
    assert command_lines.ps_json_cmd(INV, t) == [*INJECT, *compose, "ps", "-a", "--format", "json"]
    assert command_lines.down_cmd(INV, t) == [*INJECT, *compose, "down", "--remove-orphans"]
    assert command_lines.pull_cmd(INV, t) == [*INJECT, *compose, "pull", "--quiet"]
    assert command_lines.logs_cmd(INV, t, 5) == [*INJECT, *compose, "logs", "--no-color", "--timestamps", "--tail", "5"]
    assert command_lines.secrets_check_cmd(INV, t) == [
        "infisical", "export", "--env", "prod", "--path", "/gitea", "--projectId", INV.infisical.project_id,
        "--format", "json", "--silent",
    ]  # fmt: skip
    assert command_lines.network_create_cmd(INV) == [
        "docker", "network", "create", "--driver", "bridge", "--subnet", "172.30.0.0/24",
        "--label", "org.colab.managed=true", "colab",
    ]  # fmt: skip


@pytest.mark.parametrize(("here", "fixture"), [("cooperator", "gitea-local.txt"), ("director", "gitea-remote.txt")])
def test_dry_run_prints_the_exact_plan_for_gitea_on_the_default_inventory(here: str, fixture: str) -> None:
    lines, report = dry_run("gitea", here)
    commands = [line for line in lines if line.startswith(("#", "["))]
    assert commands == (FIXTURES / fixture).read_text().splitlines()
    steps = ["lock", "recover", "files", "network", "compose up", "rollback", "record"]
    assert [o.step.rsplit(" ", 1)[0] for o in report.outcomes] == steps
    assert [o.status for o in report.outcomes] == [Status.PLANNED] * len(steps)
    assert report.exit_code == 0


def test_dry_run_of_pull_pulls_before_up_and_a_moved_service_says_so() -> None:
    lines, _ = dry_run("mcp-files", "cooperator", node="director", pull=True)
    assert lines[0] == "# pull and deploy mcp-files on director via ssh://crtr@100.64.0.2 (moved from cooperator)"
    verbs = [line.split(" -p mcp-files ")[-1] for line in lines if " -p mcp-files " in line]
    assert verbs == ["config --services", "pull --quiet", "up -d --wait --wait-timeout 180 --remove-orphans"]
    assert all("/mnt/fortress/docker/mcp-files" in line for line in lines if " -p mcp-files " in line)


def test_a_service_without_secrets_skips_the_presence_check() -> None:
    lines, _ = dry_run("node-exporter-cooperator", "cooperator")
    assert not any("infisical export" in line for line in lines)
    assert lines[1] == "# files for /srv/fortress/docker/node-exporter-cooperator on cooperator: compose.yaml"


def test_caddy_ships_its_rendered_files_and_checks_the_tokens_it_needs() -> None:
    lines, _ = dry_run("caddy", "cooperator")
    assert any("infisical export" in line and "--path /caddy" in line for line in lines)  # MCP_AUTH_TOKEN
    assert lines[1] == (
        "# files for /srv/fortress/docker/caddy on cooperator: Caddyfile, bearer-tokens.yaml, compose.yaml"
    )
