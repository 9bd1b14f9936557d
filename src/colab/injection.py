"""What an `infisical run` will inject, known before it runs, so that every text can mask it.

`infisical run … -- CMD` puts one Infisical folder's secrets in CMD's environment, and CMD may print them
back (Compose: `Invalid hostPort: <value>` when a secret lands in a port mapping; a container's logs; a
tool's error). This process never held those values, so it could not mask them. The runner therefore
finds the `infisical run` in every argv it is about to run (`scope_of`) and first asks the same CLI, as the
same user on the same node, for that folder: `infisical export --format json` with the same environment,
path and project (and the same defaults as `run` for imports, reference expansion and personal overrides).
The answer is parsed in memory (`parse_export`), never printed or kept in a file; from then on the runner
masks those values in everything it prints, returns or raises.

Values shorter than MIN_MASKED characters are masked only when a task declares them as secrets (the names
the inventory requires): `true`, `3000` or `prod` in a folder cannot be told apart from ordinary output, and
masking them would garble it, including the JSON that deploy parses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from colab.errors import ColabError

INFISICAL = "infisical"
MIN_MASKED = 8
EXPORT_TIMEOUT = 120.0
# The only `infisical run` flags this project passes; any other could change what is injected.
_VALUE_FLAGS = {"--env": "env", "--path": "path", "--projectId": "project"}
_SWITCHES = {"--silent"}


@dataclass(frozen=True)
class Scope:
    """The folder one `infisical run` injects: environment, path, project (None: from .infisical.json)."""

    env: str = "dev"  # the CLI's default
    path: str = "/"
    project: str | None = None

    def flags(self) -> list[str]:
        out = ["--env", self.env, "--path", self.path]
        return out + (["--projectId", self.project] if self.project else [])


def run_argv(scope: Scope, command: Sequence[str]) -> list[str]:
    """`infisical run … -- command`: the command sees the folder's secrets in its environment."""
    return [INFISICAL, "run", *scope.flags(), "--silent", "--", *command]


def export_argv(scope: Scope) -> list[str]:
    """Prints the folder's secrets as JSON on stdout (read into memory only)."""
    return [INFISICAL, "export", *scope.flags(), "--format", "json", "--silent"]


def scope_of(argv: Sequence[str]) -> Scope | None:
    """The scope of the `infisical run` in `argv` (as the command or after a prefix such as `env -u X`).

    Raises ColabError for flags that could change what is injected (the export would not match them).
    """
    for i in range(len(argv) - 1):
        if os.path.basename(argv[i]) == INFISICAL and argv[i + 1] == "run":
            return _parse_run(argv[i + 2 :])
    return None


def _parse_run(args: Sequence[str]) -> Scope:
    if "--" not in args:
        raise ColabError("`infisical run` without `--` before the command; cannot tell what it would inject")
    found: dict[str, str] = {}
    flags = list(args[: list(args).index("--")])
    i = 0
    while i < len(flags):
        name, eq, value = flags[i].partition("=")
        if name in _VALUE_FLAGS:
            if not eq:
                i += 1
                if i >= len(flags):
                    raise ColabError(f"`infisical run {name}` needs a value")
                value = flags[i]
            found[_VALUE_FLAGS[name]] = value
        elif name not in _SWITCHES:
            raise ColabError(
                f"`infisical run {flags[i]}`: an option this project does not pass; cannot tell what it would inject"
            )
        i += 1
    return Scope(**found)


def parse_export(text: str) -> dict[str, str]:
    """name → value from `infisical export --format json` (a JSON array of {key, value, …}; `null` when empty).

    Errors never quote the text: it holds the values.
    """
    try:
        data = json.loads(text or "null")
    except json.JSONDecodeError:
        raise ColabError("`infisical export --format json` printed something that is not JSON") from None
    if data is None:
        return {}
    if not isinstance(data, list):
        raise ColabError("`infisical export --format json` did not print a list of secrets")
    out: dict[str, str] = {}
    for item in data:
        if not (isinstance(item, dict) and isinstance(item.get("key"), str) and isinstance(item.get("value"), str)):
            raise ColabError("`infisical export --format json` printed an entry without a key and a value")
        out[item["key"]] = item["value"]
    return out
