"""Deploy Compose services with secrets injected by Infisical, onto the node the inventory places them on.

Modules: `target` (node, engine and folders), `plan` (the exact commands), `sync` (the service's files on
the target), `generated` (files rendered from the inventory), `session` (runners for one deploy), `run`
(deploy, down, logs) and `status`.
"""

from .run import DEFAULT_WAIT_TIMEOUT, deploy, down, logs
from .target import Target, resolve

__all__ = ["DEFAULT_WAIT_TIMEOUT", "Target", "deploy", "down", "logs", "resolve"]
