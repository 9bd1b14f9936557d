"""Infisical: runtime injection of secrets, never written anywhere.

Every secret-consuming command runs as `infisical run --env E --path P --projectId I -- CMD…`, so values
exist only in the child's environment. `--env` is always passed (the CLI defaults to `dev`) and
`--projectId` too (without it the CLI needs `.infisical.json` in the working directory).
Presence checks read the folder with `infisical export` into the runner's memory (`Runner.injected`), which
is also what lets the runner mask every injected value in what the wrapped commands print
(`colab.injection`); names are compared, values are never shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from colab import injection
from colab.errors import ColabError
from colab.inventory import IDENTIFIER_RE, Inventory
from colab.runner import Runner

INFISICAL = injection.INFISICAL
_NAME = re.compile(IDENTIFIER_RE)


class MissingSecrets(ColabError):
    pass


def scope(inv: Inventory, path: str) -> injection.Scope:
    """The folder `path` of the inventory's project and environment."""
    return injection.Scope(inv.infisical.environment, path, inv.infisical.project_id)


def run_argv(inv: Inventory, path: str, command: Sequence[str]) -> list[str]:
    """`infisical run … -- command`: the command sees the secrets at `path` in its environment."""
    return injection.run_argv(scope(inv, path), command)


def check_argv(inv: Inventory, path: str) -> list[str]:
    """The command `check_present` runs: the folder's secrets as JSON, read into memory only."""
    return injection.export_argv(scope(inv, path))


def check_present(runner: Runner, inv: Inventory, path: str, names: Sequence[str]) -> None:
    """Raise MissingSecrets naming every required secret absent (or empty) at `path`.

    The present ones are masked from then on whatever their length: the task declared them secrets.
    """
    for name in names:
        if not _NAME.fullmatch(name):
            raise ColabError(f"invalid secret name {name!r}; use letters, digits and _")
    if not names:
        return
    values = runner.injected(scope(inv, path))
    if runner.dry_run:
        return
    missing = []
    for name in names:
        value = values.get(name)
        if value is None or not value.reveal():
            missing.append(name)
        else:
            runner.mask(value)
    if missing:
        raise MissingSecrets(
            f"missing secret(s) {', '.join(missing)} at Infisical path {path} (env {inv.infisical.environment}); "
            f"add them in Infisical, then run again"
        )
