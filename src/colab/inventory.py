"""The inventory: cluster.toml loaded once into a typed, validated model.

Every other module reads the model, never the TOML. Validation collects all problems and reports
each as one line `key.path: what is wrong`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic_core import PydanticCustomError

from colab import inventory_paths, quoting
from colab.errors import InventoryError
from colab.repo import REPO_ROOT as REPO_ROOT  # re-exported: where the checkout is

DEFAULT_INVENTORY = REPO_ROOT / "cluster.toml"
ENV_INVENTORY = "COLAB_INVENTORY"


# What a value checked by a rule must be, in words, for the inventory's reference (docs/inventory.md).
_RULE_WORDS = {
    "path": "an absolute path (see Paths in the README for the characters allowed)",
    "device_path": "a device path under /dev",
    "secret_path": "an Infisical folder like /gitea",
    "text": "text (no control characters)",
    "project_id": "an Infisical project id",
    "version": "a version (letters, digits, '._+-')",
}
_RULES: dict[Callable[[str], str], str] = {}


def _rule(check: Callable[[str], str | None], kind: str) -> AfterValidator:
    """A string check from `inventory_paths` as a validator whose message is the check's one line."""

    def validate(value: str) -> str:
        problem = check(value)
        if problem:
            raise PydanticCustomError(kind, "{problem}", {"problem": problem})
        return value

    _RULES[validate] = _RULE_WORDS.get(kind, kind)
    return AfterValidator(validate)


def rule_hint(validator: Callable[[str], str]) -> str | None:
    """What a value checked by this rule must be, in words (None: not one of the inventory's rules)."""
    return _RULES.get(validator)


def pattern_hint(metadata: Any) -> str | None:
    """What a value matched against this field metadata's pattern must be, in words (None: no pattern)."""
    pattern = getattr(metadata, "pattern", None)
    if pattern is None:
        return None
    return _PATTERN_HINTS.get(pattern, f"text matching {pattern}")


# What a value matched against a pattern must look like, said plainly in the one-line error instead of the regex.
_PATTERN_HINTS: dict[str, str] = {}


def matching(pattern: str, hint: str) -> Any:
    """Field(pattern=...) whose mismatch reads `<key>: '<value>' is not <hint>`."""
    _PATTERN_HINTS[pattern] = hint
    return Field(pattern=pattern)


IDENTIFIER_RE = r"[A-Za-z_][A-Za-z0-9_]*"  # secret and variable names
NAME_RE = r"[a-z][a-z0-9-]{0,62}"  # node, service and user names
IDENTIFIER = matching(rf"^{IDENTIFIER_RE}$", "a name of letters, digits and '_', not starting with a digit")
Name = Annotated[
    StrictStr,
    matching(rf"^{NAME_RE}$", "a name of lowercase letters, digits and '-', starting with a letter"),
]
# The character sets are documented in colab.inventory_paths (and the README's inventory section).
AbsPath = Annotated[StrictStr, _rule(inventory_paths.path_problem, "path")]
RepoPath = Annotated[StrictStr, _rule(inventory_paths.repo_problem, "path")]
SharePath = Annotated[StrictStr, _rule(inventory_paths.share_path_problem, "path")]
DevicePath = Annotated[StrictStr, _rule(inventory_paths.device_problem, "device_path")]
SecretPath = Annotated[StrictStr, _rule(inventory_paths.secret_path_problem, "secret_path")]
Text = Annotated[StrictStr, _rule(inventory_paths.text_problem, "text")]
Url = Annotated[Text, matching(r"^https?://\S+$", "an http:// or https:// URL without spaces")]
OsFamily = Literal["debian", "wsl", "macos"]
SecretName = Annotated[StrictStr, IDENTIFIER]
# Who may reach a proxied domain through Caddy: everyone, or the LAN, the mesh and the host only (docs/edge.md).
Access = Literal["public", "private"]
# A Caddy path pattern (`/api/*`): no space, quote or brace can reach the Caddyfile.
PathPattern = Annotated[
    StrictStr, matching(r"^/[A-Za-z0-9._~/*-]*$", "a path pattern: '/' then letters, digits and '._~/*-' (e.g. /api/*)")
]
UNIX_NAME_MAX = 32  # useradd / groupadd refuse longer names


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cluster(_Model):
    name: Name
    """The cluster's name: in table titles, the status page and generated names."""
    domain: Annotated[
        StrictStr,
        matching(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", "a domain like example.org"),
    ]
    """The domain every site lives under (git.<domain>, vault.<domain> …)."""
    repo_url: Annotated[
        Text,
        matching(
            r"^$|^(https?|ssh|git|file)://\S+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+$|^/\S*$",
            "a git URL (https://, ssh://, git://, file://, user@host:path or /path)",
        ),
    ] = ""
    """The git URL a new node clones with `chezmoi init --apply` (inv bootstrap); "" until set."""


class Networks(_Model):
    lan: IPv4Network
    """The home LAN (CIDR); private sites answer it."""
    mesh: IPv4Network
    """The Headscale mesh's range (CIDR); private sites answer it too."""
    dns: IPv4Address
    """The LAN address of the DNS server (Pi-hole) the nodes use."""
    headscale_url: Url
    """The Headscale URL nodes join the mesh at."""
    headscale_key_path: SecretPath = "/headscale"
    """Infisical folder of the Headscale pre-auth key `inv bootstrap` joins a node with."""
    headscale_key_name: Annotated[StrictStr, IDENTIFIER] = "HEADSCALE_PREAUTH_KEY"
    """Name of that pre-auth key's secret."""


class AddressPool(_Model):
    base: IPv4Network
    """A range Docker makes its networks from (must not overlap the LAN, the mesh or the cluster subnet)."""
    size: Annotated[StrictInt, Field(ge=8, le=30)]
    """Prefix length of each network made from it (e.g. 24)."""


class Docker(_Model):
    cluster_network: Name
    """The Docker network every service joins (Caddy reaches services by name on it)."""
    cluster_subnet: IPv4Network
    """Its subnet (CIDR), fixed so that it never collides with the LAN or the mesh."""
    address_pools: Annotated[list[AddressPool], Field(min_length=1)]
    """Docker's default-address-pools (daemon.json): where Compose networks come from."""
    log_max_size: Annotated[StrictStr, matching(r"^[0-9]+[kmg]$", "a size like 10m (digits, then k, m or g)")] = "10m"
    """Largest container log file before it is rotated (json-file max-size)."""
    log_max_file: Annotated[StrictInt, Field(ge=1, le=100)] = 3
    """How many rotated log files each container keeps (max-file)."""


class Infisical(_Model):
    project_id: Annotated[StrictStr, _rule(inventory_paths.project_id_problem, "project_id")]
    """The Infisical project holding every secret (passed to every `infisical run`)."""
    environment: Name
    """The Infisical environment (e.g. prod), always passed explicitly."""
    api_url: Annotated[Text, matching(r"^(https?://\S+)?$", "an http:// or https:// URL without spaces, or empty")] = ""
    """The CLI's `INFISICAL_API_URL` (self-hosted: `https://<host>/api`) for logins with no CLI config of their own:
    the nodes' machine identities (the boot unit that fetches the fortress password). Empty: the CLI's default."""


class Node(_Model):
    name: StrictStr = ""  # filled from the table key, which is validated as a Name
    arch: Literal["arm64", "amd64"]
    """CPU architecture."""
    os: OsFamily
    """OS family: debian, wsl (Debian in WSL2 on Windows) or macos; decides how each step is done."""
    roles: list[Name] = []
    """Roles of the node (edge, storage, backup, compute …); `admin` nodes reach every port through the mesh."""
    lan: IPv4Address
    """The node's LAN address."""
    mesh: IPv4Address
    """The node's mesh (Headscale) address."""
    availability: Literal["always", "on-demand"] = "always"
    """`on-demand` nodes may be off: status says off rather than down, and rollout skips them."""
    ssh_user: Name
    """The user tasks log in as, who owns the checkout; also the node's Samba user for fortress."""
    ssh_port: Annotated[StrictInt, Field(ge=1, le=65535)] = 22
    """The SSH port."""
    repo: RepoPath
    """Where this repository is checked out on the node (chezmoi's source, the venv, the mise tasks)."""
    gpu: StrictBool = False
    """The node has a GPU: services that require one may run only there."""

    @property
    def on_demand(self) -> bool:
        return self.availability == "on-demand"

    @property
    def engine_url(self) -> str:
        """`ssh://user@mesh[:port]`: the node's Docker engine from another machine (DOCKER_HOST)."""
        port = "" if self.ssh_port == 22 else f":{self.ssh_port}"
        return f"ssh://{self.ssh_user}@{self.mesh}{port}"


class FortressMounts(_Model):
    linux: AbsPath
    """Where Linux and WSL clients mount fortress."""
    windows: Annotated[StrictStr, matching(r"^[A-Z]:$", "a drive letter like Z:")]
    """The Windows drive letter fortress is mapped to (the Windows side of WSL nodes)."""
    macos: AbsPath
    """Where macOS clients mount fortress."""


class Fortress(_Model):
    server: Name
    """The node that serves the share (Samba)."""
    share: Name
    """The share's name (//server/share)."""
    device: DevicePath
    """The block device holding fortress on the server."""
    filesystem: Literal["xfs", "ext4", "btrfs"]
    """Its file system."""
    path: SharePath
    """Where the server mounts it and Samba shares it from."""
    group: Name
    """The Unix group of everyone on the share (`valid users = @group`, `force group`)."""
    users: Annotated[dict[Name, SecretName], Field(min_length=1)]
    """The share's Samba users: user = the name of that user's password in Infisical."""
    password_path: SecretPath
    """The Infisical folder holding every user's password."""
    folders: Annotated[list[Name], Field(min_length=1)]
    """Top-level folders made on the share."""
    read_mbps: Annotated[StrictInt, Field(gt=0)] = 91
    """Expected read speed in MB/s: fortress.status warns well below it."""
    mounts: FortressMounts
    """Where clients mount it, by OS."""


class FortressLogin(_Model):
    """Who a node mounts fortress as: its own user (`ssh_user`), and the name of that user's password."""

    user: StrictStr
    password_name: StrictStr


class Raid(_Model):
    node: Name
    """The node with the two backup disks."""
    device: DevicePath
    """The md array (e.g. /dev/md0)."""
    level: Literal[1]
    """RAID level: 1 (a mirror) only."""
    disks: Annotated[list[DevicePath], Field(min_length=2)]
    """The member disks, by /dev/disk/by-id/… (names that do not swap across boots)."""
    filesystem: Literal["ext4", "xfs"]
    """File system made on the array."""
    mount: AbsPath
    """Where the array is mounted: the backup volume."""


class Schedule(_Model):
    daily: Annotated[StrictStr, matching(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a time of day as HH:MM (00:00 to 23:59)")]
    """When backup.daily runs (cron on the backup node)."""
    weekly: Annotated[
        StrictStr,
        matching(
            r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([01][0-9]|2[0-3]):[0-5][0-9]$",
            "a day and time like 'Sun 04:00' (Mon to Sun, HH:MM)",
        ),
    ]
    """When backup.weekly runs (it reads every byte)."""


class Retention(_Model):
    daily: Annotated[StrictInt, Field(ge=1)]
    """Daily snapshots kept."""
    weekly: Annotated[StrictInt, Field(ge=1)]
    """Weekly snapshots kept (one per ISO week)."""
    monthly: Annotated[StrictInt, Field(ge=1)]
    """Monthly snapshots kept (one per month; the oldest is kept while months fall short, as borg 2 does)."""


class Offsite(_Model):
    """The off-site copy (3-2-1) with restic: to `node`'s disk over SFTP (`path` there), or to `url` (any restic
    repository URL, e.g. S3-compatible storage `s3:https://host/bucket/prefix`). The repository password is the
    secret `password_name` at Infisical `password_path`; `secrets` names more secrets from there that restic
    reads from its environment (S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""

    node: Name | None = None
    """The node whose disk holds the restic repository, over SFTP (not the box of fortress or the backups)."""
    path: AbsPath | None = None
    """The repository's folder on that node."""
    url: Annotated[StrictStr, Field(pattern=r"^(s3|rest|b2|azure|gs|swift|rclone):\S+$")] | None = None
    """Instead of node and path: any restic repository URL (e.g. s3:https://host/bucket/prefix)."""
    password_path: SecretPath = "/backup"
    """Infisical folder of the repository's password."""
    password_name: Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "RESTIC_PASSWORD"
    """Name of the repository password's secret."""
    secrets: list[Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = []
    """More secrets from that folder put in restic's environment (S3 keys)."""
    schedule: Annotated[StrictStr, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "05:30"
    """When backup.offsite runs each day."""
    check_subset: Annotated[StrictStr, Field(pattern=r"^([1-9][0-9]?(\.[0-9]+)?%|100%|[1-9][0-9]*/[1-9][0-9]*)$")] = (
        "5%"
    )
    """How much of the data `restic check --read-data-subset` reads back (a percentage, or n/t)."""
    check_schedule: Annotated[
        StrictStr, Field(pattern=r"^((Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([01][0-9]|2[0-3]):[0-5][0-9])?$")
    ] = "Sat 06:30"
    """When the off-site check runs (day and time); "" for never."""
    retention: Retention | None = None
    """restic forget's --keep-* counts; none: backup.retention."""


class Backup(_Model):
    node: Name
    """The node that runs the backups (it holds the backup volume)."""
    source: AbsPath
    """What is backed up: fortress's path on that node."""
    target: AbsPath
    """The backup volume (the RAID1 mount)."""
    full_copy: StrictBool = False
    """Weekly runs make an independent full copy instead of a checksummed, linked snapshot."""
    ping_url: Annotated[Text, matching(r"^(https?://\S+)?$", "an http:// or https:// URL without spaces, or empty")] = (
        ""
    )
    """A health-check URL pinged at start, success and failure (healthchecks or ntfy); "" for none."""
    ping_kind: Literal["auto", "healthchecks", "ntfy"] = "auto"
    """How to ping: auto (ntfy when the URL's host names ntfy), healthchecks or ntfy."""
    vanish_threshold: Annotated[StrictInt, Field(ge=1, le=100)] = 25
    """Percent of the previous snapshot's files gone after rsync 23/24 that holds a snapshot back."""
    schedule: Schedule
    """When the runs happen."""
    retention: Retention
    """How many snapshots and dumps are kept."""
    offsite: Offsite | None = None
    """The off-site copy (3-2-1); none: no off-site copy."""


class Database(_Model):
    service: Name
    """The Compose service running PostgreSQL."""
    name: Annotated[StrictStr, IDENTIFIER]
    """The database."""
    user: Annotated[StrictStr, IDENTIFIER]
    """Its role (the password: among the service's secrets)."""


class Service(_Model):
    name: StrictStr = ""  # filled from the table key, which is validated as a Name
    node: Name
    """The node it runs on."""
    compose: Annotated[
        StrictStr, matching(r"^[A-Za-z0-9_./-]+$", "a folder of compose/ (letters, digits, '_', '.', '-', '/')")
    ]
    """Its folder with compose.yaml (compose/<name>)."""
    secrets_path: SecretPath
    """Infisical folder of its secrets (injected by `infisical run`)."""
    secrets: list[SecretName] = []
    """Names of the secrets it needs (checked before a deploy; found by secrets.rotated)."""
    domains: list[StrictStr] = []
    """Domains Caddy proxies to it (each with a Pi-hole record)."""
    port: Annotated[StrictInt, Field(ge=1, le=65535)] | None = None
    """The port it listens on: Caddy's upstream, published on 127.0.0.1."""
    health: Text = ""
    """A URL that answers when it is healthy (deploy waits for it); "": the container's own check."""
    requires: list[Literal["gpu"]] = []
    """What its node must have (gpu)."""
    databases: list[Database] = []
    """PostgreSQL databases of the service, dumped by backup.daily."""
    access: Access = "private"
    """Who reaches its domains through Caddy: public (anyone) or private (LAN, mesh and loopback)."""
    private_paths: list[PathPattern] = []
    """On a public service, paths that stay private (e.g. /api/*)."""
    bearer_token: Annotated[
        StrictStr, matching(r"^([A-Za-z_][A-Za-z0-9_]*)?$", "a secret name (letters, digits and '_') or empty")
    ] = ""
    """A secret Caddy requires as `Authorization: Bearer` on its domains; "" for none."""
    env: dict[SecretName, Annotated[StrictStr, Field(max_length=4096)]] = {}
    """Its non-secret settings, each read by its compose file as ${NAME:?…} (e.g. GITEA__actions__ENABLED)."""

    @property
    def folder(self) -> str:
        """The compose folder as a clean relative posix path (`./compose/caddy/` -> `compose/caddy`)."""
        return PurePosixPath(self.compose).as_posix().removeprefix("./").rstrip("/")


class Route(_Model):
    domain: StrictStr
    """The domain Caddy answers for something that is not a service."""
    node: Name
    """The node it is proxied to."""
    port: Annotated[StrictInt, Field(ge=1, le=65535)]
    """The port there."""
    access: Access = "private"
    """public or private, as for services."""
    private_paths: list[PathPattern] = []
    """On a public route, paths that stay private."""
    kind: Literal["http", "cockpit"] = "http"
    """http, or cockpit (its cockpit.conf is rendered for the node too)."""


COCKPIT_PORT = 9090  # cockpit.socket's; cockpit.conf cannot change it


class Monitoring(_Model):
    """Prometheus, Alertmanager and node-exporter run as ordinary services (compose/prometheus, …); this table
    holds what is not a service: where the cluster's own metrics go, how often `inv status` exports them, the
    status page's domain, and where alerts are sent (their token or password: Infisical, see docs/monitoring.md)."""

    textfile_dir: AbsPath = "/var/lib/colab/metrics"
    """node-exporter's textfile folder, where the status and backup metrics are written."""
    status_every: Annotated[StrictInt, Field(ge=1, le=60)] = 5
    """Minutes between `inv status` exports (metrics and the status page)."""
    status_domain: StrictStr = ""
    """The status page's domain (private); "" for none."""
    ntfy_url: Annotated[
        StrictStr, matching(r"^(https?://[^\s?#]+)?$", "an http(s):// topic URL without a query, or empty")
    ] = ""  # a topic URL, no query
    """The ntfy topic URL alerts go to, without a query; "" for none (its token: Infisical)."""
    email_to: Annotated[StrictStr, matching(r"^([^@\s]+@[^@\s]+)?$", "an e-mail address, or empty")] = ""
    """Where alerts are mailed; "" for none."""
    email_from: Annotated[StrictStr, matching(r"^([^@\s]+@[^@\s]+)?$", "an e-mail address, or empty")] = ""
    """The sender of alert mail."""
    smtp: Annotated[StrictStr, matching(r"^([A-Za-z0-9.-]+:[0-9]{1,5})?$", "host:port, or empty")] = ""
    """The SMTP server as host:port."""
    smtp_user: StrictStr = ""
    """The SMTP login (its password: Infisical)."""


class Registry(_Model):
    """The cluster's container registry: the package registry of the forge (`service`, e.g. gitea), reached at that
    service's first domain, or at `host` when set (tests: a loopback address). Images are
    `<host>/<owner>/<image>:<tag>`; `inv registry.push` / `registry.pull` authenticate with the access token
    named `token` at `secrets_path` in Infisical, as `user` (docs/gitea.md)."""

    service: Name
    """The forge service whose package registry it is; its first domain is the registry's host."""
    user: Name
    """The owner of the access token (Docker needs a user name; Gitea goes by the token)."""
    token: SecretName = "REGISTRY_TOKEN"
    """Name of the access token (scopes read:package, write:package) at secrets_path in Infisical."""
    secrets_path: SecretPath = "/registry"
    """Infisical folder of the token."""
    host: Annotated[
        StrictStr, matching(r"^([a-z0-9.-]+(:[0-9]{1,5})?)?$", "a host name or address, optional :port, or empty")
    ] = ""
    """host[:port] instead of the service's domain (tests: a loopback address); "": the domain."""


class Inventory(_Model):
    cluster: Cluster
    """The cluster itself."""
    networks: Networks
    """LAN, mesh, DNS and Headscale."""
    docker: Docker
    """Docker's networks and logs on every node."""
    infisical: Infisical
    """Where the secrets live."""
    nodes: Annotated[dict[Name, Node], Field(min_length=1)]
    """The machines, by name."""
    fortress: Fortress
    """The Samba share, its server and the clients' mounts."""
    raid: Raid
    """The RAID1 backup volume."""
    backup: Backup
    """Snapshots of fortress, database dumps, retention and the off-site copy."""
    services: dict[Name, Service] = {}
    """Compose services, by name."""
    routes: list[Route] = []
    """Domains Caddy proxies to something that is not a service (e.g. Cockpit)."""
    tools: dict[
        Annotated[StrictStr, matching(r"^[a-z0-9:@/_.-]+$", "a mise tool name (lowercase letters, digits, ':@/_.-')")],
        Annotated[StrictStr, _rule(inventory_paths.version_problem, "version")],
    ] = {}
    """mise tools and their versions, pinned on every node."""
    monitoring: Monitoring | None = None
    """Alerts and the cluster's own metrics; none: no monitoring."""
    registry: Registry | None = None
    """The container registry (the forge's package registry); none: no `inv registry.*`."""

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise InventoryError(
                "inventory", [f"unknown node {name!r}; known nodes: {', '.join(self.nodes)}"]
            ) from None

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise InventoryError(
                "inventory", [f"unknown service {name!r}; known services: {', '.join(self.services)}"]
            ) from None

    def fortress_mount(self, node: Node) -> str:
        """Where fortress is on this node: the server path on the server, else the OS's mount point."""
        if node.name == self.fortress.server:
            return self.fortress.path
        return self.fortress.mounts.macos if node.os == "macos" else self.fortress.mounts.linux

    def fortress_login(self, node: Node) -> FortressLogin:
        """A client mounts fortress as the node's own user, with that user's password (validation guarantees it)."""
        name = self.fortress.users.get(node.ssh_user)
        if name is None:
            raise InventoryError("inventory", [_unlisted_user(node)])
        return FortressLogin(user=node.ssh_user, password_name=name)

    def services_on(self, node: str) -> list[Service]:
        return [s for s in self.services.values() if s.node == node]

    def addresses(self) -> Iterator[IPv4Address]:
        yield self.networks.dns
        for node in self.nodes.values():
            yield node.lan
            yield node.mesh

    def production_networks(self) -> list[IPv4Network]:
        return [self.networks.lan, self.networks.mesh]


# ---------------------------------------------------------------------------------------------- loading


def inventory_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The inventory to use: the given path, else $COLAB_INVENTORY, else the repo's cluster.toml."""
    chosen = path or os.environ.get(ENV_INVENTORY) or DEFAULT_INVENTORY
    return Path(chosen)


def load(path: str | os.PathLike[str] | None = None) -> Inventory:
    """Load and validate the inventory; raises InventoryError listing every problem."""
    p = inventory_path(path)
    try:
        stat = p.stat()
    except OSError as e:
        raise InventoryError(
            str(p), [f"cannot read inventory ({e.strerror}); pass --inventory PATH or set {ENV_INVENTORY}"]
        ) from None
    return _load_cached(str(p.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _load_cached(path: str, _mtime: int, _size: int) -> Inventory:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InventoryError(path, [f"cannot read inventory: {e}"]) from None
    return parse(text, source=path)


def parse(text: str, source: str = "inventory") -> Inventory:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InventoryError(source, [f"not valid TOML: {e}"]) from None
    return from_dict(data, source)


def from_dict(data: dict[str, Any], source: str = "inventory") -> Inventory:
    data = _with_names(data)
    try:
        inv = Inventory.model_validate(data)
    except ValidationError as e:
        raise InventoryError(source, _format_errors(e)) from None
    problems = list(_semantic_problems(inv))
    if problems:
        raise InventoryError(source, problems)
    return inv


def _with_names(data: dict[str, Any]) -> dict[str, Any]:
    """Copy each table's key into its `name` so nodes and services know what they are called."""
    data = dict(data)
    for section in ("nodes", "services"):
        tables = data.get(section)
        if isinstance(tables, dict):
            named: dict[str, Any] = {}
            for key, table in tables.items():
                if isinstance(table, dict):
                    if "name" in table:
                        # `name` is the table key; a second one would be a contradiction.
                        table = {**table, "name@": table["name"]}
                    table = {**table, "name": key}
                named[key] = table
            data[section] = named
    return data


# ---------------------------------------------------------------------------------------------- messages


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch: `$` would let a trailing newline through


def _loc(loc: Iterable[int | str]) -> str:
    """A TOML-style key path; odd keys are quoted so the message stays on one line."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            out += ("." if out else "") + key
    return out or "(top level)"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class describing the table at `loc`, to list allowed keys for typos."""
    ann: Any = Inventory
    for part in loc:
        ann = _unwrap(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(str(part))
            if field is None:
                return None
            ann = field.annotation
        elif get_origin(ann) is dict:
            ann = get_args(ann)[1]
        elif get_origin(ann) is list:
            ann = get_args(ann)[0]
        else:
            return None
    ann = _unwrap(ann)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _unwrap(ann: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the type that holds the keys."""
    while get_origin(ann) is Annotated or type(None) in get_args(ann):
        args = [a for a in get_args(ann) if a is not type(None)]
        ann = args[0]
    return ann


_USERS_HINT = (
    "replaced by fortress.group and [fortress.users] (each Samba user = the name of its password in Infisical at "
    'fortress.password_path), e.g. group = "fortress" and [fortress.users] crtr = "COLAB_NAS_SAMBA_PASSWORD"'
)
_REPLACED: dict[tuple[int | str, ...], str] = {
    ("fortress", "user"): _USERS_HINT,
    ("fortress", "password_name"): _USERS_HINT,
}


def _format_errors(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        if loc and loc[-1] == "[key]":  # a table name (node or service) that is not a valid name
            problems.append(
                f"{_loc(loc[:-1])}: invalid name; use lowercase letters, digits and '-', starting with a letter"
            )
            continue
        if kind == "extra_forbidden":
            key = loc[-1]
            if loc in _REPLACED:
                problems.append(f"{_loc(loc)}: {_REPLACED[loc]}")
                continue
            if key == "name@":
                problems.append(f"{_loc(loc[:-1])}.name: not allowed, the table key is the name")
                continue
            parent = _model_at(loc[:-1])
            derived = {"name"} if parent in (Node, Service) else set()
            allowed = ", ".join(k for k in parent.model_fields if k not in derived) if parent else ""
            hint = f"; allowed keys: {allowed}" if allowed else ""
            problems.append(f"{_loc(loc)}: unknown key (typo?){hint}")
        elif kind == "missing":
            problems.append(f"{_loc(loc)}: required key is missing")
        elif kind == "string_pattern_mismatch" and (
            looks := _PATTERN_HINTS.get(str(err.get("ctx", {}).get("pattern")))
        ):
            problems.append(f"{_loc(loc)}: {_short(err.get('input'))} is not {looks}")
        else:
            got = _short(err.get("input"))
            problems.append(f"{_loc(loc)}: {_one_line(err['msg'])} (got {got})")
    return problems


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _short(value: Any) -> str:
    text = _one_line(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------------------------- semantics


def _semantic_problems(inv: Inventory) -> Iterator[str]:
    net = inv.networks
    if net.lan.overlaps(net.mesh):
        yield f"networks.mesh: {net.mesh} overlaps the LAN {net.lan}"
    if net.dns not in net.lan:
        yield f"networks.dns: {net.dns} is outside the LAN {net.lan}"

    seen: dict[IPv4Address, str] = {}
    if net.dns not in {n.lan for n in inv.nodes.values()}:
        seen[net.dns] = "networks.dns"
    for name, node in inv.nodes.items():
        for kind, addr, network in (("lan", node.lan, net.lan), ("mesh", node.mesh, net.mesh)):
            where = f"nodes.{name}.{kind}"
            if addr not in network:
                yield f"{where}: {addr} is outside the {kind.upper() if kind == 'lan' else kind} network {network}"
            elif addr in (network.network_address, network.broadcast_address) and network.prefixlen < 31:
                yield f"{where}: {addr} is the network or broadcast address of {network}"
            if addr in seen:
                yield f"{where}: {addr} is already used by {seen[addr]}"
            else:
                seen[addr] = where

    yield from _docker_problems(inv)

    def need_node(where: str, name: str) -> Iterator[str]:
        if name not in inv.nodes:
            yield f"{where}: {name!r} is not a node; known nodes: {', '.join(inv.nodes)}"

    yield from need_node("fortress.server", inv.fortress.server)
    yield from need_node("raid.node", inv.raid.node)
    yield from need_node("backup.node", inv.backup.node)
    yield from _offsite_problems(inv)
    if len(set(inv.fortress.folders)) != len(inv.fortress.folders):
        yield "fortress.folders: a folder is listed twice"
    if len(set(inv.raid.disks)) != len(inv.raid.disks):
        yield "raid.disks: a disk is listed twice"
    unit = quoting.systemd_escape_path(inv.fortress.mounts.linux) + quoting.LONGEST_UNIT_SUFFIX
    if len(unit) > quoting.UNIT_NAME_MAX:
        yield (
            f"fortress.mounts.linux: its systemd unit name ({unit[:24]}…) would be {len(unit)} characters, more "
            f"than systemd's {quoting.UNIT_NAME_MAX} (each byte of a non-ASCII letter takes 4); use a shorter path"
        )

    yield from _fortress_user_problems(inv)

    domains: dict[str, str] = {}
    for name, svc in inv.services.items():
        where = f"services.{name}"
        yield from need_node(f"{where}.node", svc.node)
        host = inv.nodes.get(svc.node)
        if host is not None and "gpu" in svc.requires and not host.gpu:
            yield f"{where}.node: {svc.node!r} has no GPU but the service requires one; place it on a GPU node"
        if svc.domains and svc.port is None:
            yield f"{where}.port: required when the service has domains (the proxy needs an upstream port)"
        if len({d.name for d in svc.databases}) != len(svc.databases):
            yield f"{where}.databases: a database is listed twice"
        for i, domain in enumerate(svc.domains):
            yield from _domain_problems(f"{where}.domains[{i}]", domain, domains)
        yield from _access_problems(where, svc.access, svc.private_paths)
        yield from _bearer_problems(inv, svc)
    for i, route in enumerate(inv.routes):
        yield from need_node(f"routes[{i}].node", route.node)
        yield from _domain_problems(f"routes[{i}].domain", route.domain, domains)
        yield from _access_problems(f"routes[{i}]", route.access, route.private_paths)
        yield from _cockpit_problems(inv, i, route)
    yield from _monitoring_problems(inv.monitoring, domains)
    yield from _registry_problems(inv)


def _registry_problems(inv: Inventory) -> Iterator[str]:
    for name, svc in inv.services.items():
        for key in svc.env:
            if key.startswith("COLAB_") or key == "DOCKER_HOST" or key in svc.secrets:
                yield (
                    f"services.{name}.env.{key}: set by deploy or a secret, not a setting; "
                    "drop it (secrets come from Infisical)"
                )
    reg = inv.registry
    if reg is None:
        return
    forge = inv.services.get(reg.service)
    if forge is None:
        yield f"registry.service: {reg.service!r} is not a service; known services: {', '.join(inv.services)}"
    elif not forge.domains and not reg.host:
        yield f"registry.service: {reg.service} has no domains; give it one or set registry.host"


def _unlisted_user(node: Node) -> str:
    return (
        f"nodes.{node.name}.ssh_user: {node.name} mounts fortress as its own user {node.ssh_user!r}, which "
        f'fortress.users does not list; add {node.ssh_user} = "<name of its password in Infisical>" there'
    )


def _fortress_user_problems(inv: Inventory) -> Iterator[str]:
    f = inv.fortress
    for name in (f.group, *f.users):
        if len(name) > UNIX_NAME_MAX:
            key = "fortress.group" if name == f.group else f"fortress.users.{name}"
            yield f"{key}: {name!r} has more than {UNIX_NAME_MAX} characters, which Unix user and group names cannot"
    owners: dict[str, str] = {}
    for user, secret in f.users.items():
        if secret in owners:
            yield f"fortress.users.{user}: {secret} is already the password of {owners[secret]}; give each user its own"
        owners.setdefault(secret, user)
    for node in inv.nodes.values():
        if node.name != f.server and node.ssh_user not in f.users:
            yield _unlisted_user(node)


def _access_problems(where: str, access: str, private_paths: list[str]) -> Iterator[str]:
    if private_paths and access != "public":
        yield (
            f"{where}.private_paths: the whole site is private already (access = {access!r}); "
            'set access = "public" to open everything else, or drop private_paths'
        )


def caddy_services(inv: Inventory) -> list[Service]:
    """The services deployed from compose/caddy: the edge that terminates HTTPS for every domain."""
    return [s for s in inv.services.values() if s.folder == "compose/caddy"]


def _bearer_problems(inv: Inventory, svc: Service) -> Iterator[str]:
    token = svc.bearer_token
    if not token:
        return
    where = f"services.{svc.name}.bearer_token"
    if token not in svc.secrets:
        yield f"{where}: {token} is not one of services.{svc.name}.secrets; list it there (at {svc.secrets_path})"
    if not svc.domains:
        yield f"{where}: the service has no domains, so no request passes Caddy to be checked; add domains or drop it"
    edges = caddy_services(inv)
    if not edges:
        yield f"{where}: no Caddy service (compose/caddy) to check it; add one or drop bearer_token"
    for edge in edges:
        if token not in edge.secrets:
            yield (
                f"services.{edge.name}.secrets: must list {token} too: Caddy checks {where} (make {token} visible "
                f"at {edge.secrets_path} in Infisical, e.g. by importing {svc.secrets_path} there)"
            )


def _cockpit_problems(inv: Inventory, i: int, route: Route) -> Iterator[str]:
    if route.kind != "cockpit":
        return
    host = inv.nodes.get(route.node)
    if host is not None and host.os != "debian":
        yield f"routes[{i}].kind: Cockpit runs on Debian nodes; {route.node} runs {host.os}"
    if route.port != COCKPIT_PORT:
        yield (
            f"routes[{i}].port: Cockpit listens on {COCKPIT_PORT} (cockpit.socket; cockpit.conf cannot move it), "
            f"not {route.port}"
        )


def _monitoring_problems(mon: Monitoring | None, domains: dict[str, str]) -> Iterator[str]:
    if mon is None:
        return
    if mon.status_domain:
        yield from _domain_problems("monitoring.status_domain", mon.status_domain, domains)
    if mon.email_to and not (mon.email_from and mon.smtp):
        yield "monitoring.email_to: e-mail alerts need monitoring.email_from and monitoring.smtp (host:port) too"


_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


def _domain_problems(where: str, domain: str, seen: dict[str, str]) -> Iterator[str]:
    if not _DOMAIN.fullmatch(domain):
        yield f"{where}: {domain!r} is not a valid domain name"
    elif domain in seen:
        yield f"{where}: {domain!r} is already routed by {seen[domain]}"
    else:
        seen[domain] = where


def _offsite_problems(inv: Inventory) -> Iterator[str]:
    off = inv.backup.offsite
    if off is None:
        return
    where = "backup.offsite"
    if off.url is not None and (off.node is not None or off.path is not None):
        yield f"{where}: give either node and path (SFTP to a node's disk) or url (e.g. S3), not both"
    elif off.url is None and (off.node is None or off.path is None):
        yield f"{where}: give node and path (SFTP to that node's disk), or url (e.g. s3:https://host/bucket/prefix)"
    if off.node is not None:
        if off.node not in inv.nodes:
            yield f"{where}.node: {off.node!r} is not a node; known nodes: {', '.join(inv.nodes)}"
        elif off.node in (inv.backup.node, inv.fortress.server, inv.raid.node):
            yield (
                f"{where}.node: {off.node} holds fortress or the backup volume; an off-site copy must be on another "
                "box (one fire or mistaken mkfs takes both)"
            )
    if off.password_name in off.secrets:
        yield f"{where}.secrets: {off.password_name} is the password (password_name); list only the other secrets"


def _docker_problems(inv: Inventory) -> Iterator[str]:
    named = [
        ("networks.lan", inv.networks.lan),
        ("networks.mesh", inv.networks.mesh),
        ("docker.cluster_subnet", inv.docker.cluster_subnet),
    ]
    for i, pool in enumerate(inv.docker.address_pools):
        where = f"docker.address_pools[{i}]"
        if pool.size < pool.base.prefixlen:
            yield f"{where}.size: {pool.size} is larger than the pool {pool.base} itself"
        for other_where, other in named:
            if pool.base.overlaps(other):
                yield f"{where}.base: {pool.base} collides with {other_where} {other}"
        named.append((f"{where}.base", pool.base))
    if inv.docker.cluster_subnet.overlaps(inv.networks.lan) or inv.docker.cluster_subnet.overlaps(inv.networks.mesh):
        yield f"docker.cluster_subnet: {inv.docker.cluster_subnet} collides with the LAN or the mesh"
