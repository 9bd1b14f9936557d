"""Deploy Compose services with secrets injected by Infisical, onto the node the inventory places them on.

Modules: `target` (node, engine and folders), `plan` (the exact commands), `session` (runners for one
deploy), `lock` (one change at a time, on the target), `engine` (the project on the engine: reachable,
ownership, leftover containers), `prelude` (what every changing verb does first), `sync` (the service's files
on the target), `generated` (files rendered from the inventory), `network` (the cluster network), `override`
(this tool's labels and pinned images), `up` (compose up and its diagnostics), `store` (recorded
deployments), `rollback`, `run` (deploy, down, logs), `status` and `output` (causes and plain text).
"""

# Seconds a deploy waits for health checks; here so that `inv --list` can show it without loading the modules.
DEFAULT_WAIT_TIMEOUT = 180
