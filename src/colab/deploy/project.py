"""The service's Compose project as the target's engine sees it: reachable, whose it is, what a cut-off run left.

This is deploy's side of the Docker engine: one service's project, before and after a change. `inv status` reads
the engine of every node with all the projects on it (`colab.status.engine`).

Containers are listed with plain `docker` (no compose file, no injection) by the label Compose gives every
container of a project (`com.docker.compose.project=<service>`), so this works even when the compose file or
the secrets are broken.

Ownership: every container this tool creates carries `org.colab.service=<service>` (`colab.deploy.override`).
A project with a container that has neither that label nor this tool's folder as its Compose working directory
(`com.docker.compose.project.working_dir`: containers made before the label existed) is someone else's: it is
refused with one line and never touched (no `--remove-orphans`, no `down`).

A recreate cut off by a Ctrl-C or kill -9 leaves a container named `<12 hex>_<name>`: Compose ≥ 2.2x creates
the new container under that name, stops and removes the old one, then renames the new one (earlier versions
renamed the old one aside instead). Every later `up` then fails with "Conflict. The container name … is
already in use". `recover` removes such a leftover when `<name>` still exists, else gives it its name back,
so the `up` that follows converges (volumes are never removed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from colab.compose import PROJECT_LABEL, SERVICE_LABEL
from colab.errors import ColabError
from colab.runner import Runner

from . import command_lines
from .output import cause
from .override import OWNER_LABEL
from .target import Target

WORKDIR_LABEL = "com.docker.compose.project.working_dir"
LEFTOVER = re.compile(r"([0-9a-f]{12})_(.+)")
_FORMAT = (
    '{"id":{{json .Id}},"name":{{json .Name}},"state":{{json .State.Status}},'
    '"image":{{json .Image}},"ref":{{json .Config.Image}},"labels":{{json .Config.Labels}}}'
)
ENGINE_TIMEOUT = 60.0


@dataclass(frozen=True)
class ProjectContainer:
    id: str
    name: str
    state: str
    image: str  # the image id it runs (sha256:…)
    ref: str  # the image as configured (name:tag, or an id after a rollback)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str:
        """The Compose service it belongs to."""
        return self.labels.get(SERVICE_LABEL, "")


def version_cmd() -> list[str]:
    return ["docker", "version", "--format", "{{.Server.Version}}"]


def list_cmd(target: Target) -> list[str]:
    return ["docker", "ps", "-a", "-q", "--no-trunc", "--filter", f"label={PROJECT_LABEL}={target.service.name}"]


def inspect_cmd(ids: list[str]) -> list[str]:
    return ["docker", "inspect", "--format", _FORMAT, *ids]


def check_reachable(runner: Runner, target: Target) -> None:
    """Raise one line when the target's engine does not answer (before anything is written)."""
    res = runner.run(
        *version_cmd(), env=command_lines.engine_env(target), check=False, mutating=False, timeout=ENGINE_TIMEOUT
    )
    if not res.ok:
        where = target.docker_host or "the local Docker socket"
        raise ColabError(
            f"cannot reach the Docker engine of {target.node.name} via {where} ({cause(res)}); "
            "start Docker there or check the node is up (nothing was changed)"
        )


def containers(runner: Runner, target: Target) -> list[ProjectContainer]:
    """Every container of the service's Compose project on the target's engine, running or not."""
    env = command_lines.engine_env(target)
    res = runner.run(*list_cmd(target), env=env, check=False, mutating=False, timeout=ENGINE_TIMEOUT)
    if not res.ok:
        raise ColabError(f"cannot list the containers of {target.what}: {cause(res)}")
    ids = res.stdout.split()
    if not ids:
        return []
    res = runner.run(*inspect_cmd(ids), env=env, check=False, mutating=False, timeout=ENGINE_TIMEOUT)
    if not res.ok:
        if "No such" in res.stderr:  # one went away between the two calls: ask again
            return containers(runner, target)
        raise ColabError(f"cannot inspect the containers of {target.what}: {cause(res)}")
    found = []
    for line in res.stdout.splitlines():
        item = json.loads(line)
        found.append(
            ProjectContainer(
                id=item["id"],
                name=item["name"].lstrip("/"),
                state=item["state"],
                image=item["image"],
                ref=item["ref"],
                labels=dict(item.get("labels") or {}),
            )
        )
    return sorted(found, key=lambda c: c.name)


def ours(c: ProjectContainer, target: Target) -> bool:
    return c.labels.get(OWNER_LABEL) == target.service.name or c.labels.get(WORKDIR_LABEL) == target.project_dir


def refuse_foreign(found: list[ProjectContainer], target: Target) -> None:
    """One line, nothing touched, when the project holds a container this tool did not create."""
    foreign = [c for c in found if not ours(c, target)]
    if foreign:
        names = ", ".join(c.name for c in foreign)
        where = foreign[0].labels.get(WORKDIR_LABEL) or "an unknown folder"
        raise ColabError(
            f"the Compose project {target.service.name} on {target.node.name} was not created by this tool "
            f"({names}, from {where}, have no {OWNER_LABEL} label); stop it yourself or rename the service "
            "(nothing was changed)"
        )


def recover(runner: Runner, target: Target, found: list[ProjectContainer]) -> list[str]:
    """Undo what a cut-off recreate left (see the module docs); what was done, one phrase each."""
    env = command_lines.engine_env(target)
    names = {c.name for c in found}
    done = []
    for c in found:
        m = LEFTOVER.fullmatch(c.name)
        if not m:
            continue
        if m.group(2) in names:
            res = runner.run("docker", "rm", "-f", c.id, env=env, check=False)
            done.append(f"removed leftover container {c.name}")
        else:
            res = runner.run("docker", "rename", c.id, m.group(2), env=env, check=False)
            names.add(m.group(2))
            done.append(f"renamed leftover container {c.name} back to {m.group(2)}")
        if not res.ok:
            raise ColabError(f"cannot clean up container {c.name} of {target.what}: {cause(res)}")
    return done


def images(found: list[ProjectContainer]) -> dict[str, str]:
    """Compose service → the image id its containers run (what a rollback brings back)."""
    return {c.service: c.image for c in sorted(found, key=lambda c: c.name) if c.service}
