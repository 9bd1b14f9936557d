"""`inv rollout` besides its cases (tests/unit/lifecycle/cases/rollout*.txt: the dry-run plan of every node, and runs
against fake nodes: the exact git commands, the services redeployed, the record that makes a second run change
nothing, the first failure stopping it, nodes that do not answer): an inventory change redeploys exactly that
service, the refusals (uncommitted changes, diverged, ahead, commit not pushed), the choice of nodes and commit."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping

import pytest
from rich.console import Console

from colab import inventory
from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.lifecycle import rollout
from colab.runner import Result, Runner
from tests.unit.lifecycle.fakes import ROOT, FakeNode, inventory_text

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


def test_nodes_are_rolled_out_in_inventory_order_and_unknown_ones_refused() -> None:
    inv = inventory.load(ROOT / "cluster.toml")
    assert [n.name for n in rollout.choose_nodes(inv, "terminator, director")] == ["director", "terminator"]
    assert [n.name for n in rollout.choose_nodes(inv, None)] == list(inv.nodes)
    with pytest.raises(ColabError, match=r"^unknown node\(s\) nope in --nodes; choose from cooperator, director"):
        rollout.choose_nodes(inv, "director,nope")
    with pytest.raises(ColabError, match=r"^--nodes ',,' names no node; e\.g\. --nodes cooperator,director, or leave"):
        rollout.choose_nodes(inv, ",,")
    with pytest.raises(ColabError, match=r"^--commit 'nope' is not a commit of this checkout"):
        rollout.target_commit("nope")
    assert rollout.target_commit(B) == B  # a full sha this checkout lacks: the nodes' remote may have it
