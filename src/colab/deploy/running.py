"""What runs where (`inv deploy.status`): `docker compose ps` of every service, under the injection, on the engine
of its node, and which recorded deployment that is (`colab.deploy.store`), or who is changing it right now.
A deploy compares the same containers before and after its `up` (`snapshot`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from rich.text import Text

from colab import lock_holder
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.tables import Table

from . import command_lines, store
from .output import cause, plain
from .session import Session


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    service: str  # the compose service inside the project
    state: str  # running, exited, created, restarting …
    health: str  # healthy, unhealthy, starting, "" (no health check)
    image: str
    exit_code: int = 0

    @property
    def fine(self) -> bool:
        """Running and not unhealthy, or a one-shot that finished successfully."""
        if self.state == "running":
            return self.health in ("", "healthy")
        return self.state == "exited" and self.exit_code == 0


def parse_ps(text: str) -> list[Container]:
    """`docker compose ps --format json` output: one object per line (Compose ≥ 2.21) or one JSON array."""
    text = text.strip()
    if not text:
        return []
    try:
        items = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines()]
    except json.JSONDecodeError as e:
        raise ColabError(f"cannot read `docker compose ps` output ({e}); is Docker Compose v2 installed?") from None
    found = [
        Container(
            id=str(c.get("ID", "")),
            name=str(c.get("Name", "")),
            service=str(c.get("Service", "")),
            state=str(c.get("State", "")),
            health=str(c.get("Health", "")),
            image=str(c.get("Image", "")),
            exit_code=int(c.get("ExitCode", 0) or 0),
        )
        for c in items
    ]
    return sorted(found, key=lambda c: (c.service, c.name))


def snapshot(containers: list[Container]) -> dict[str, tuple[str, str]]:
    """Container name → (id, state): what a deploy compares before and after `up`."""
    return {c.name: (c.id, c.state) for c in containers}


@dataclass(frozen=True)
class Row:
    service: str
    node: str
    container: str = ""
    state: str = ""
    health: str = ""
    image: str = ""
    problem: str = ""  # set when the service could not be asked, or has no container
    deployment: str = ""  # the recorded deployment that runs (`#3 (deploy, <when>, by <who>)`), if any

    @property
    def fine(self) -> bool:
        if self.problem:
            return False
        return (self.state == "running" and self.health in ("", "healthy")) or self.state == "exited(0)"


def deployment(session: Session) -> str:
    """Which recorded deployment runs, and who is changing the service now (if anyone); never fails."""
    try:
        state = store.read_state(session.node, session.target, status=True)
    except ColabError as e:
        return f"unknown ({e})"
    text = state.current.describe() if state.current else "none recorded"
    if state.busy is not None:
        text += f"; being changed by {lock_holder.describe(state.busy)}"
    return text


def service_rows(inv: Inventory, name: str, session: Session) -> list[Row]:
    node = session.target.node.name
    res = session.local.run(
        *command_lines.ps_json_cmd(inv, session.target), env=session.env, check=False, mutating=False
    )
    if not res.ok:
        return [Row(name, node, problem=cause(res))]
    containers = parse_ps(res.stdout)
    recorded = deployment(session)
    if not containers:
        return [Row(name, node, problem="not deployed (no container)", deployment=recorded)]
    return [
        Row(
            name,
            node,
            c.service,
            c.state if c.state != "exited" else f"exited({c.exit_code})",
            c.health,
            c.image,
            deployment=recorded,
        )
        for c in containers
    ]


def collect(inv: Inventory, services: list[str] | None = None, here: str | None = None) -> list[Row]:
    """A row per container of every service (or of `services`); a service that cannot be asked gets one row."""
    rows: list[Row] = []
    for name in services or list(inv.services):
        svc = inv.service(name)
        try:
            session = Session.open(inv, name, here=here)
        except ColabError as e:
            rows.append(Row(name, svc.node, problem=str(e)))
            continue
        try:
            rows += service_rows(inv, name, session)
        except ColabError as e:
            rows.append(Row(name, svc.node, problem=str(e)))
        finally:
            session.close()
    return rows


def table(rows: list[Row]) -> Table:
    t = Table(title="services", title_justify="left")
    for col in ("service", "node", "container", "state", "health", "image", "deployment", "problem"):
        t.add_column(col, no_wrap=col in ("service", "node", "container"), overflow="fold")
    for r in rows:
        # Everything here comes from tools and the inventory (`[node]` prefixes, paths): plain text, never markup.
        deployed = Text(plain(r.deployment))
        if r.problem:
            t.add_row(r.service, r.node, "", Text("unknown", "red"), "", "", deployed, Text(plain(r.problem), "red"))
            continue
        state = Text(r.state, "green" if r.fine else "red")
        t.add_row(r.service, r.node, Text(r.container), state, Text(r.health or "-"), Text(r.image), deployed, "")
    return t


def to_json(rows: list[Row]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def exit_code(rows: list[Row]) -> int:
    """0 when every container is running (healthy or without a check) or finished cleanly, else 1."""
    return 0 if rows and all(r.fine for r in rows) else 1
