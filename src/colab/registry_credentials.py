"""`docker-credential-colab`: a Docker credential helper that answers from its environment, never from a file.

`colab.registry` runs `docker push|pull` under `infisical run`, which puts the registry token in the docker CLI's
environment; the CLI runs this helper (found through a throw-away DOCKER_CONFIG's `credHelpers`), which inherits
that environment. Protocol (docker-credential-helpers): the action is the first argument, the request on stdin,
the answer on stdout. `get` answers only for the registry it was set up for ($COLAB_REGISTRY_HOST); `store` and
`erase` store and erase nothing (a `docker login` through this helper would be a no-op); `list` lists nothing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import TextIO

# What colab.registry sets for the helper (names only: the token's value is injected by `infisical run`).
ENV_HOST = "COLAB_REGISTRY_HOST"
ENV_USER = "COLAB_REGISTRY_USER"
ENV_TOKEN_NAME = "COLAB_REGISTRY_TOKEN_NAME"
NOT_FOUND = "credentials not found in native keychain"  # the message docker recognises as "no credentials"


def _bare(server: str) -> str:
    """`https://127.0.0.1:3000/` and `127.0.0.1:3000` name the same registry."""
    return server.strip().removeprefix("https://").removeprefix("http://").rstrip("/")


def answer(action: str, request: str, env: Mapping[str, str]) -> tuple[int, str]:
    """(exit status, stdout) for one helper call."""
    if action in ("store", "erase"):
        return 0, ""
    if action == "list":
        return 0, "{}"
    if action != "get":
        return 1, f"unknown action {action!r}"
    host = env.get(ENV_HOST, "")
    token = env.get(env.get(ENV_TOKEN_NAME, ""), "")
    if not host or not token or _bare(request) != _bare(host):
        return 1, NOT_FOUND
    return 0, json.dumps({"ServerURL": request.strip(), "Username": env.get(ENV_USER, ""), "Secret": token})


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    args = sys.argv[1:] if argv is None else argv
    code, text = answer(args[0] if args else "", stdin.read(), os.environ)
    stdout.write(text)
    stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
