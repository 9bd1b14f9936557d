"""`inv secrets.rotated NAME`: after NAME got a new value in Infisical, re-apply whatever uses it.

Rotation happens in the Infisical vault; nothing here reads or shows a value (they stay in memory, masked,
as everywhere). What uses a secret name, and what is done about it:

- **a service** that lists NAME in `services.<s>.secrets`, or whose compose folder names `${NAME}`: redeployed
  (`colab.deploy.deploy`, as `inv deploy --service <s>`). Compose compares a container's configuration with
  the interpolated one, so the new value recreates exactly the containers that get it. A PostgreSQL database
  of the service (`databases`) whose `POSTGRES_PASSWORD` is NAME keeps the password it was created with (the
  image reads the variable only on an empty data folder): its role's password is changed first, inside the
  database container (`ALTER ROLE … PASSWORD`, the value read by psql's `\\getenv` from the environment
  `docker compose exec -e NAME` passes, never an argv), unless the new one already logs in;
- **a Samba password** (`fortress.users`): `inv fortress.share` on the server sets it again (its check logs in
  with the Infisical value), then every client node that mounts as that user is unmounted and mounted again
  with it (an on-demand node that is off is skipped: it mounts with the new password next time);
- **the Headscale pre-auth key** (`networks.headscale_key_name`): read only when a node joins the mesh
  (`inv bootstrap --steps mesh`); nodes on the mesh keep working, so there is nothing to re-apply;
- **the off-site backup's restic password** (`backup.offsite`, when the inventory has one): restic's repository
  is encrypted with a key that the old password opens; changing Infisical does not change it. Reported as a
  warning with the two restic commands that do.

Unlike other tasks, one failure does not stop the others: with the new value in Infisical, everything still on
the old one is broken until re-applied. The summary says what failed; exit 1 then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.text import Text

from colab import compose, deploy
from colab.bootstrap.run import Dial, NodeOffline, route, tcp_dial
from colab.deploy import command_lines
from colab.deploy import run as deploy_run
from colab.deploy import target as deploy_target
from colab.errors import ColabError
from colab.inventory import IDENTIFIER_RE, Inventory, Service
from colab.runner import Runner, runner_for, this_node
from colab.steps import Outcome, Report, Status, Step, run_step
from colab.storage import commands as storage
from colab.tables import Table

_NAME = re.compile(IDENTIFIER_RE)


@dataclass(frozen=True)
class Use:
    kind: str  # service, database, samba, mesh, restic
    what: str  # the service, Samba user, …
    node: str
    why: str


def _named_in(folder: Path, name: str) -> list[str]:
    """The files of a compose folder that name `${NAME}` (or `$NAME`)."""
    pattern = re.compile(r"\$\{?" + re.escape(name) + r"(?![A-Za-z0-9_])")
    found = []
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            try:
                if path.is_file() and pattern.search(path.read_text(encoding="utf-8", errors="replace")):
                    found.append(path.relative_to(folder).as_posix())
            except OSError:
                continue
    return found


def _postgres_password(folder: Path, name: str) -> bool:
    """Whether a compose file of the folder gives NAME to PostgreSQL as POSTGRES_PASSWORD."""
    pattern = re.compile(r"POSTGRES_PASSWORD\s*[:=]\s*[\"']?\$\{?" + re.escape(name) + r"(?![A-Za-z0-9_])")
    return any(pattern.search((folder / f).read_text(errors="replace")) for f in _named_in(folder, name))


def uses(inv: Inventory, name: str) -> list[Use]:
    """Everything that uses the secret `name`, in the order it is re-applied."""
    if not _NAME.fullmatch(name):
        raise ColabError(f"{name!r} is not a secret name: letters, digits and '_', not starting with a digit")
    found: list[Use] = []
    for svc in inv.services.values():
        folder = deploy_target.source_dir(svc)
        files = _named_in(folder, name)
        reasons = [f"services.{svc.name}.secrets lists it"] if name in svc.secrets else []
        reasons += [f"{svc.folder}/{f} names ${{{name}}}" for f in files]
        if not reasons:
            continue
        if svc.databases and _postgres_password(folder, name):
            for db in svc.databases:
                why = f"PostgreSQL's password of {db.user} (POSTGRES_PASSWORD in {svc.folder})"
                found.append(Use("database", f"{svc.name}/{db.service}/{db.name}", svc.node, why))
        found.append(Use("service", svc.name, svc.node, "; ".join(reasons)))
    f = inv.fortress
    for user, secret in f.users.items():
        if secret == name:
            found.append(Use("samba", user, f.server, f"fortress.users.{user}: the Samba password of {user}"))
            for node in inv.nodes.values():
                if node.name != f.server and node.ssh_user == user:
                    found.append(Use("mount", user, node.name, f"{node.name} mounts fortress as {user}"))
    if name == inv.networks.headscale_key_name:
        found.append(Use("mesh", "headscale pre-auth key", "", f"networks.headscale_key_name at "
                         f"{inv.networks.headscale_key_path}"))  # fmt: skip
    offsite = inv.backup.offsite
    if offsite is not None and name in (offsite.password_name, *offsite.secrets):
        found.append(Use("restic", "off-site repository", inv.backup.node, "backup.offsite: restic's password"))
    if not found:
        raise ColabError(
            f"nothing in the inventory uses {name}: no service lists it or names ${{{name}}} in its compose folder, "
            "no fortress user has it as password, it is not the mesh key; check the name"
        )
    return found


# -------------------------------------------------------------------------------------------- actions

# psql reads the statement on stdin; `\getenv` takes the value from its own environment, where
# `docker compose exec -e NAME` put it from infisical run's: the value is in no argv and no file.
_ALTER = "\\getenv pw {name}\nALTER ROLE {role} PASSWORD :'pw';\n"
# Logs in over TCP (password authentication) with the value in $NAME: the new password works already.
_LOGIN = 'PGPASSWORD="${name}" exec psql -h 127.0.0.1 -U "$1" -d "$2" -tAc "select 1"'


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _db_argv(inv: Inventory, svc: Service, name: str, *command: str) -> list[str]:
    """`infisical run … -- docker compose -p <svc> … exec -T -e NAME <db service> …` on the service's node."""
    return compose.compose_argv(inv, svc, ["exec", "-T", "-e", name, *command])


def database_step(inv: Inventory, use: Use, name: str) -> tuple[Step, dict[str, str]]:
    service, db_service, db_name = use.what.split("/")
    svc = inv.services[service]
    db = next(d for d in svc.databases if d.service == db_service and d.name == db_name)
    target = deploy_target.resolve(inv, service, here=svc.node, dry_run=True)  # run on its node: the local engine
    env = dict(command_lines.compose_env(inv, target, "secrets-rotated"))  # exec needs the file's variables only

    def check(r: Runner) -> str | None:
        argv = _db_argv(inv, svc, name, db_service, "sh", "-c", _LOGIN.format(name=name), "sh", db.user, db.name)
        res = r.run(*argv, env=env, check=False, mutating=False, timeout=120)
        return None if res.ok and res.stdout.strip() == "1" else f"{db.user} does not log in with the new {name}"

    def act(r: Runner) -> None:
        argv = _db_argv(inv, svc, name, db_service, "psql", "-v", "ON_ERROR_STOP=1", "-U", db.user, "-d", db.name)
        r.run(*argv, env=env, stdin=_ALTER.format(name=name, role=_quote_ident(db.user)), timeout=120)

    return Step(f"password of {db.user} in {service}/{db_service}", check, act), env


@dataclass
class Rotation:
    name: str
    uses: list[Use]
    report: Report

    @property
    def exit_code(self) -> int:
        return self.report.exit_code

    def table(self) -> Table:
        """What uses the name, one row a use."""
        table = Table(title=f"what uses {self.name}", title_justify="left")
        for col in ("kind", "what", "node", "why"):
            table.add_column(col, no_wrap=col == "node", overflow="fold")
        for use in self.uses:
            table.add_row(use.kind, Text(use.what), use.node, Text(use.why))
        return table


def rotated(
    inv: Inventory,
    name: str,
    *,
    dry_run: bool = False,
    console: Console | None = None,
    dial: Dial = tcp_dial,
    wait_timeout: int = deploy.DEFAULT_WAIT_TIMEOUT,
) -> Rotation:
    console = console or Console(stderr=True)
    found = uses(inv, name)
    report = Report(f"{name} rotated" + (" (dry run)" if dry_run else ""))
    if dry_run:
        for use in found:
            where = f" on {use.node}" if use.node else ""
            console.print(f"# {use.kind} {use.what}{where}: {use.why}", markup=False, highlight=False, soft_wrap=True)
    for use in found:
        report.outcomes.extend(_apply(inv, use, name, dry_run, console, dial, wait_timeout))
    return Rotation(name, found, report)


def _reach(inv: Inventory, node_name: str, dry_run: bool, dial: Dial) -> str | None:
    """None when the node can be worked on now, else why not (raised for an always-on node)."""
    node = inv.node(node_name)
    if dry_run or node.name == this_node():
        return None
    try:
        route(node, dial)
    except NodeOffline as e:
        if node.on_demand:
            return e.reason
        raise
    return None


def _apply(
    inv: Inventory, use: Use, name: str, dry_run: bool, console: Console, dial: Dial, wait_timeout: int
) -> list[Outcome]:
    node = use.node or "-"
    step = f"{use.kind} {use.what}"
    try:
        if use.kind == "service":
            done = deploy_run.deploy(inv, use.what, dry_run=dry_run, console=console, wait_timeout=wait_timeout)
            return done.outcomes
        if use.kind == "database":
            built, _ = database_step(inv, use, name)
            with runner_for(inv, inv.node(use.node), dry_run=dry_run, console=console) as r:
                return [run_step(built, r)]
        if use.kind == "samba":
            return storage.share(inv, dry_run=dry_run, console=console).outcomes
        if use.kind == "mount":
            off = _reach(inv, use.node, dry_run, dial)
            if off:
                return [Outcome(node, step, Status.SKIPPED, f"{off}: it mounts with the new password next time")]
            out = storage.unmount(inv, use.node, dry_run=dry_run, console=console).outcomes
            if any(o.status == Status.FAILED for o in out):
                return out
            return out + storage.mount(inv, use.node, dry_run=dry_run, console=console).outcomes
        if use.kind == "mesh":
            return [Outcome(node, step, Status.OK, "read only when a node joins (inv bootstrap --steps mesh); "
                            "nodes on the mesh keep working: nothing to re-apply")]  # fmt: skip
        if use.kind == "restic":
            return [Outcome(node, step, Status.WARNING,
                            "restic's repository key still opens with the old password: with both in the "
                            "environment run `restic key add` (new), then `restic key remove <old key id>` on "
                            f"{inv.backup.node}; until then the off-site copy fails")]  # fmt: skip
    except ColabError as e:
        return [Outcome(node, step, Status.FAILED, str(e))]
    raise AssertionError(use.kind)
