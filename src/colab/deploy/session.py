"""One service on one target: its runners (here and on the target node), its files and compose environment."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from colab.inventory import Inventory
from colab.runner import Result, Runner, SshTransport

from . import command_lines, generated, sync
from .target import Confirm, Target, resolve


class PlanRunner(Runner):
    """A Runner whose dry run also prints read-only checks, so `--dry-run` shows the whole plan in order."""

    def run(self, *argv: str, mutating: bool = True, **kwargs: Any) -> Result:
        return super().run(*argv, mutating=mutating or self.dry_run, **kwargs)


@dataclass
class Session:
    target: Target
    local: Runner  # where the infisical/docker clients run: this machine
    node: Runner  # the target node, for its files (same as `local` when we are on it)
    files: list[sync.File]
    env: dict[str, str]  # non-secret compose environment
    inv: Inventory | None = None
    compose_services: list[str] = field(default_factory=list)  # names, from `config --services`

    @classmethod
    def open(
        cls,
        inv: Inventory,
        service: str,
        node: str | None = None,
        *,
        here: str | None = None,
        yes: bool = False,
        confirm: Confirm | None = None,
        dry_run: bool = False,
        console: Console | None = None,
    ) -> Session:
        target = resolve(inv, service, node, here=here, yes=yes, confirm=confirm, dry_run=dry_run)
        extra: dict[str, Any] = {"console": console} if console is not None else {}
        local = PlanRunner(node=target.here, dry_run=dry_run, **extra)
        if target.local:
            remote: Runner = local
        else:
            n = target.node
            host = str(n.mesh)
            remote = PlanRunner(
                node=n.name,
                dry_run=dry_run,
                transport_factory=lambda: SshTransport(host, n.ssh_user, n.ssh_port),
                **extra,
            )
        files = sync.collect(target, generated.render(inv, target))
        env = command_lines.compose_env(inv, target, sync.digest(files))
        return cls(target, local, remote, files, env, inv)

    def with_files(self, files: list[sync.File], source: Path) -> Session:
        """The same runners for other files (a recorded deployment's), whose compose file the client reads from
        `source`: a folder in this machine holding exactly those files."""
        assert self.inv is not None
        target = dataclasses.replace(self.target, source=source)
        env = command_lines.compose_env(self.inv, target, sync.digest(files))
        return dataclasses.replace(self, target=target, files=files, env=env, compose_services=[])

    def close(self) -> None:
        self.local.close()
        self.node.close()
