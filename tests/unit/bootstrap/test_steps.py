"""Bootstrap steps against a fake node: what each check concludes from what the node answers, and the
pre-auth key, read from Infisical (the stand-in) on this machine, reaching the node on stdin only."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from plumbum import local

from colab import inventory
from colab.bootstrap import dotfiles, install, mesh, verify
from colab.bootstrap.context import Ctx
from colab.errors import ColabError
from colab.runner import Result, Runner
from colab.steps import Status, run_step
from tests.conftest import CANARY, FakeInfisical

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")

Answer = Callable[[list[str], Mapping[str, str], bytes | None], Result]


@dataclass
class FakeNode:
    """A Transport answering by the first rule whose pattern matches the joined argv."""

    rules: list[tuple[str, Answer]] = field(default_factory=list)
    calls: list[tuple[list[str], dict[str, str], bytes | None]] = field(default_factory=list)

    def on(self, pattern: str, out: str = "", code: int = 0, err: str = "") -> FakeNode:
        self.rules.append((pattern, lambda a, e, s: Result(code, out, err)))
        return self

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], stdin: bytes | None, cwd: str | None, timeout: float | None
    ) -> Result:
        self.calls.append((list(argv), dict(env), stdin))
        text = " ".join(argv)
        for pattern, answer in self.rules:
            if re.search(pattern, text):
                return answer(list(argv), env, stdin)
        return Result(0)

    def close(self) -> None:
        pass


def ctx_for(node: str, fake: FakeNode, inv: inventory.Inventory = INV) -> tuple[Ctx, Runner]:
    r = Runner(node, transport_factory=lambda: fake)
    return Ctx(inv, inv.nodes[node], True, Runner("local")), r


def test_joined_when_tailscale_shows_the_inventorys_address() -> None:
    fake = FakeNode().on(r"tailscale ip -4", "100.64.0.2\nfd7a::2\n")
    ctx, r = ctx_for("director", fake)
    assert run_step(mesh.joined(ctx), r).status == Status.OK


def test_joined_with_another_address_fails_with_what_to_change() -> None:
    fake = FakeNode().on(r"tailscale ip -4", "100.64.0.9\n")
    ctx, r = ctx_for("director", fake)
    out = run_step(mesh.joined(ctx), r)
    assert out.status == Status.FAILED
    assert out.detail == (
        "director is on the mesh as 100.64.0.9, but the inventory says 100.64.0.2: Headscale picks the address; "
        "set nodes.director.mesh = '100.64.0.9', or move the node to 100.64.0.2 in Headscale"
    )
    assert not any("up" in argv for argv, _, _ in fake.calls)


def test_the_pre_auth_key_travels_on_stdin_only(fake_infisical: FakeInfisical) -> None:
    fake_infisical.set("/headscale", HEADSCALE_PREAUTH_KEY=CANARY)
    joined = {"done": False}

    def up(argv: list[str], env: Mapping[str, str], stdin: bytes | None) -> Result:
        joined["done"] = stdin == CANARY.encode()
        return Result(0)

    fake = FakeNode()
    fake.rules.append((r"tailscale up", up))
    fake.rules.append((r"tailscale ip -4", lambda a, e, s: Result(0, "100.64.0.2\n") if joined["done"] else Result(1)))
    ctx, r = ctx_for("director", fake)
    with local.env(PATH=os.environ["PATH"]):  # plumbum resolves argv[0] in its own copy of PATH
        out = run_step(mesh.joined(ctx), r)
    assert out.status == Status.CHANGED, out
    up_calls = [(argv, env) for argv, env, _ in fake.calls if "up" in argv]
    assert up_calls == [
        (
            ["sudo", "-n", "tailscale", "up", "--reset", "--login-server=https://hs.ism.la",
             "--auth-key=file:/dev/stdin", "--hostname=director"],
            {},
        )
    ]  # fmt: skip
    assert all(CANARY not in " ".join(argv) for argv, _, _ in fake.calls)
    assert r.history[-2].endswith("--hostname=director <<< ***") and CANARY not in "\n".join(r.history)
    assert CANARY not in "\n".join(ctx.controller.history)


def test_a_missing_pre_auth_key_names_it_and_the_fix(fake_infisical: FakeInfisical) -> None:
    fake_infisical.set("/headscale", OTHER="x")
    fake = FakeNode().on(r"tailscale ip -4", code=1)
    ctx, r = ctx_for("director", fake)
    with local.env(PATH=os.environ["PATH"]):
        out = run_step(mesh.joined(ctx), r)
    assert out.status == Status.FAILED
    assert out.detail.startswith("missing secret(s) HEADSCALE_PREAUTH_KEY at Infisical path /headscale (env prod)")


def test_docker_engine_wants_the_client_and_compose_v2() -> None:
    ctx, r = ctx_for("director", FakeNode().on(r"command -v", "docker\n"))
    assert install.docker_engine(ctx).check(r) == "docker is not installed"
    ctx, r = ctx_for("director", FakeNode().on(r"docker compose version", code=1, err="unknown command"))
    assert install.docker_engine(ctx).check(r) == "Docker Compose v2 (`docker compose`) is missing"
    ctx, r = ctx_for("director", FakeNode())
    assert install.docker_engine(ctx).check(r) is None


def test_apt_packages_are_read_from_dpkg() -> None:
    fake = FakeNode().on(r"dpkg-query", "curl installed\nca-certificates installed\ngit not-installed\n")
    ctx, r = ctx_for("director", fake)
    assert install.base_packages(ctx).check(r) == "not installed: git"


def test_wsl_needs_docker_desktop_through_interop() -> None:
    fake = FakeNode().on(r"Docker Desktop.exe", code=1)
    _, r = ctx_for("writer", fake)
    with pytest.raises(ColabError, match="Docker Desktop is not installed on the Windows side of writer"):
        install.docker_desktop_wsl()[1].check(r)
    fake = FakeNode().on(r"docker info", "Debian GNU/Linux 13 (trixie)\n")
    _, r = ctx_for("writer", fake)
    with pytest.raises(ColabError, match="talks to Debian GNU/Linux 13 \\(trixie\\), not Docker Desktop"):
        install.docker_desktop_wsl()[2].check(r)
    fake = FakeNode().on(r"docker info", "Docker Desktop\n")
    _, r = ctx_for("writer", fake)
    assert install.docker_desktop_wsl()[2].check(r) is None


def test_chezmoi_step_states() -> None:
    url = INV.cluster.repo_url
    repo = INV.nodes["director"].repo
    ok_data = json.dumps({"node": "director", "chezmoi": {"workingTree": repo}})
    plain_data = r"^chezmoi --no-tty data --format json$"  # no --source: what a later plain chezmoi reads
    fake = FakeNode().on(r"remote get-url", f"{url}\n").on(plain_data, ok_data)
    ctx, r = ctx_for("director", fake)
    step = dotfiles.applied(ctx)
    assert step.name == f"chezmoi --source {repo} init --apply {url}"
    assert step.check(r) is None
    assert [argv for argv, _, _ in fake.calls] == [
        ["chezmoi", "--no-tty", "--source", repo, "git", "--", "remote", "get-url", "origin"],
        ["chezmoi", "--no-tty", "data", "--format", "json"],
        ["chezmoi", "--no-tty", "--source", repo, "verify"],
    ]
    assert all(env == {"COLAB_NODE": "director"} for argv, env, _ in fake.calls)

    # nothing at the checkout yet: act clones there
    fake = FakeNode().on(r"remote get-url", code=1, err="fatal: not a git repository")
    ctx, r = ctx_for("director", fake)
    assert dotfiles.applied(ctx).check(r) == f"no checkout at {repo} yet"
    assert fake.calls[-1][0] == ["sh", "-c", 'test -e "$1" && ls -A "$1"', "sh", repo]
    # a folder in the way that is no clone: left alone, the step fails with what to do
    fake = FakeNode().on(r"remote get-url", code=1, err="fatal: not a git repository").on(r"ls -A", "notes.txt\n")
    ctx, r = ctx_for("director", fake)
    with pytest.raises(
        ColabError, match=re.escape(f"{repo} on director (nodes.director.repo) is not empty and no clone")
    ):
        dotfiles.applied(ctx).check(r)

    fake = FakeNode().on(r"remote get-url", "https://elsewhere/x.git\n")
    ctx, r = ctx_for("director", fake)
    with pytest.raises(
        ColabError, match=re.escape(f"checkout {repo} on director is a clone of https://elsewhere/x.git")
    ):
        dotfiles.applied(ctx).check(r)

    fake = FakeNode().on(r"remote get-url", f"{url}\n").on(plain_data, json.dumps({"node": "writer"}))
    ctx, r = ctx_for("director", fake)
    assert dotfiles.applied(ctx).check(r) == "chezmoi's config names node 'writer', not 'director'"

    # initialised the old way: the config has no sourceDir, so a plain chezmoi uses its default folder
    default = json.dumps({"node": "director", "chezmoi": {"workingTree": "/home/crtr/.local/share/chezmoi"}})
    fake = FakeNode().on(r"remote get-url", f"{url}\n").on(plain_data, default)
    ctx, r = ctx_for("director", fake)
    assert dotfiles.applied(ctx).check(r) == (
        f"chezmoi's config uses the source /home/crtr/.local/share/chezmoi, not the checkout {repo}"
    )

    fake = FakeNode().on(r"remote get-url", f"{url}\n").on(plain_data, ok_data).on(r"verify", code=1)
    ctx, r = ctx_for("director", fake)
    assert dotfiles.applied(ctx).check(r) == "`chezmoi verify` finds targets that differ from the source (exit 1)"


def test_without_a_repo_url_the_chezmoi_step_says_what_to_set() -> None:
    data = INV.model_dump(mode="json")
    data["cluster"]["repo_url"] = ""
    for table in (*data["nodes"].values(), *data["services"].values()):
        table.pop("name")
    inv = inventory.from_dict(data)
    ctx, r = ctx_for("director", FakeNode(), inv)
    with pytest.raises(ColabError, match=r"^cluster.repo_url is not set in the inventory"):
        dotfiles.applied(ctx).check(r)


def test_verify_lists_the_missing_mise_tasks() -> None:
    listed = json.dumps([{"name": "status"}, {"name": "bootstrap"}])
    ctx, r = ctx_for("cooperator", FakeNode().on(r"mise --cd / tasks ls --json", listed))
    with pytest.raises(ColabError, match=r"^mise tasks missing on cooperator: backup:check, backup:daily"):
        verify.mise_tasks_present(ctx).check(r)
    names = verify.expected_tasks(ctx)
    ctx, r = ctx_for("cooperator", FakeNode().on(r"mise", json.dumps([{"name": n} for n in names])))
    assert verify.mise_tasks_present(ctx).check(r) is None
