"""Infisical: runtime injection of secrets, never written anywhere.

Every secret-consuming command runs as `infisical run --env E --path P --projectId I -- CMD…`, so values
exist only in the child's environment. `--env` is always passed (the CLI defaults to `dev`) and
`--projectId` too (without it the CLI needs `.infisical.json` in the working directory).
Presence checks also go through `infisical run`: the child reports which *names* are unset, and values
never leave it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from colab.errors import ColabError
from colab.inventory import Inventory
from colab.runner import Runner

INFISICAL = "infisical"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Prints each name whose variable is unset or empty. `eval` only ever sees validated identifiers.
_MISSING = 'for n; do eval "v=\\${$n:-}"; [ -n "$v" ] || echo "$n"; done'


class MissingSecrets(ColabError):
    pass


def run_argv(inv: Inventory, path: str, command: Sequence[str]) -> list[str]:
    """`infisical run … -- command`: the command sees the secrets at `path` in its environment."""
    return [
        INFISICAL,
        "run",
        "--env",
        inv.infisical.environment,
        "--path",
        path,
        "--projectId",
        inv.infisical.project_id,
        "--silent",
        "--",
        *command,
    ]


def missing_argv(inv: Inventory, path: str, names: Sequence[str]) -> list[str]:
    """Command that prints the names among `names` that Infisical does not provide at `path`.

    `env -u` clears any same-named variable of the caller first, so only Infisical can provide them.
    """
    for name in names:
        if not _NAME.match(name):
            raise ColabError(f"invalid secret name {name!r}; use letters, digits and _")
    unset = [arg for name in names for arg in ("-u", name)]
    return ["env", *unset, *run_argv(inv, path, ["sh", "-c", _MISSING, "sh", *names])]


def check_present(runner: Runner, inv: Inventory, path: str, names: Sequence[str]) -> None:
    """Raise MissingSecrets naming every required secret absent at `path`; values are never seen."""
    if not names:
        return
    res = runner.run(*missing_argv(inv, path, names), check=False, mutating=False)
    if runner.dry_run:
        return
    if not res.ok:
        last = (res.stderr.strip() or res.stdout.strip()).splitlines()
        why = last[-1] if last else f"exit {res.returncode}"
        raise ColabError(
            f"infisical could not read {path} in env {inv.infisical.environment!r} ({why}); "
            "check `infisical login` / INFISICAL_TOKEN and that the path exists"
        )
    missing = [line.strip() for line in res.stdout.splitlines() if line.strip()]
    if missing:
        raise MissingSecrets(
            f"missing secret(s) {', '.join(missing)} at Infisical path {path} (env {inv.infisical.environment}); "
            f"add them in Infisical, then run again"
        )
