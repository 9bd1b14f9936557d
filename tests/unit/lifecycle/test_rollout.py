"""`inv rollout`: the dry-run plan of every node of the default inventory (fixture), and what a run does against
fake nodes: the exact git commands, the refusals (uncommitted changes, diverged, ahead, commit not pushed), which
services are redeployed (exactly those whose files or inventory entry changed), the record that makes a second
run change nothing, and the first failure stopping the rollout with a summary."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.lifecycle import rollout
from colab.runner import Result, Runner
from colab.steps import Status
from tests.unit.lifecycle.fakes import ROOT, FakeNode, inventory_text

FIXTURES = Path(__file__).parent / "fixtures"
A = "a" * 40
B = "b" * 40
REPO = "/home/crtr/colab"
TWO = {
    "alpha": {"node": "director", "compose": "compose/gitea", "secrets": ["GITEA_DB_PASSWORD"]},
    "beta": {"node": "director", "compose": "compose/mcp-files", "port": 8765},
}


@pytest.fixture(autouse=True)
def _controller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLAB_NODE", "controller")  # no node is "here": every node is reached over its runner


def behind(head: str = A, *, deploy: Mapping[str, tuple[int, str]] | None = None) -> FakeNode:
    """A node whose checkout is at `head`, clean, fetches `B`, applies and installs fine."""
    state = {"head": head, "applied": False}
    fake = FakeNode()

    def rev_parse(argv: list[str], env: Mapping[str, str], stdin: bytes | None) -> Result:
        return Result(0, state["head"] + "\n")  # type: ignore[operator]

    def merge(argv: list[str], env: Mapping[str, str], stdin: bytes | None) -> Result:
        state["head"] = argv[-1]
        return Result(0)

    def verify(argv: list[str], env: Mapping[str, str], stdin: bytes | None) -> Result:
        return Result(0 if state["applied"] else 1)

    def apply(argv: list[str], env: Mapping[str, str], stdin: bytes | None) -> Result:
        state["applied"] = True
        return Result(0)

    fake.answer(r"git -C \S+ rev-parse HEAD", rev_parse).answer(r"merge --ff-only", merge)
    fake.answer(r"chezmoi .* verify", verify).answer(r"chezmoi .* apply", apply)
    fake.on(r"git -C \S+ diff --name-only", "")
    fake.on(r"git -C \S+ show \S+:cluster.toml", inventory_text(TWO))
    for service, (code, out) in (deploy or {}).items():
        fake.on(rf"inv deploy --service {service} --json", out, code, "error: deploy failed" if code else "")
    return fake


def report_json(*steps: tuple[str, str, str], code: int = 0) -> str:
    rows = [{"node": "director", "step": s, "status": st, "detail": d} for s, st, d in steps]
    return json.dumps({"title": "deploy", "exit_code": code, "steps": rows})


def run(
    inv: Inventory,
    fakes: dict[str, FakeNode],
    nodes: str,
    *,
    up: set[str] | None = None,
    dry_run: bool = False,
) -> tuple[rollout.Rollout, str]:
    buf = io.StringIO()
    console = Console(file=buf, width=10000)

    def connect(inv: Inventory, node: Node, *, dry_run: bool, console: Console, via: str) -> Runner:
        return Runner(node.name, transport_factory=lambda: fakes[node.name], dry_run=dry_run, console=console)

    reachable = up if up is not None else set(fakes)

    def dial(host: str, port: int, timeout: float) -> bool:
        return any(str(n.mesh) == host or str(n.lan) == host for n in inv.nodes.values() if n.name in reachable)

    result = rollout.rollout(inv, nodes=nodes, commit=B, dry_run=dry_run, console=console, dial=dial, connect=connect)
    return result, buf.getvalue()


def statuses(result: rollout.Rollout) -> list[tuple[str, str, str]]:
    return [(o.node, o.step, str(o.status)) for o in result.report.outcomes]


def test_dry_run_plan_for_every_node_is_exactly_the_fixture() -> None:
    env = {**os.environ, "COLAB_NODE": "controller", "COLUMNS": "10000"}
    env.pop("COLAB_INVENTORY", None)
    res = subprocess.run(["inv", "rollout", "--dry-run", "--commit", B], cwd=ROOT, env=env, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stdout.splitlines() if line.startswith(("[", "#"))]
    assert lines == (FIXTURES / "rollout-plan.txt").read_text().splitlines()
    assert "planned" in res.stdout and "failed" not in res.stdout


def test_a_node_behind_is_fast_forwarded_applied_and_only_its_changed_service_redeployed() -> None:
    inv = inventory.parse(inventory_text(TWO))
    done = report_json(("files", "changed", "1 file(s) differ"), ("compose up", "changed", "app recreated"))
    fake = behind(deploy={"alpha": (0, done)})
    fake.on(r"git -C \S+ diff --name-only", "compose/gitea/compose.yaml\nREADME.md\n")
    result, _ = run(inv, {"director": fake}, "director")
    assert result.exit_code == 0, statuses(result)
    git = [c for c in fake.commands() if c.startswith("git ")]
    assert git == [
        f"git -C {REPO} rev-parse HEAD",
        f"git -C {REPO} status --porcelain --untracked-files=no",
        f"git -C {REPO} fetch --quiet",
        f"git -C {REPO} cat-file -e {B}^{{commit}}",
        f"git -C {REPO} merge-base --is-ancestor {A} {B}",
        f"git -C {REPO} merge --ff-only --quiet {B}",
        f"git -C {REPO} rev-parse HEAD",
        f"git -C {REPO} diff --name-only {A} {B}",
        f"git -C {REPO} show {A}:cluster.toml",
    ]
    deploys = [(argv, env, cwd) for argv, env, _, cwd in fake.calls if "deploy" in argv]
    assert deploys == [([f"{REPO}/.venv/bin/inv", "deploy", "--service", "alpha", "--json"],
                        {"COLAB_NODE": "director"}, REPO)]  # fmt: skip
    assert statuses(result) == [
        ("director", f"checkout {REPO} at {B[:12]}", "changed"),
        ("director", "chezmoi apply", "changed"),
        ("director", f"virtualenv {REPO}/.venv (from {REPO}/uv.lock)", "ok"),
        ("director", "deploy alpha", "changed"),
        ("director", f"recorded {B[:12]}", "changed"),
    ]
    detail = result.report.outcomes[3].detail
    assert detail == "files: 1 file(s) differ; compose up: app recreated (compose/gitea/compose.yaml changed)"
    recorded = next(argv for argv, *_ in fake.calls if argv[-1] == B and argv[0] == "sh")
    assert recorded[-2] == REPO and "colab-deployed" in recorded[2]
    (node,) = result.nodes
    assert (node.result, node.before, node.after) == ("updated", A, B)


def test_an_inventory_change_redeploys_that_service_and_a_removed_one_is_a_warning() -> None:
    new = dict(TWO)
    new["beta"] = {**TWO["beta"], "port": 8766}
    del new["alpha"]
    inv = inventory.parse(inventory_text(new))
    fake = behind(deploy={"beta": (0, report_json(("compose up", "ok", "")))})
    result, _ = run(inv, {"director": fake}, "director")
    assert result.exit_code == 2
    got = {o.step: (str(o.status), o.detail) for o in result.report.outcomes if o.step.startswith("deploy")}
    assert got["deploy beta"][0] == "ok"
    assert "its inventory entry changed (port)" in got["deploy beta"][1] and "COLAB_PORT" in got["deploy beta"][1]
    assert got["deploy alpha"][0] == "warning" and "removed from the inventory" in got["deploy alpha"][1]
    assert [argv[3] for argv, *_ in fake.calls if "deploy" in argv] == ["beta"]


def test_a_second_run_changes_nothing() -> None:
    inv = inventory.parse(inventory_text(TWO))
    fake = behind(head=B)
    fake.answer(r"chezmoi .* verify", lambda a, e, s: Result(0))
    fake.on(r"colab-deployed\"? 2>/dev/null", B + "\n")
    result, _ = run(inv, {"director": fake}, "director")
    assert result.exit_code == 0
    assert {status for *_, status in statuses(result)} == {"ok"}
    assert not [c for c in fake.commands() if "fetch" in c or "merge" in c or "apply" in c or "inv deploy" in c]
    assert result.nodes[0].result == "up to date"


def test_a_failed_deploy_is_redone_from_the_same_base_next_time() -> None:
    inv = inventory.parse(inventory_text(TWO))
    fake = behind(head=B)  # the checkout moved already, the last run stopped at the deploy: no record of B
    fake.answer(r"chezmoi .* verify", lambda a, e, s: Result(0))
    fake.on(r"colab-deployed\"? 2>/dev/null", A + "\n")
    fake.on(r"git -C \S+ diff --name-only", "compose/mcp-files/compose.yaml\n")
    fake.on(r"inv deploy --service beta", "", 1, "error: missing secret(s) X at Infisical path /beta (env prod)")
    result, _ = run(inv, {"director": fake}, "director")
    assert result.exit_code == 1
    assert f"git -C {REPO} diff --name-only {A} {B}" in fake.commands()  # from the recorded base, not from HEAD
    last = result.report.outcomes[-1]
    assert (last.step, str(last.status)) == ("deploy beta", "failed")
    assert last.detail.startswith("error: missing secret(s) X at Infisical path /beta")
    assert not [c for c in fake.commands() if c.startswith("sh -c") and B in c]  # nothing recorded


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({r"status --porcelain": " M compose/x/compose.yaml\n"}, f"{REPO} on director has uncommitted changes "
                                                                  "(compose/x/compose.yaml); commit or stash them"),
        ({r"cat-file -e": None}, f"{B[:12]} is not on the remote of {REPO} on director (after a fetch): push it first"),
        ({r"merge-base --is-ancestor a+ b+": None, r"merge-base --is-ancestor b+ a+": None},
         f"{REPO} on director has diverged from {B[:12]} (at {A[:12]}, not an ancestor): reconcile it there"),
        ({r"merge-base --is-ancestor a+ b+": None}, f"{REPO} on director is ahead of {B[:12]} (at {A[:12]})"),
    ],
)  # fmt: skip
def test_a_checkout_that_cannot_fast_forward_is_refused_in_one_line(rules: dict[str, str | None], message: str) -> None:
    inv = inventory.parse(inventory_text(TWO))
    fake = behind()
    for pattern, out in rules.items():
        fake.on(pattern, out or "", 0 if out else 1)
    result, _ = run(inv, {"director": fake, "writer": FakeNode()}, "director,writer")
    assert result.exit_code == 1
    failed = result.report.outcomes[0]
    assert (failed.step, str(failed.status)) == (f"checkout {REPO} at {B[:12]}", "failed")
    assert failed.detail.startswith(message) and "\n" not in failed.detail
    assert not [c for c in fake.commands() if "merge --ff-only" in c or "chezmoi" in c]
    assert [(n.node, n.result) for n in result.nodes] == [("director", "failed"), ("writer", "not rolled out")]
    assert FakeNode().calls == [] and result.report.outcomes[-1].detail == "director failed first"


def test_the_first_failure_stops_the_rollout_with_a_summary() -> None:
    inv = inventory.parse(inventory_text(TWO))
    good, broken, after = behind(), behind(), behind()
    broken.on(r"chezmoi .* apply", "", 1, "chezmoi: open /home/crtr/.config/colab/env.sh: permission denied")
    result, _ = run(inv, {"director": good, "writer": broken, "projector": after}, "director,writer,projector")
    assert result.exit_code == 1
    assert [(n.node, n.result) for n in result.nodes] == [
        ("director", "updated"), ("writer", "failed"), ("projector", "not rolled out"),
    ]  # fmt: skip
    assert "permission denied" in result.nodes[1].detail
    assert result.nodes[1].before == A and result.nodes[1].after == B  # its checkout moved; the apply failed
    assert after.calls == []
    assert result.report.outcomes[-1] == rollout.Outcome("projector", "rollout", Status.SKIPPED, "writer failed first")
    shown = io.StringIO()
    Console(file=shown, width=300).print(result.table())
    assert "not rolled out" in shown.getvalue() and "failed" in shown.getvalue()


def test_an_on_demand_node_that_is_off_is_skipped_and_the_rollout_goes_on() -> None:
    inv = inventory.parse(inventory_text(TWO))
    fakes = {"director": behind(), "projector": FakeNode(), "terminator": behind()}
    result, _ = run(inv, fakes, "director,projector,terminator", up={"director", "terminator"})
    assert result.exit_code == 0
    assert [(n.node, n.result) for n in result.nodes] == [
        ("director", "updated"), ("projector", "skipped"), ("terminator", "updated"),
    ]  # fmt: skip
    assert result.nodes[1].detail.startswith("projector is on demand and offline: nothing answers on 127.0.20.7:22")
    assert fakes["projector"].calls == []


def test_nodes_are_rolled_out_in_inventory_order_and_unknown_ones_refused() -> None:
    inv = inventory.load(ROOT / "cluster.toml")
    assert [n.name for n in rollout.choose_nodes(inv, "terminator, director")] == ["director", "terminator"]
    assert [n.name for n in rollout.choose_nodes(inv, None)] == list(inv.nodes)
    with pytest.raises(ColabError, match=r"^unknown node\(s\) nope in --nodes; known nodes: cooperator, director"):
        rollout.choose_nodes(inv, "director,nope")
    with pytest.raises(ColabError, match=r"^--commit 'nope' is not a commit of this checkout"):
        rollout.target_commit("nope")
    assert rollout.target_commit(B) == B  # a full sha this checkout lacks: the nodes' remote may have it


def test_an_always_on_node_that_does_not_answer_fails_the_rollout() -> None:
    inv = inventory.parse(inventory_text(TWO))
    result, _ = run(inv, {"director": FakeNode(), "writer": FakeNode()}, "director,writer", up=set())
    assert result.exit_code == 1
    first = result.report.outcomes[0]
    assert (first.step, str(first.status)) == ("reach", "failed")
    assert first.detail.startswith("director does not answer on 127.0.20.2:22 (mesh) or 127.0.10.20:22 (LAN)")
    assert [n.result for n in result.nodes] == ["failed", "not rolled out"]


def test_an_old_inventory_that_no_longer_loads_redeploys_every_service_of_the_node() -> None:
    inv = inventory.parse(inventory_text(TWO))
    ok = report_json(("compose up", "ok", ""))
    fake = behind(deploy={"alpha": (0, ok), "beta": (0, ok)})
    fake.on(r"show \S+:cluster.toml", "[fortress]\nuser = 'crtr'\n")
    result, _ = run(inv, {"director": fake}, "director")
    assert result.exit_code == 0
    deployed = [o for o in result.report.outcomes if o.step.startswith("deploy")]
    assert [o.step for o in deployed] == ["deploy alpha", "deploy beta"]
    assert all("does not load with this version" in o.detail and "redeployed to be sure" in o.detail for o in deployed)
    assert Status.FAILED not in {o.status for o in result.report.outcomes}
