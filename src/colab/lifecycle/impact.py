"""Which services two states of the repository deploy differently: the services to redeploy after a change.

A deploy of a service is made of (`colab.deploy`): its compose folder's files (the owner's and the ones
`inv render` writes into it: Caddy's Caddyfile, Pi-hole's records, Headscale's ACL, Prometheus's scrape config),
its inventory entry, the non-secret environment deploy derives from the inventory (`COLAB_FORTRESS`,
`COLAB_PORT`, `COLAB_DOMAIN`, …) and the files deploy renders beside them (Headscale's config.yaml). Two states
differ for a service when any of these differs; that is what adding a node (the ACL, the DNS records, the
scrape targets), a domain (the Caddyfile, the records) or a change to a service's own files comes down to.
Secret values are no part of it: they live in Infisical (`inv secrets.rotated` handles a changed one).

The folder's files are compared as rendered trees (an inventory edit in this checkout, `colab.render`) or as
the paths `git diff --name-only` lists between two commits (`inv rollout`, on the node).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from colab.deploy import command_lines, generated
from colab.deploy import target as deploy_target
from colab.errors import ColabError
from colab.inventory import Inventory, Service

# Any name that is no node: every engine is then addressed as another node's, the same way in both states.
ANYWHERE = "(anywhere)"


@dataclass(frozen=True)
class Change:
    service: str
    node: str
    reason: str
    removed: bool = False  # in the old state only: nothing deploys it any more

    @property
    def new(self) -> bool:
        return self.reason == NEW


NEW = "new service: deploy it"


def facts(inv: Inventory, name: str) -> dict[str, Any]:
    """What a deploy of `name` takes from the inventory, as comparable data (no secret values: none are here)."""
    svc = inv.services[name]
    out: dict[str, Any] = {"entry": svc.model_dump(mode="json")}
    try:
        target = deploy_target.resolve(inv, name, here=ANYWHERE, dry_run=True)
    except ColabError:
        return out  # no compose folder in this checkout: its entry is all there is to compare
    env = dict(command_lines.compose_env(inv, target, ""))
    env.pop("COLAB_FILES_HASH", None)  # a hash of the files, compared below file by file
    out["env"] = env
    out["generated"] = generated.render(inv, target)
    return out


def folder_files(tree: Mapping[str, bytes], svc: Service) -> dict[str, bytes]:
    """The rendered files in the service's compose folder (`compose/caddy/Caddyfile` …)."""
    prefix = svc.folder + "/"
    return {path: data for path, data in tree.items() if path.startswith(prefix)}


def _entry_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _reasons(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    reasons = []
    keys = _entry_keys(old.get("entry", {}), new.get("entry", {}))
    if keys:
        reasons.append(f"its inventory entry changed ({', '.join(keys)})")
    names = _entry_keys(old.get("env", {}), new.get("env", {}))
    if names:
        reasons.append(f"deploy sets {', '.join(names)} differently")
    files = _entry_keys(old.get("generated", {}), new.get("generated", {}))
    if files:
        reasons.append(f"its generated {', '.join(files)} changed")
    return reasons


def changes(
    old: Inventory,
    new: Inventory,
    *,
    old_tree: Mapping[str, bytes] | None = None,
    new_tree: Mapping[str, bytes] | None = None,
    changed_paths: Iterable[str] | None = None,
    nodes: Iterable[str] | None = None,
) -> list[Change]:
    """Every service of `new` that deploys differently from `old` (with why), then those `new` no longer has.

    `old_tree`/`new_tree`: rendered trees to compare the folders' generated files by; `changed_paths`: paths
    (relative to the repository) that differ between two commits. `nodes`: only services placed there.
    """
    wanted = set(nodes) if nodes is not None else None
    paths = sorted(set(changed_paths or ()))
    out: list[Change] = []
    for name, svc in new.services.items():
        if wanted is not None and svc.node not in wanted:
            continue
        if name not in old.services:
            out.append(Change(name, svc.node, NEW))
            continue
        reasons = _reasons(facts(old, name), facts(new, name))
        if old_tree is not None and new_tree is not None:
            before, after = folder_files(old_tree, old.services[name]), folder_files(new_tree, svc)
            differ = _entry_keys(before, after)
            if differ:
                reasons.append(f"{', '.join(differ)} changed")
        if paths:
            folders = {svc.folder + "/", old.services[name].folder + "/"}
            touched = [p for p in paths if any(p.startswith(f) for f in folders)]
            if touched:
                reasons.append(f"{', '.join(touched)} changed")
        if reasons:
            out.append(Change(name, svc.node, "; ".join(reasons)))
    for name, svc in old.services.items():
        if name not in new.services and (wanted is None or svc.node in wanted):
            out.append(Change(name, svc.node, "removed from the inventory", removed=True))
    return out
