"""Docker Compose v2 command lines for a service, always under the Infisical injection.

Every verb (config, up, ps, logs, exec, down) runs under `infisical run`: the compose files use
`${NAME:?…}` placeholders, which make even `ps` fail without the secrets.
Convention: a service's files live in `<fortress on its node>/docker/<service>/compose.yaml` and its
Compose project is named after the service.
"""

from __future__ import annotations

from collections.abc import Sequence

from colab import secrets
from colab.inventory import Inventory, Service

# The labels Compose gives every container: read with plain `docker`, they find a service's containers without
# its compose file or its secrets (`colab.deploy.project`, `colab.status.engine`).
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def project_dir(inv: Inventory, svc: Service) -> str:
    """Where the service's compose files live on the node that runs it."""
    node = inv.node(svc.node)
    return f"{inv.fortress_mount(node)}/docker/{svc.name}"


def compose_argv(
    inv: Inventory,
    svc: Service,
    args: Sequence[str],
    directory: str | None = None,
    *,
    files: Sequence[str] = (),
) -> list[str]:
    """`infisical run … -- docker compose [-f FILE…] --project-directory D -p NAME ARGS…`.

    `files` are compose files read by the client (e.g. the repo's copy when the engine is another node's:
    relative paths in them still resolve against the project directory, on the engine's node).
    """
    directory = directory or project_dir(inv, svc)
    compose = ["docker", "compose", *(a for f in files for a in ("-f", f)), "--project-directory", directory]
    compose += ["-p", svc.name, *args]
    return secrets.run_argv(inv, svc.secrets_path, compose)
