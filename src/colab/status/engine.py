"""A node's Docker engine and the state of the services placed on it, read through the engine itself.

One POSIX sh script runs on the node (over the shared SSH connection): where systemd runs Docker Engine, its
unit's state first (a stopped or waiting docker.service is reported, not started or waited for); `docker info`
for the engine, then
`docker inspect` of every container carrying a Compose project label. A service's containers are those of
the Compose project named after it (`colab.compose`: `-p <service>`), so no compose file and no secret is
needed to read them (`inv deploy.status`, `colab.deploy.running`, by contrast runs `docker compose ps` under the
Infisical injection). This is status's side of the Docker engine: every node's engine, all its projects, read
only; deploy's side, one service's project before and after a change, is `colab.deploy.project`.
"""

from __future__ import annotations

from dataclasses import dataclass

from colab.compose import PROJECT_LABEL, SERVICE_LABEL
from colab.inventory import Service

from .model import Check, Level, ServiceState, worst

_FIELDS = "|".join(
    [
        f'{{{{index .Config.Labels "{PROJECT_LABEL}"}}}}',
        f'{{{{index .Config.Labels "{SERVICE_LABEL}"}}}}',
        "{{.Name}}",
        "{{.State.Status}}",
        "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
        "{{.State.ExitCode}}",
        "{{.Config.Image}}",
    ]
)
SCRIPT = (
    # Docker Desktop and Homebrew put the client where a non-interactive macOS SSH session does not look.
    'PATH="$PATH:/usr/local/bin:/opt/homebrew/bin"\n'
    'command -v docker >/dev/null 2>&1 || { echo "@down docker: command not found"; exit 0; }\n'
    # Where systemd runs Docker Engine, ask systemd first: `docker info` on the socket of a docker.service that is
    # not up would start it (status changes nothing) or, while its start waits (for fortress: it requires the
    # mount), hang until the deadline, and the node's row would say nothing of why.
    "if systemctl cat docker.service >/dev/null 2>&1; then\n"
    "  s=$(systemctl is-active docker.service 2>/dev/null)\n"
    '  if [ "$s" != active ]; then\n'
    "    if systemctl list-jobs --no-legend 2>/dev/null | grep -qE ' docker[.]service +start '; then\n"
    '      echo "@down docker.service has not started yet: its start is waiting (for fortress?)"\n'
    '    else echo "@down docker.service is ${s:-unknown}"; fi\n'
    "    exit 0\n"
    "  fi\n"
    "fi\n"
    "if ! v=$(docker info --format '{{.ServerVersion}}' 2>&1); then\n"
    '  echo "@down $(printf "%s\\n" "$v" | grep . | tail -n 1)"; exit 0\n'
    "fi\n"
    'echo "@up $v"\n'
    f"ids=$(docker ps -aq --filter label={PROJECT_LABEL}) || exit 3\n"
    f"[ -z \"$ids\" ] || docker inspect --format '{_FIELDS}' $ids\n"
)


@dataclass(frozen=True)
class Container:
    project: str
    service: str  # the compose service inside the project
    name: str
    state: str  # running, exited, restarting, created, paused, dead
    health: str  # healthy, unhealthy, starting, "" without a health check
    exit_code: int
    image: str

    def verdict(self) -> tuple[Level, str]:
        if self.state == "running":
            if self.health == "unhealthy":
                return Level.CRIT, "running, unhealthy"
            if self.health == "starting":
                return Level.WARN, "running, health check starting"
            return Level.OK, f"running, {self.health}" if self.health else "running"
        if self.state == "exited":
            if self.exit_code == 0:
                return Level.OK, "exited(0)"  # a one-shot that did its job
            return Level.CRIT, f"exited({self.exit_code})"
        return Level.CRIT, self.state

    def as_dict(self) -> dict[str, object]:
        level, _ = self.verdict()
        return {
            "name": self.name,
            "service": self.service,
            "state": self.state,
            "health": self.health,
            "exit_code": self.exit_code,
            "image": self.image,
            "level": str(level),
        }


@dataclass(frozen=True)
class Engine:
    up: bool
    detail: str  # the server version, or why the engine does not answer
    containers: list[Container]


def parse(text: str) -> Engine:
    """SCRIPT's output: `@up VERSION` and one `|`-separated line per container, or `@down REASON`."""
    lines = text.splitlines()
    head = next((ln for ln in lines if ln.startswith("@")), "")
    if head.startswith("@down"):
        return Engine(False, head.removeprefix("@down").strip() or "the engine does not answer", [])
    if not head.startswith("@up"):
        last = next((ln for ln in reversed(lines) if ln.strip()), "no output")
        return Engine(False, f"cannot ask the engine ({last.strip()})", [])
    found = []
    for line in lines[lines.index(head) + 1 :]:
        parts = line.split("|")
        if len(parts) != 7:
            continue
        project, service, name, state, health, code, image = parts
        found.append(
            Container(project, service, name.lstrip("/"), state, health, int(code) if code.isdigit() else 0, image)
        )
    return Engine(True, head.removeprefix("@up").strip(), sorted(found, key=lambda c: (c.project, c.name)))


def docker_check(engine: Engine, has_services: bool) -> Check:
    if engine.up:
        return Check(Level.OK, f"up {engine.detail}".strip(), {"version": engine.detail})
    # Every service placed here is down with it; a node without services only loses its tools.
    return Check(Level.CRIT if has_services else Level.WARN, f"down: {engine.detail}")


def service_states(engine: Engine, services: list[Service]) -> list[ServiceState]:
    """One state per service placed on the node, from the containers of its Compose project."""
    states = []
    for svc in services:
        mine = [c for c in engine.containers if c.project == svc.name]
        if not mine:
            states.append(ServiceState(svc.name, Level.CRIT, f"{svc.name}: no container (not deployed?)"))
            continue
        verdicts = [(c, *c.verdict()) for c in mine]
        level = worst([lv for _, lv, _ in verdicts])
        if level == Level.OK:
            health = {c.health for c in mine if c.state == "running"}
            text = f"{svc.name}: {'healthy' if health == {'healthy'} else 'running'}"
        else:
            bad = [f"{c.service or c.name} {why}" for c, lv, why in verdicts if lv == level]
            text = f"{svc.name}: {', '.join(bad)}"
        states.append(ServiceState(svc.name, level, text, [c.as_dict() for c in mine]))
    return states


def services_check(states: list[ServiceState]) -> Check:
    if not states:
        return Check(Level.NA, "-")
    level = worst([s.level for s in states])
    return Check(level, "\n".join(s.text for s in states))
