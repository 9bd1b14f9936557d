"""`inv render`: the inventory through the Jinja templates in `templates/` into files in the repo (docs/render.md).

Everything is rendered in memory first, so a template error writes nothing; then the new tree is built in a
temporary folder beside the target and swapped in. What a node is (how it mounts fortress, its Docker daemon,
its backup schedule) is not worked out here but in `colab.node_facts`; this package lays facts out.

- `templates`: where the templates are and what each produces, the one Jinja environment with the filters that
  quote inventory values per language, errors naming the template file and line.
- `context`: what the templates see — the whole inventory, one node, one service.
- `tree`: `render_tree`, every generated file in memory (per-node files in three passes), each TOML, JSON and
  plist file parsed before anything is written.
- `disk`: what render owns in the repo, the diff of `inv render --check`, the write (built aside, swapped in).
- `chezmoi_source`: the chezmoi source tree's layout (per-node copies, the templates picking them, ignore
  lists) and what each node gets from a rendered tree.
- `mise_tasks`: the mise tasks every node and the repo get, each running an `inv` task.
- `edge`: Caddy's sites, Pi-hole's records, the Headscale ACL, Cockpit's cockpit.conf (docs/edge.md);
  `caddyfile` lays out the Caddyfile.
- `monitoring`: what Prometheus scrapes, the alert thresholds, where Alertmanager sends alerts, which node runs
  the status export (docs/monitoring.md).

The inventory reference (docs/inventory.md) is read from the model by `colab.inventory_docs`. Nothing here is
imported when tasks/ loads: `inv render` imports `tree` and `disk` when it runs.
"""
