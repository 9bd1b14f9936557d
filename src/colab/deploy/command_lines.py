"""The command lines a deploy runs, as pure functions of the inventory and the target (no I/O).

Every Compose verb runs under the Infisical injection (`colab.compose.compose_argv`): the compose files use
`${NAME:?…}` placeholders, so even `ps` needs the secrets. The client reads the compose file from this
checkout (`-f`); relative paths in it resolve against the project folder on the target, where
`colab.deploy.sync` put the same files. Non-secret facts reach the compose files as environment variables
(`compose_env`); secrets only ever come from `infisical run`.
"""

from __future__ import annotations

from colab import compose, secrets
from colab.inventory import Inventory

from .override import STDIN_FILE
from .target import Target

# Non-secret variables deploy sets for every compose command (see docs/deploy.md for what each holds).
ENV_NAMES = (
    "COLAB_SERVICE",
    "COLAB_FORTRESS",
    "COLAB_DATA_DIR",
    "COLAB_CLUSTER_NETWORK",
    "COLAB_DOMAIN",
    "COLAB_PUBLIC_HOST",
    "COLAB_PORT",
    "COLAB_DB_NAME",
    "COLAB_DB_USER",
    "COLAB_FILES_HASH",
    "COLAB_TEXTFILE_DIR",
    "COLAB_COMPOSE_DIR",
    "DOCKER_HOST",
)
MANAGED_LABEL = "org.colab.managed=true"
DIAGNOSTIC_LOG_LINES = 30


def compose_env(inv: Inventory, target: Target, files_hash: str) -> dict[str, str]:
    """The non-secret environment of every compose command for this target (DOCKER_HOST when remote)."""
    svc = target.service
    env = {
        "COLAB_SERVICE": svc.name,
        "COLAB_FORTRESS": target.fortress,
        "COLAB_DATA_DIR": target.data_dir,
        "COLAB_CLUSTER_NETWORK": inv.docker.cluster_network,
        "COLAB_DOMAIN": inv.cluster.domain,
    }
    if svc.domains:
        env["COLAB_PUBLIC_HOST"] = svc.domains[0]
    if svc.port is not None:
        env["COLAB_PORT"] = str(svc.port)
    if svc.databases:
        env["COLAB_DB_NAME"] = svc.databases[0].name
        env["COLAB_DB_USER"] = svc.databases[0].user
    env["COLAB_FILES_HASH"] = files_hash
    if inv.monitoring is not None and target.source.name == "node-exporter":  # its textfile collector's folder
        env["COLAB_TEXTFILE_DIR"] = inv.monitoring.textfile_dir
    if target.source.name == "caddy":  # its compose file extends bearer-tokens.yaml, which the client reads here
        env["COLAB_COMPOSE_DIR"] = str(target.source)
    env.update(svc.env)  # the service's own non-secret settings (inventory services.NAME.env)
    env.update(engine_env(target))
    return env


def engine_env(target: Target) -> dict[str, str]:
    """Points the Docker CLI at the target's engine: nothing for the local socket, else DOCKER_HOST."""
    return {"DOCKER_HOST": target.docker_host} if target.docker_host else {}


def compose_cmd(inv: Inventory, target: Target, *args: str) -> list[str]:
    """`infisical run … -- docker compose -f <checkout>/compose.yaml --project-directory <target dir> -p NAME …`."""
    return compose.compose_argv(inv, target.service, args, target.project_dir, files=[str(target.compose_file)])


def secrets_check_cmd(inv: Inventory, target: Target) -> list[str]:
    """The presence check (`colab.secrets.check_present` runs exactly this; the values stay in memory)."""
    return secrets.check_argv(inv, target.service.secrets_path)


def config_cmd(inv: Inventory, target: Target) -> list[str]:
    """Validate the compose file with every variable resolved and list its services (names only: the full
    `config` output holds secrets)."""
    return compose_cmd(inv, target, "config", "--services")


def ps_json_cmd(inv: Inventory, target: Target) -> list[str]:
    return compose_cmd(inv, target, "ps", "-a", "--format", "json")


def network_inspect_cmd(inv: Inventory) -> list[str]:
    return ["docker", "network", "inspect", "--format", "{{.Name}}", inv.docker.cluster_network]


def network_create_cmd(inv: Inventory) -> list[str]:
    d = inv.docker
    options = ["--driver", "bridge", "--subnet", str(d.cluster_subnet), "--label", MANAGED_LABEL]
    return ["docker", "network", "create", *options, d.cluster_network]


def pull_cmd(inv: Inventory, target: Target) -> list[str]:
    return compose_cmd(inv, target, "pull", "--quiet")


def up_cmd(inv: Inventory, target: Target, wait_timeout: int) -> list[str]:
    """`up` with this tool's override read from stdin (`colab.deploy.override`) after the compose file."""
    args = ("up", "-d", "--wait", "--wait-timeout", str(wait_timeout), "--remove-orphans")
    files = [str(target.compose_file), STDIN_FILE]
    return compose.compose_argv(inv, target.service, args, target.project_dir, files=files)


def down_cmd(inv: Inventory, target: Target) -> list[str]:
    return compose_cmd(inv, target, "down", "--remove-orphans")


def logs_cmd(inv: Inventory, target: Target, tail: int = DIAGNOSTIC_LOG_LINES) -> list[str]:
    return compose_cmd(inv, target, "logs", "--no-color", "--timestamps", "--tail", str(tail))


def ps_table_cmd(inv: Inventory, target: Target) -> list[str]:
    return compose_cmd(inv, target, "ps", "-a")
