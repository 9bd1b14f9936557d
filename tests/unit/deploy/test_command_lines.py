"""The commands of a deploy: inventory + service → the environment and argv of every compose verb (the whole dry-run
plans: tests/unit/deploy/cases/)."""

from __future__ import annotations

from pathlib import Path

from colab import inventory
from colab.deploy import command_lines
from colab.deploy.target import resolve

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")
PROJECT = "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
INJECT = ["infisical", "run", "--env", "prod", "--path", "/gitea", "--projectId", PROJECT, "--silent", "--"]


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
