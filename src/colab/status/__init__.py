"""`inv status`: one row per node of the whole cluster, probed in parallel, each within its own time limit.

- `model`: levels, checks, a node's row, the cluster's report and its exit code (1 critical, 2 warnings).
- `reach`: a bounded TCP connect to a node's SSH port on the mesh and on the LAN (never ICMP).
- `engine`: the node's Docker engine and the containers of every service placed on it (compose labels, no
  secrets; `colab.deploy.project` is deploy's view of one service's project).
- `volumes`: fortress mounted (through `colab.storage.fortress_status`), free space, the RAID from /proc/mdstat.
- `backups`: the newest snapshot on the backup volume, its age and result, a run in progress, free space.
- `collect`: one thread per node, a deadline per node; a node that does not answer in time is a row saying so.
- `view`: the rich table and the JSON document; `html`: the static status page; `export`: metrics and the page.
- `command`: `inv status` as one function (options checked, probed, printed, exported).
"""

DEFAULT_TIMEOUT = 10.0  # seconds a node may take to answer; here so that `inv --list` need not load collect
