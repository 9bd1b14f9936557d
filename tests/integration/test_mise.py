"""The rendered mise configs read by the real mise: every node's global config, and the repo's mise.toml.

mise runs offline (MISE_OFFLINE, no auto-install, proxies pointing at a closed loopback port) with its
data, cache and state in a temporary folder, so it neither installs tools nor contacts anything.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from colab import inventory
from colab.render import chezmoi_source, mise_tasks
from colab.render.tree import render_tree
from tests.conftest import RENDER_CASES as CASES
from tests.conftest import RENDER_INVENTORIES as INVENTORIES
from tests.conftest import require_tool

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CLOSED = "http://127.0.0.1:9"  # discard port: nothing listens, any request fails at once

pytestmark = [pytest.mark.tools, pytest.mark.integration]


@pytest.fixture(scope="module")
def trees() -> dict[str, tuple[inventory.Inventory, dict[str, bytes]]]:
    out = {}
    for name, path in INVENTORIES.items():
        inv = inventory.load(path)
        out[name] = (inv, render_tree(inv))
    return out


def mise_env(base: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MISE_", "XDG_", "COLAB_"))}
    env = {k: v for k, v in env.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    return {
        **env,
        "HOME": str(base / "home"),
        "XDG_CONFIG_HOME": str(base / "home/.config"),
        "MISE_DATA_DIR": str(base / "mise/data"),
        "MISE_CACHE_DIR": str(base / "mise/cache"),
        "MISE_STATE_DIR": str(base / "mise/state"),
        "MISE_CEILING_PATHS": str(base),
        "MISE_OFFLINE": "1",
        "MISE_TASK_RUN_AUTO_INSTALL": "0",
        "MISE_YES": "0",
        "HTTP_PROXY": CLOSED,
        "HTTPS_PROXY": CLOSED,
        "ALL_PROXY": CLOSED,
        "NO_COLOR": "1",
        "COLUMNS": "200",  # mise cuts a task's command line at the terminal's width
        **extra,
    }


def mise(cwd: Path, env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    require_tool("mise")
    proc = subprocess.run(
        ["mise", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    if check:
        assert proc.returncode == 0, f"mise {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    # CI=true makes mise colour its output even with NO_COLOR: compare plain text
    return subprocess.CompletedProcess(proc.args, proc.returncode, ANSI.sub("", proc.stdout), ANSI.sub("", proc.stderr))


def node_setup(tmp_path: Path, tree: dict[str, bytes], node: str) -> tuple[Path, dict[str, str]]:
    """A home with the node's mise files as chezmoi places them (shared config.toml + its conf.d file)."""
    for source, data in chezmoi_source.node_sources(tree, node).items():
        target = chezmoi_source.target_path(source)
        if target.startswith(".config/mise/"):
            (tmp_path / "home" / target).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "home" / target).write_bytes(data)
    work = tmp_path / "work"
    work.mkdir()
    return work, mise_env(tmp_path)


def validate_ok(proc: subprocess.CompletedProcess[str]) -> None:
    """`mise tasks validate` passed; the only remark allowed is that the node's checkout is not here."""
    issues = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip().startswith("⚠ T")]
    assert all("[missing-directory]" in line for line in issues), issues
    assert "error" not in (proc.stdout + proc.stderr).lower()


@pytest.mark.parametrize(("name", "node"), CASES)
def test_node_config_lists_validates_and_dry_runs(
    trees: dict[str, tuple[inventory.Inventory, dict[str, bytes]]], tmp_path: Path, name: str, node: str
) -> None:
    inv, tree = trees[name]
    work, env = node_setup(tmp_path, tree, node)
    expected = {t.name: t for t in mise_tasks.all_node_tasks(inv, inv.nodes[node])}

    listed = json.loads(mise(work, env, "tasks", "ls", "--json").stdout)
    assert sorted(t["name"] for t in listed) == sorted(expected)
    for task in listed:
        assert task["dir"] == inv.nodes[node].repo  # {{env.COLAB_REPO}} from conf.d/colab-node.toml
        assert task["run"] == list(expected[task["name"]].run)
        assert task["description"] == expected[task["name"]].description

    validate_ok(mise(work, env, "tasks", "validate"))

    for svc in inv.services:
        proc = mise(work, env, "run", "-n", f"deploy:{svc}")
        assert f"[deploy:{svc}] $ inv deploy --service {svc}" in proc.stdout + proc.stderr
    for task in ("bootstrap", "fortress:mount", "fortress:status"):
        proc = mise(work, env, "run", "-n", task)
        command = mise_tasks.resolved(expected[task], inv.nodes[node])[0]
        assert f"[{task}] $ {command}" in proc.stdout + proc.stderr
        assert f"--node {node}" in command


def test_deploy_runs_the_same_from_every_node(
    trees: dict[str, tuple[inventory.Inventory, dict[str, bytes]]], tmp_path: Path
) -> None:
    """`mise run deploy:gitea` is one task with one command on every node; only its checkout differs."""
    inv, tree = trees["default"]
    seen = set()
    for node in inv.nodes:
        work, env = node_setup(tmp_path / node, tree, node)
        task = next(
            t for t in json.loads(mise(work, env, "tasks", "ls", "--json").stdout) if t["name"] == "deploy:gitea"
        )
        seen.add((tuple(task["run"]), task["description"]))
    assert seen == {(("inv deploy --service gitea",), "Deploy gitea on cooperator (secrets from Infisical /gitea)")}


def test_tasks_really_run_inv_in_the_node_checkout(tmp_path: Path) -> None:
    """Not a dry run: with the checkouts placed under tmp_path, each node's `mise run` calls a fake `inv`."""
    data = tomllib.loads(INVENTORIES["other"].read_text())
    for name, node in data["nodes"].items():
        node["repo"] = str(tmp_path / "checkouts" / name)
        Path(node["repo"]).mkdir(parents=True)
    inv = inventory.from_dict(data)
    tree = render_tree(inv)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "inv").write_text('#!/bin/sh\necho "fake-inv $* @ $(pwd)"\n')
    (fake / "inv").chmod(0o755)
    for name, node in inv.nodes.items():
        work, env = node_setup(tmp_path / name, tree, name)
        env["PATH"] = f"{fake}:{env['PATH']}"
        proc = mise(work, env, "run", "deploy:forgejo")
        assert f"fake-inv deploy --service forgejo @ {node.repo}" in proc.stdout
        proc = mise(work, env, "run", "bootstrap")
        assert f"fake-inv bootstrap --node {name} @ {node.repo}" in proc.stdout
        validate_ok(mise(work, env, "tasks", "validate"))
        # with the checkout's virtualenv (what `inv bootstrap` makes), its inv wins over the one on PATH
        venv_inv = Path(node.repo) / ".venv" / "bin" / "inv"
        venv_inv.parent.mkdir(parents=True)
        venv_inv.write_text('#!/bin/sh\necho "venv-inv $* @ $(pwd)"\n')
        venv_inv.chmod(0o755)
        proc = mise(work, env, "run", "deploy:forgejo")
        assert f"venv-inv deploy --service forgejo @ {node.repo}" in proc.stdout and "fake-inv" not in proc.stdout
        proc = mise(work, env, "run", "fortress:status")
        assert f"venv-inv fortress.status --node {name} @ {node.repo}" in proc.stdout
        # only the task's PATH: the node's mise environment (shells with `mise activate`) is left alone
        assert str(venv_inv.parent) not in mise(work, env, "env", "--json").stdout
    work, env = tmp_path / "forge" / "work", mise_env(tmp_path / "forge")
    env["PATH"] = f"{fake}:{env['PATH']}"
    assert f"venv-inv backup.daily @ {inv.nodes['forge'].repo}" in mise(work, env, "run", "backup:daily").stdout


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_repo_mise_toml(
    trees: dict[str, tuple[inventory.Inventory, dict[str, bytes]]], tmp_path: Path, name: str
) -> None:
    inv, tree = trees[name]
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "mise.toml").write_bytes(tree["mise.toml"])
    env = mise_env(tmp_path, MISE_TRUSTED_CONFIG_PATHS=str(repo))

    listed = json.loads(mise(repo, env, "tasks", "ls", "--json").stdout)
    assert sorted(t["name"] for t in listed) == sorted(t.name for t in mise_tasks.repo_tasks(inv))
    assert {t["dir"] for t in listed} == {str(repo)}
    validate_ok(mise(repo, env, "tasks", "validate"))

    node = list(inv.nodes)[-1]
    proc = mise(repo, env, "run", "-n", "bootstrap", node)
    assert f"$ inv bootstrap --node {node}" in proc.stdout + proc.stderr
    proc = mise(repo, env, "run", "-n", "fortress:mount", node)
    assert f"$ inv fortress.mount --node {node}" in proc.stdout + proc.stderr
    wrong = mise(repo, env, "run", "-n", "bootstrap", "nosuch", check=False)
    assert wrong.returncode != 0 and "Invalid choice for arg node" in wrong.stderr
    proc = mise(repo, env, "run", "-n", "check")
    out = proc.stdout + proc.stderr
    assert "$ inv inventory.check" in out and "$ inv render --check" in out
    svc = next(iter(inv.services))
    proc = mise(repo, env, "run", "-n", f"deploy:{svc}")
    assert f"$ inv deploy --service {svc}" in proc.stdout + proc.stderr

    # really run: a dev checkout without .venv uses the inv on PATH; a node's checkout its .venv/bin/inv
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "inv").write_text('#!/bin/sh\necho "path-inv $* @ $(pwd)"\n')
    (fake / "inv").chmod(0o755)
    env["PATH"] = f"{fake}:{env['PATH']}"
    assert f"path-inv render @ {repo}" in mise(repo, env, "run", "render").stdout
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "inv").write_text('#!/bin/sh\necho "venv-inv $* @ $(pwd)"\n')
    (repo / ".venv" / "bin" / "inv").chmod(0o755)
    assert f"venv-inv render @ {repo}" in mise(repo, env, "run", "render").stdout
    assert f"venv-inv bootstrap --node {node} @ {repo}" in mise(repo, env, "run", "bootstrap", node).stdout
