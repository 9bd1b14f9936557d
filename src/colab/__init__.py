"""Colab cluster ops: run a small mixed home-lab cluster from one git repository.

Each task's logic lives in a package here; tasks/ only parses options. Each package's `__init__.py` lists its
modules. Where to look first:

- a snapshot is built under a temporary name and renamed into place in `backup.runs` (see `backup`);
- the Samba password passes through `storage.fortress_share` (server), `storage.boot` (Linux boot mount) and
  `storage.mounts` (Windows drive, macOS Keychain) (see `storage`);
- the deploy order is `deploy.run` (its docstring lists the steps; `deploy.prelude`: what every changing verb
  does first).

Packages: `backup` (snapshots, dumps, retention, restore, off-site), `bootstrap` (a bare node to ready),
`deploy` (Compose services with Infisical's secrets), `storage` (the fortress share, its mounts, the RAID),
`status` (`inv status`), `metrics` (for Prometheus), `render` (`inv render`: templates into files),
`lifecycle` (day-2 changes: service.new, node.add, rollout, secrets.rotated).

Modules: `inventory` (the model; `inventory_paths`, `inventory_edit`, `inventory_view`, `inventory_docs`),
`node_facts` (what a node is: its fortress mount, Docker daemon, boot mount, backup cron), `runner` (commands
on a node), `steps` (check, act, verify, report) and the blocks steps are made of: `privilege` (root through
`sudo -n`), `file_steps` (files and folders), `apt` (Debian packages); `lock_holder` (who holds the deploy or
backup lock), `secrets`, `injection` and `masking` (secrets in memory only), `compose` (Compose command lines),
`image_ref` (image references), `quoting`, `netguard`, `registry` and `registry_credentials`, `cli`, `options`,
`confirm`, `tables` (for people), `checkout`, `checkout_venv`, `repo`, `lockfile` (uv.lock as hashed
requirements), `errors`.
"""

__version__ = "0.1.0"
