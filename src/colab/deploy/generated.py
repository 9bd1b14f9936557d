"""Files rendered from the inventory at deploy time and put beside a service's compose file.

Keyed by the compose folder's name (`compose/headscale` → config.yaml), so an inventory may call the service
anything. None of these files may hold a secret: they are written to the fortress folder. The edge files
(compose/caddy/Caddyfile, compose/pihole/custom.list, compose/headscale/acl.hujson) are rendered by
`inv render` into the compose folders and committed (`inv render --check` keeps them current), so deploy
ships them as the folder's own files.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from colab.inventory import Inventory

from .target import Target

Renderer = Callable[[Inventory, Target], dict[str, str]]
ACL_PATH = "/etc/headscale/acl.hujson"  # compose/headscale/acl.hujson (inv render), mounted by its compose.yaml


def _headscale(inv: Inventory, target: Target) -> dict[str, str]:
    """headscale's config.yaml (JSON is YAML): URL, mesh prefix and DNS from the inventory."""
    port = target.service.port or 8080
    config = {
        "server_url": inv.networks.headscale_url,
        "listen_addr": f"0.0.0.0:{port}",
        "metrics_listen_addr": "127.0.0.1:9090",
        "grpc_listen_addr": "127.0.0.1:50443",
        "grpc_allow_insecure": False,
        "noise": {"private_key_path": "/var/lib/headscale/noise_private.key"},
        "prefixes": {"v4": str(inv.networks.mesh), "allocation": "sequential"},
        "derp": {
            "server": {"enabled": False},
            "urls": ["https://controlplane.tailscale.com/derpmap/default"],
            "auto_update_enabled": True,
            "update_frequency": "24h",
        },
        "disable_check_updates": True,
        "ephemeral_node_inactivity_timeout": "30m",
        "database": {"type": "sqlite", "sqlite": {"path": "/var/lib/headscale/db.sqlite"}},
        "log": {"level": "info", "format": "text"},
        "policy": {"mode": "file", "path": ACL_PATH},
        "dns": {
            "magic_dns": True,
            "base_domain": f"{inv.cluster.name}.{inv.cluster.domain}",
            "nameservers": {"global": [str(inv.networks.dns)]},
        },
        "unix_socket": "/var/run/headscale/headscale.sock",
        "unix_socket_permission": "0770",
    }
    header = f"# Rendered by `inv deploy --service {target.service.name}` from the inventory; edits are overwritten.\n"
    return {"config.yaml": header + json.dumps(config, indent=2) + "\n"}


RENDERERS: dict[str, Renderer] = {"headscale": _headscale}


def render(inv: Inventory, target: Target) -> dict[str, str]:
    """Generated files for the target's compose folder (relative path → text); empty for most services."""
    renderer = RENDERERS.get(target.source.name)
    return renderer(inv, target) if renderer else {}
