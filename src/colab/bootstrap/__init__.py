"""Bootstrap: take a node from bare to ready (`inv bootstrap --node writer`), idempotently.

- `order`: the groups of steps in their order, by OS family (mesh, install, fortress, chezmoi, venv, backup, verify).
- `mesh`: tailscale joined to Headscale, the pre-auth key from Infisical on stdin only.
- `install`: Docker, mise, chezmoi the OS's way; Samba and Cockpit + 45Drives extensions on the server.
- `fortress`: the storage module's share (server) or mount (client) steps.
- `dotfiles`: `chezmoi init --apply <cluster.repo_url>` as the node.
- `venv`: the checkout's virtualenv (`<repo>/.venv`, exactly from the checkout's uv.lock).
- `backup`: on the backup node, the root-owned install /opt/colab the backup cron runs.
- `verify`: mise tasks, the checkout's inv, fortress, Docker, mesh address.
- `prerequisites`: what must be there before any step runs (SSH key, sudo, the Infisical CLI), all listed at once.
- `run`: find the node (offline on-demand nodes say so), check the prerequisites, run the steps, report.
- `context`: the node being bootstrapped (`Ctx`), the groups, the user tools' PATH on macOS.

Root, files and packages come from the shared step blocks (`colab.privilege`, `colab.file_steps`, `colab.apt`).
"""

# The group names, in order; here (not in `order`) so that `inv --list` can name them without loading the steps.
GROUPS = ("mesh", "install", "fortress", "chezmoi", "venv", "backup", "verify")
