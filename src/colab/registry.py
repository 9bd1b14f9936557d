"""Push and pull images through the cluster's registry (Gitea's package registry) with a token that stays in memory.

The access token lives in Infisical (`registry.token` at `registry.secrets_path`). `docker push|pull` runs under
`infisical run`, so the token is only in that docker process's environment, and reaches the registry through a
credential helper: the docker CLI runs `docker-credential-colab get` (`colab.registry_credentials`), which
inherits that environment and prints the token on its stdout, to the CLI, nothing else. The CLI is pointed at a
throw-away DOCKER_CONFIG folder holding only `{"credHelpers": {host: "colab"}}` and the helper's two-line
wrapper: no secret is written anywhere, `~/.docker/config.json` is neither read nor changed, and nothing needs
undoing after a crash (there is no login to log out of). Chosen over `docker login` + `logout`, which stores
the token in a config file (base64, not encrypted) for as long as the login lasts.

With `--node` the docker CLI still runs here and talks to that node's engine over `DOCKER_HOST=ssh://…` (as
deploy does): the engine pulls with the credentials the CLI hands it in the API call.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from colab import image_ref, netguard, secrets
from colab.errors import ColabError
from colab.inventory import Inventory, Node, Registry
from colab.registry_credentials import ENV_HOST, ENV_TOKEN_NAME, ENV_USER
from colab.runner import Runner, this_node
from colab.steps import Outcome, Report, Status

HELPER = "colab"  # docker runs docker-credential-colab
HELPER_MODULE = "colab.registry_credentials"
VERBS = ("push", "pull")
# <host>/<owner>/<name>[/<more>]:<tag> — lowercase path components (image_ref) as the registry API requires
_PATH = image_ref.COMPONENT
_IMAGE = re.compile(rf"^(?P<host>[^/]+)/(?P<path>{_PATH}(?:/{_PATH})+)(?::(?P<tag>{image_ref.TAG}))?$")


def config(inv: Inventory) -> Registry:
    if inv.registry is None:
        raise ColabError("the inventory has no [registry] table; add one (service, user, token: see docs/gitea.md)")
    return inv.registry


def host(inv: Inventory) -> str:
    """The registry's host[:port]: `registry.host`, else the first domain of the forge service."""
    reg = config(inv)
    return reg.host or inv.service(reg.service).domains[0]


def check_image(inv: Inventory, image: str) -> str:
    """The image reference, if it names this registry as `<host>/<owner>/<image>[:<tag>]`; else one clear error."""
    where = host(inv)
    example = f"e.g. --image {where}/{config(inv).user}/app:1.0"
    if not image:
        raise ColabError(f"--image is required: the image to push or pull, {example}")
    m = _IMAGE.fullmatch(image)
    if m is None:
        raise ColabError(f"--image {image!r} is not <registry>/<owner>/<image>:<tag> with lowercase names; {example}")
    if m["host"] != where:
        raise ColabError(f"--image {image}: its registry is {m['host']}, not the cluster's {where}; push to {where}")
    return image if m["tag"] else f"{image}:latest"


def docker_config(registry_host: str) -> str:
    """The throw-away DOCKER_CONFIG's config.json: only which helper answers for the registry."""
    return json.dumps({"credHelpers": {registry_host: HELPER}}, indent=2) + "\n"


def helper_script(python: str = sys.executable) -> str:
    return f'#!/bin/sh\nexec {shlex.quote(python)} -m {HELPER_MODULE} "$@"\n'


@contextmanager
def helper_dir(registry_host: str, dry_run: bool) -> Iterator[str]:
    """A private folder with config.json and docker-credential-colab, removed afterwards (nothing secret in it)."""
    if dry_run:
        yield "<temporary folder>"
        return
    base = os.environ.get("XDG_RUNTIME_DIR") or None
    folder = Path(tempfile.mkdtemp(prefix="colab-registry-", dir=base))
    try:
        (folder / "config.json").write_text(docker_config(registry_host), encoding="utf-8")
        script = folder / f"docker-credential-{HELPER}"
        script.write_text(helper_script(), encoding="utf-8")
        script.chmod(0o700)
        yield str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Engine:
    name: str  # the node (or this machine, when it is none)
    docker_host: str  # "" for the local socket


def engine(inv: Inventory, node: str | None, here: str | None = None, dry_run: bool = False) -> Engine:
    """The engine to push from / pull into: this machine's (default), or `--node`'s over SSH."""
    here = here or this_node()
    if not node:
        return Engine(here, "")  # a node, or a machine that is none (a laptop, CI): its own engine
    chosen: Node = inv.node(node)
    if chosen.name == here:
        return Engine(chosen.name, "")
    if not dry_run:
        netguard.ensure_allowed(str(chosen.mesh), f"use the Docker engine of {chosen.name}")
    return Engine(chosen.name, chosen.engine_url)


def docker_argv(inv: Inventory, verb: str, image: str) -> list[str]:
    """`infisical run --path <registry.secrets_path> … -- docker push|pull IMAGE`."""
    return secrets.run_argv(inv, config(inv).secrets_path, ["docker", verb, image])


def image_id(runner: Runner, image: str, env: dict[str, str]) -> str:
    res = runner.run("docker", "image", "inspect", "--format", "{{.Id}}", image, env=env, check=False, mutating=False)
    return res.stdout.strip() if res.ok else ""


def repo_digests(runner: Runner, image: str, env: dict[str, str]) -> list[str]:
    res = runner.run(
        "docker", "image", "inspect", "--format", "{{json .RepoDigests}}", image, env=env, check=False, mutating=False
    )  # fmt: skip
    return list(json.loads(res.stdout or "null") or []) if res.ok else []


def transfer(
    inv: Inventory,
    verb: str,
    image: str,
    *,
    node: str | None = None,
    here: str | None = None,
    dry_run: bool = False,
    console: Console | None = None,
) -> Report:
    """`docker push` or `docker pull` of one image through the registry; `changed` only when something moved."""
    if verb not in VERBS:
        raise ColabError(f"unknown verb {verb!r}; use one of {', '.join(VERBS)}")
    reg = config(inv)
    ref = check_image(inv, image)
    where = host(inv)
    eng = engine(inv, node, here, dry_run)
    report = Report(f"registry {verb} {ref}")
    runner = Runner(node=this_node(), dry_run=dry_run)
    if console is not None:
        runner.console = console
    with runner:
        secrets.check_present(runner, inv, reg.secrets_path, [reg.token])
        target = {"DOCKER_HOST": eng.docker_host} if eng.docker_host else {}
        before = "" if dry_run else image_id(runner, ref, target)
        if verb == "push" and not dry_run and not before:
            raise ColabError(f"no image {ref} on {eng.name}'s engine; build or `docker tag` it first")
        known = [] if dry_run else repo_digests(runner, ref, target)
        with helper_dir(where, dry_run) as folder:
            env = {
                **target,
                "DOCKER_CONFIG": folder,
                "PATH": f"{folder}{os.pathsep}{'$PATH' if dry_run else os.environ.get('PATH', '')}",
                ENV_HOST: where,
                ENV_USER: reg.user,
                ENV_TOKEN_NAME: reg.token,
            }
            res = runner.run(*docker_argv(inv, verb, ref), env=env, check=False, timeout=1800)
        step = f"docker {verb} ({eng.name})"
        if dry_run:
            report.outcomes.append(Outcome(runner.node, step, Status.PLANNED))
        elif not res.ok:
            report.outcomes.append(Outcome(runner.node, step, Status.FAILED, res.last_line))
        elif verb == "pull":
            after = image_id(runner, ref, target)
            detail = f"{ref} {after[:19]}" if after != before else ""
            report.outcomes.append(Outcome(runner.node, step, Status.CHANGED if detail else Status.OK, detail))
        else:
            digest = re.search(r"digest: (sha256:[0-9a-f]{64})", res.stdout)
            repo = ref.rsplit(":", 1)[0]
            seen = digest is not None and f"{repo}@{digest[1]}" in known
            pushed = "Pushed" in res.stdout
            status = Status.OK if seen and not pushed else Status.CHANGED
            report.outcomes.append(Outcome(runner.node, step, status, "" if status == Status.OK else ref))
    return report
