"""The Compose override every `up` gets on stdin (`-f -`): this tool's labels, and for a rollback the images.

Labels on every container (`org.colab.managed=true`, `org.colab.service=<service>`) are how a later run
knows the project is its own (`colab.deploy.project`). A rollback also pins each Compose service to the image
id the recorded deployment ran (`image: sha256:…`), so a tag moved by a pull since then does not matter.
The override holds no secret; it travels on stdin so the command line stays the same for every run.
"""

from __future__ import annotations

import json

MANAGED_LABEL = "org.colab.managed"
OWNER_LABEL = "org.colab.service"
STDIN_FILE = "-"  # `docker compose -f -`: the override is read from stdin


def labels(service: str) -> dict[str, str]:
    return {MANAGED_LABEL: "true", OWNER_LABEL: service}


def render(service: str, compose_services: list[str], images: dict[str, str] | None = None) -> bytes:
    """The override for the project `service` whose Compose services are `compose_services`."""
    body: dict[str, dict[str, object]] = {}
    for name in compose_services:
        entry: dict[str, object] = {"labels": labels(service)}
        if images and name in images:
            entry["image"] = images[name]
        body[name] = entry
    return json.dumps({"services": body}, sort_keys=True).encode()
