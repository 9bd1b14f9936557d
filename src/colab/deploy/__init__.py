"""Deploy Compose services with secrets injected by Infisical, onto the node the inventory places them on.

The order of a deploy (and of down and logs) is `run`: its docstring lists the steps, its `deploy` takes them.
What every changing verb (deploy, pull, rollback, down) does first, in order, is `prelude`.

- `target`: the service's node, that node's Docker engine (local socket or `ssh://`) and its fortress folders.
- `command_lines`: the exact command lines and the compose environment of every verb (pure).
- `session`: the runners (here and on the target), the files and the environment of one deploy.
- `lock`: one change at a time per service, a lock on the target node (`--wait` queues).
- `project`: the service's Compose project on the target's engine: reachable, whose it is, leftover containers.
- `fortress_check`: fortress's folders are there on the target before anything is written.
- `sync`: the service's files into its folder on the target; `generated`: files rendered at deploy time.
- `network`: the cluster network; `override`: this tool's labels and a rollback's pinned images.
- `up`: `docker compose up` and its diagnostics; `store`: the recorded deployments; `rollback`: back to one.
- `running`: what runs where (`inv deploy.status`); `output`: the cause line and plain text of a tool's output.
"""

# Seconds a deploy waits for health checks; here so that `inv --list` can show it without loading the modules.
DEFAULT_WAIT_TIMEOUT = 180
