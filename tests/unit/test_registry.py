"""colab.registry and its credential helper: image references, the throw-away Docker config, the helper's answers,
the dry run; the inventory's [registry] table and services.NAME.env; the Actions workflow file."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from colab import inventory, registry, registry_credentials
from colab.errors import ColabError
from tests.unit.test_inventory import default_data, mutate, problems

ROOT = Path(__file__).resolve().parents[2]
INV = inventory.load(ROOT / "cluster.toml")
WORKFLOW = ROOT / ".gitea" / "workflows" / "ci.yaml"


def test_the_registry_is_the_forge_domain_unless_a_host_is_set() -> None:
    assert registry.host(INV) == "git.ism.la"
    data = mutate(default_data(), "registry.host", "127.0.0.1:3000")
    assert registry.host(inventory.from_dict(data)) == "127.0.0.1:3000"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("git.ism.la/rtr/app:1.0", "git.ism.la/rtr/app:1.0"),
        ("git.ism.la/rtr/app", "git.ism.la/rtr/app:latest"),
        ("git.ism.la/rtr/tools/lint-x:2024.1_b", "git.ism.la/rtr/tools/lint-x:2024.1_b"),
    ],
)
def test_image_references_of_the_cluster_registry(image: str, expected: str) -> None:
    assert registry.check_image(INV, image) == expected


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("docker.io/library/busybox:1", "its registry is docker.io, not the cluster's git.ism.la"),
        ("git.ism.la/app:1", "is not <registry>/<owner>/<image>:<tag>"),
        ("git.ism.la/RTR/app:1", "is not <registry>/<owner>/<image>:<tag>"),
        ("", "--image is required: the image to push or pull, e.g. --image git.ism.la/rtr/app:1.0"),
        ("git.ism.la/rtr/app:1.0 ", "is not <registry>/<owner>/<image>:<tag>"),
    ],
)
def test_other_references_are_one_line(image: str, message: str) -> None:
    with pytest.raises(ColabError, match=re.escape(message)) as info:
        registry.check_image(INV, image)
    assert "\n" not in str(info.value)


def test_no_registry_table_is_one_line() -> None:
    data = default_data()
    del data["registry"]
    with pytest.raises(ColabError, match=r"no \[registry\] table"):
        registry.host(inventory.from_dict(data))


def test_the_docker_config_names_only_the_helper() -> None:
    assert json.loads(registry.docker_config("git.ism.la")) == {"credHelpers": {"git.ism.la": "colab"}}
    script = registry.helper_script("/opt/py thon/bin/python")
    assert script == "#!/bin/sh\nexec '/opt/py thon/bin/python' -m colab.registry_credentials \"$@\"\n"


def test_the_helper_folder_holds_no_secret_and_is_removed() -> None:
    with registry.helper_dir("git.ism.la", dry_run=False) as folder:
        path = Path(folder)
        assert sorted(p.name for p in path.iterdir()) == ["config.json", "docker-credential-colab"]
        assert path.stat().st_mode & 0o077 == 0  # private to this user
    assert not path.exists()


HELPER_ENV = {
    registry_credentials.ENV_HOST: "git.ism.la",
    registry_credentials.ENV_USER: "rtr",
    registry_credentials.ENV_TOKEN_NAME: "REGISTRY_TOKEN",
    "REGISTRY_TOKEN": "tok-123456789",
}


@pytest.mark.parametrize("server", ["git.ism.la", "https://git.ism.la", "https://git.ism.la/", "git.ism.la\n"])
def test_the_helper_answers_for_its_registry_from_the_environment(server: str) -> None:
    code, text = registry_credentials.answer("get", server, HELPER_ENV)
    assert code == 0
    assert json.loads(text) == {"ServerURL": server.strip(), "Username": "rtr", "Secret": "tok-123456789"}


@pytest.mark.parametrize(
    ("server", "env"),
    [
        ("docker.io", HELPER_ENV),  # another registry gets nothing
        ("git.ism.la", {k: v for k, v in HELPER_ENV.items() if k != "REGISTRY_TOKEN"}),  # not injected
        ("git.ism.la", {}),
    ],
)
def test_the_helper_has_nothing_for_anything_else(server: str, env: dict[str, str]) -> None:
    assert registry_credentials.answer("get", server, env) == (1, registry_credentials.NOT_FOUND)


def test_the_helper_stores_and_erases_nothing() -> None:
    assert registry_credentials.answer("store", '{"ServerURL":"x","Username":"u","Secret":"s"}', HELPER_ENV) == (0, "")
    assert registry_credentials.answer("erase", "git.ism.la", HELPER_ENV) == (0, "")
    assert registry_credentials.answer("list", "", HELPER_ENV) == (0, "{}")
    assert registry_credentials.answer("nonsense", "", HELPER_ENV)[0] == 1
    out = io.StringIO()
    assert registry_credentials.main(["list"], io.StringIO(""), out) == 0 and out.getvalue() == "{}"


def test_dry_run_prints_the_commands_and_contacts_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=400)
    report = registry.transfer(INV, "pull", "git.ism.la/rtr/app:1.0", node="director", here="cooperator",
                               dry_run=True, console=console)  # fmt: skip
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert [o.status for o in report.outcomes] == ["planned"]
    assert (
        "DOCKER_HOST=ssh://crtr@100.64.0.2 DOCKER_CONFIG='<temporary folder>' PATH='<temporary folder>:$PATH' "
        "COLAB_REGISTRY_HOST=git.ism.la COLAB_REGISTRY_USER=rtr COLAB_REGISTRY_TOKEN_NAME=REGISTRY_TOKEN "
        "infisical run --env prod --path /registry --projectId 6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5 --silent "
        "-- docker pull git.ism.la/rtr/app:1.0"
    ) in text


def test_the_inventory_checks_registry_and_service_settings() -> None:
    data: dict[str, Any] = default_data()
    assert problems(mutate(data, "registry.service", "forgejo")) == [
        "registry.service: 'forgejo' is not a service; known services: " + ", ".join(data["services"])
    ]
    assert problems(mutate(data, "services.gitea.env", {"COLAB_PORT": "1"})) == [
        "services.gitea.env.COLAB_PORT: set by deploy or a secret, not a setting; drop it (secrets come from Infisical)"
    ]
    secret = copy.deepcopy(data)
    secret["services"]["gitea"]["env"]["GITEA_DB_PASSWORD"] = "x"
    assert problems(secret)[0].startswith("services.gitea.env.GITEA_DB_PASSWORD: set by deploy or a secret")
    nodomain = mutate(data, "services.gitea.domains", [])
    assert "registry.service: gitea has no domains; give it one or set registry.host" in problems(nodomain)


# ----------------------------------------------------------------------------------------- the workflow


def run_commands(text: str) -> list[str]:
    """The shell lines of every `run:` (one line, or a `|` block: the lines indented under it)."""
    commands: list[str] = []
    block = -1  # indentation of the `run: |` key while inside its block
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if block >= 0 and line.strip() and indent > block:
            commands.append(line.strip())
            continue
        block = -1
        m = re.match(r"^(\s*)(?:- )?run: (.*)$", line)
        if m and m[2] == "|":
            block = len(m[1])
        elif m:
            commands.append(m[2])
    return commands


def test_the_workflow_runs_the_render_check_and_unit_tests_on_the_runners_label() -> None:
    text = WORKFLOW.read_text()
    assert re.search(r"^on: \[push, pull_request\]$", text, re.M)
    (label,) = re.findall(r"^\s+runs-on: (\S+)$", text, re.M)
    labels = INV.service("gitea-runner").env["GITEA_RUNNER_LABELS"].split(",")
    assert label in {entry.split(":", 1)[0] for entry in labels}  # a job the cluster's runner picks up
    commands = run_commands(text)
    assert ".venv/bin/inv render --check" in commands and any(
        c.startswith('PATH="$PWD/.venv/bin:$PATH" pytest -q tests/unit') for c in commands
    )
    assert "python3 scripts/venv --dev" in commands  # exactly uv.lock's versions
    assert not re.search(r"^\s+(- )?uses:", text, re.M)  # the job image has no Node for JavaScript actions
    assert not any("${{" in c for c in commands), commands  # expressions only via env: no shell injection
