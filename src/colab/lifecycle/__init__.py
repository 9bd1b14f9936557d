"""Day-2 operations: the owner's everyday changes as commands (docs/lifecycle.md).

- `tables`: add or remove a whole `[section.name]` table in the inventory's text, keeping its comments and layout.
- `scaffolds`: the compose folder templates `inv service.new` starts a service from (web, web-db, mcp, busybox).
- `impact`: what a deploy of a service is made of, and which services two inventories (or two commits) deploy
  differently: the services to redeploy after a change.
- `edit`: one inventory change as a transaction: validated and rendered in memory, then written (the compose
  folder, the inventory, the rendered files), or nothing written at all.
- `service_new`: `inv service.new`. `nodes_edit`: `inv node.add` / `node.remove`.
- `rollout`: `inv rollout`, every node's checkout brought to this checkout's commit, one node at a time.
- `rotation`: `inv secrets.rotated`, whatever uses a secret re-applied after its value changed in Infisical.
- `output`: what the inventory-editing tasks print (written files, secrets to add, what to redeploy next).
"""
