"""Probe every node at once, each within its own deadline, and return a row per node whatever happens.

Each node gets a daemon thread that records its checks as they finish. The main thread waits until every
node is done or its deadline (start + timeout) has passed; a node still busy then is frozen as it is: the
first check it had not finished says `no answer within Ns`, the rest `?`. Nothing waits for such a thread
(daemon), and its commands are bounded by what is left of the deadline, so `inv status` never hangs.

A node is asked over SSH (its mesh address, else its LAN one) unless it is the node this runs on; the first
command opens the connection and the others share it (ControlMaster, see colab.runner).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from colab import netguard
from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.runner import Runner, SshTransport, this_node
from colab.status import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT  # re-exported

from . import backups, engine, reach, volumes
from .model import COLUMNS, NOT_APPLICABLE, Check, ClusterStatus, Level, NodeStatus, ServiceState, worst

REACH_TIMEOUT = 5.0  # the longest a TCP connect may take, whatever the deadline
_GRACE = 0.05  # seconds past the deadline the main thread keeps listening


@dataclass(frozen=True)
class Context:
    inv: Inventory
    here: str
    now: datetime
    timeout: float
    read_sample: bool = False  # also time a read of fortress on every node that has it (inv status --read-sample)


class Recorder:
    """A node's checks as they come in; frozen at the deadline, after which late results are dropped."""

    def __init__(self, node: Node, here: bool, deadline: float) -> None:
        self.node = node
        self.here = here
        self.deadline = deadline
        self.started = time.monotonic()
        self.checks: dict[str, Check] = {}
        self.services: list[ServiceState] = []
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._frozen = False
        self._seconds = 0.0

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def put(self, column: str, check: Check) -> None:
        with self._lock:
            if not self._frozen:
                self.checks[column] = check

    def put_services(self, states: list[ServiceState]) -> None:
        with self._lock:
            if not self._frozen:
                self.services = states

    def finish(self) -> None:
        with self._lock:
            if not self._frozen:
                self._seconds = time.monotonic() - self.started
        self.done.set()

    def freeze(self, timeout: float) -> NodeStatus:
        """The row as it is now; columns not recorded yet say the node did not answer in time."""
        with self._lock:
            self._frozen = True
            checks = dict(self.checks)
            late = not self.done.is_set()
            seconds = self._seconds if not late else time.monotonic() - self.started
            services = list(self.services)
        first = True
        for col in COLUMNS:
            if col in checks:
                continue
            if first:
                level = Level.WARN if self.node.on_demand else Level.CRIT
                checks[col] = Check(level, f"no answer within {timeout:g}s", {"timed_out": True})
                first = False
            else:
                checks[col] = Check(Level.UNKNOWN, "?")
        return NodeStatus(self.node.name, self.node.availability, self.here, checks, services, seconds)


def applicable(inv: Inventory, node: Node) -> set[str]:
    """The columns that mean something for this node (the rest show `-`)."""
    cols = {"mesh", "lan", "docker"}
    if volumes.should_have_fortress(inv, node):
        cols.add("fortress")
    if inv.services_on(node.name):
        cols.add("services")
    if node.name == inv.raid.node:
        cols.add("raid")
    if node.name == inv.backup.node:
        cols.add("backup")
    if node.name in (inv.fortress.server, inv.backup.node):
        cols.add("free")
    return cols


def _runner(node: Node, here: bool, host: str) -> Runner:
    if here:
        return Runner(node=node.name)
    return Runner(node=node.name, transport_factory=lambda: SshTransport(host, node.ssh_user, node.ssh_port))


def probe_node(ctx: Context, node: Node, rec: Recorder) -> None:
    """Every check of one node, recorded as it completes. Never raises."""
    try:
        _probe(ctx, node, rec)
    except Exception as e:  # a probe bug must not take the other rows down
        for col in COLUMNS:
            if col not in rec.checks:
                rec.put(col, Check(Level.CRIT, f"status failed: {type(e).__name__}: {e}"))
                break
        _rest(rec, Check(Level.UNKNOWN, "?"))
    finally:
        rec.finish()


def _rest(rec: Recorder, check: Check) -> None:
    """Every column not recorded yet gets `check` (a node that cannot be asked)."""
    for col in COLUMNS:
        if col not in rec.checks:
            rec.put(col, check)


def _probe(ctx: Context, node: Node, rec: Recorder) -> None:
    inv = ctx.inv
    cols = applicable(inv, node)
    for col in COLUMNS:
        if col not in cols:
            rec.put(col, NOT_APPLICABLE)
    if rec.here:
        rec.put("mesh", Check(Level.OK, "here"))
        rec.put("lan", Check(Level.OK, "here"))
        host = ""
    else:
        host = _reach(node, rec)
        if not host:
            _rest(rec, Check(Level.OFF, "off") if node.on_demand else Check(Level.UNKNOWN, "?"))
            return
    services = inv.services_on(node.name)
    with _runner(node, rec.here, host) as r:
        try:
            res = r.run("sh", "-c", engine.SCRIPT, check=False, mutating=False, timeout=rec.left())
        except ColabError as e:  # SSH itself failed (login refused, host key …)
            level = Level.WARN if node.on_demand else Level.CRIT
            rec.put("docker", Check(level, f"cannot log in over SSH: {e}"))
            _rest(rec, Check(Level.UNKNOWN, "?"))
            return
        if res.returncode == 124:
            return  # out of time: the deadline marks what is left
        eng = engine.parse(res.stdout)
        rec.put("docker", engine.docker_check(eng, bool(services)))
        if services:
            if eng.up:
                states = engine.service_states(eng, services)
                rec.put_services(states)
                rec.put("services", engine.services_check(states))
            else:
                rec.put("services", Check(Level.UNKNOWN, "? (engine down)"))
        free: list[Check] = []
        if "fortress" in cols:
            rec.put("fortress", volumes.fortress(r, inv, node, measure=ctx.read_sample))
            if node.name == inv.fortress.server and rec.checks["fortress"].level == Level.OK:
                free.append(volumes.space_check("fortress", volumes.df(r, inv.fortress.path, rec.left())))
        if "raid" in cols:
            rec.put("raid", volumes.raid(r, inv, rec.left()))
        if "backup" in cols:
            check, space = backups.probe(r, inv.backup.target, ctx.now, rec.left())
            rec.put("backup", check)
            free.append(space)
        if "free" in cols:
            level = worst([c.level for c in free]) if free else Level.UNKNOWN
            data = {c.text.split(" ", 1)[0]: c.data for c in free if c.data}
            rec.put("free", Check(level, "\n".join(c.text for c in free) or "?", data))


def _reach(node: Node, rec: Recorder) -> str:
    """Record mesh and LAN reachability; the address to use for SSH, or "" when neither answers."""
    each = min(rec.left(), REACH_TIMEOUT)  # leave time for the rest when an address drops packets
    found: dict[str, reach.Reach] = {}

    def lan_probe() -> None:
        found["lan"] = reach.tcp(str(node.lan), node.ssh_port, each, node.name)

    other = threading.Thread(target=lan_probe, name=f"status-{node.name}-lan", daemon=True)
    other.start()  # both addresses at once: a silent one costs its timeout once, not twice
    mesh = reach.tcp(str(node.mesh), node.ssh_port, each, node.name)
    other.join(each + 1)
    lan = found.get("lan", reach.Reach(False, f"no answer within {each:g}s"))
    if not mesh.ok and not lan.ok:
        if node.on_demand:
            rec.put("mesh", Check(Level.OFF, "off", {"detail": mesh.detail}))
            rec.put("lan", Check(Level.OFF, "off", {"detail": lan.detail}))
        else:
            rec.put("mesh", Check(Level.CRIT, f"down ({mesh.detail})"))
            rec.put("lan", Check(Level.CRIT, f"down ({lan.detail})"))
        return ""
    for col, res in (("mesh", mesh), ("lan", lan)):
        if res.ok:
            rec.put(col, Check(Level.OK, "up", {"ms": res.ms}))
        else:  # the node answers on the other one: degraded, not down
            rec.put(col, Check(Level.WARN, f"down ({res.detail})"))
    return str(node.mesh) if mesh.ok else str(node.lan)


def check_addresses(inv: Inventory, here: str) -> None:
    """Refuse up front (one line) when the network guard forbids an address: contacts nothing."""
    for node in inv.nodes.values():
        if node.name != here:
            for addr in (node.mesh, node.lan):
                netguard.ensure_allowed(str(addr), f"send a status probe for {node.name}")


@dataclass
class Collector:
    """Runs probe_node for every node; `probe` is replaceable in tests."""

    ctx: Context
    probe: Callable[[Context, Node, Recorder], None] = probe_node
    recorders: list[Recorder] = field(default_factory=list)

    def run(self) -> ClusterStatus:
        inv = self.ctx.inv
        deadline = time.monotonic() + self.ctx.timeout
        for node in inv.nodes.values():
            rec = Recorder(node, node.name == self.ctx.here, deadline)
            self.recorders.append(rec)
            threading.Thread(
                target=self.probe, args=(self.ctx, node, rec), name=f"status-{node.name}", daemon=True
            ).start()
        for rec in self.recorders:
            rec.done.wait(max(0.0, deadline - time.monotonic()) + _GRACE)
        rows = [rec.freeze(self.ctx.timeout) for rec in self.recorders]
        return ClusterStatus(inv.cluster.name, self.ctx.now, self.ctx.timeout, rows)


def collect(
    inv: Inventory,
    *,
    now: datetime,
    timeout: float = DEFAULT_TIMEOUT,
    here: str | None = None,
    read_sample: bool = False,
) -> ClusterStatus:
    """The status of the whole cluster; never takes much longer than `timeout` seconds."""
    if timeout <= 0:
        raise ColabError(f"--timeout {timeout:g}: must be more than 0 seconds")
    where = here or this_node()
    check_addresses(inv, where)
    return Collector(Context(inv, where, now, timeout, read_sample)).run()
