"""`inv rollout [--nodes a,b]`: bring every node to this checkout's commit, one node at a time.

On each node, over the runner (locally on this machine's own node, else SSH to its mesh address, the LAN when
the mesh does not answer), in its checkout `nodes.<node>.repo`:

1. **checkout**: `git -C <repo> fetch`, then `git -C <repo> merge --ff-only <commit>`. Refused, one line and
   nothing changed, when the checkout has uncommitted changes to tracked files, when the commit is not on its
   remote (push it first), when the checkout has commits the target does not (diverged, or ahead);
2. **chezmoi apply** as the node (`COLAB_NODE=<node> chezmoi --source <repo> apply`; `chezmoi verify` first:
   nothing to apply, nothing done);
3. **virtualenv**: `python3 <repo>/scripts/venv` when `--check` says it is not the lock's (bootstrap's step);
4. **redeploy** exactly the services placed on the node whose deploy differs between the commit its services
   were last rolled out at and the new one (`colab.lifecycle.impact`: `git diff --name-only` in their compose
   folders, which hold the rendered edge files too, so a node or a domain that changed redeploys Caddy, Pi-hole,
   Headscale or Prometheus; their inventory entries; what deploy derives from the inventory), each with
   `<repo>/.venv/bin/inv deploy --service NAME --json` on the node, from its own checkout, now at the commit;
5. **recorded**: the commit is written to `<repo>/.git/colab-deployed`, so a run that stopped at a failed deploy
   redeploys from the same base next time instead of finding nothing changed.

The first failure stops the rollout: the nodes after it are reported as not rolled out, and the summary table
says where each node is. An on-demand node that does not answer is skipped and reported; an always-on one that
does not answer is a failure. `--dry-run` prints each node's plan and contacts nothing.
"""

from __future__ import annotations

import json
import posixpath
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from colab import inventory, options
from colab.bootstrap import venv
from colab.bootstrap.context import Ctx, tool
from colab.bootstrap.run import Dial, NodeOffline, route, tcp_dial
from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.lifecycle import impact
from colab.privilege import needs_sudo
from colab.runner import ENV_NODE, Result, Runner, runner_for, this_node
from colab.steps import Outcome, Report, Status, Step, note, probe, run_step
from colab.tables import Table

CONTROLLER = "local"
INVENTORY_FILE = "cluster.toml"  # the inventory in every checkout, read at the old commit for the comparison
MARKER = "colab-deployed"  # in the checkout's git folder: the commit its services were last rolled out at
DEPLOY_TIMEOUT = 900
_SHA = re.compile(r"[0-9a-f]{40}")

Connect = Callable[..., Runner]  # (inv, node, *, dry_run, console, via) -> Runner; runner_for unless a test swaps it


@dataclass
class NodeResult:
    node: str
    result: str  # updated, up to date, skipped, failed, not rolled out
    before: str = ""
    after: str = ""
    detail: str = ""


@dataclass
class Rollout:
    commit: str
    report: Report
    nodes: list[NodeResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.report.exit_code

    def table(self) -> Table:
        colours = {"updated": "yellow", "up to date": "green", "skipped": "dim", "failed": "bold red"}
        table = Table(title=f"rollout of {self.commit[:12]}", title_justify="left")
        for col in ("node", "before", "after", "result", "detail"):
            table.add_column(col, no_wrap=col == "node", overflow="fold")
        for n in self.nodes:
            colour = colours.get(n.result, "magenta")
            table.add_row(Text(n.node), n.before[:12], n.after[:12], f"[{colour}]{n.result}[/{colour}]", Text(n.detail))
        return table

    def to_json(self) -> str:
        data = json.loads(self.report.to_json())
        data["commit"] = self.commit
        data["nodes"] = [n.__dict__ for n in self.nodes]
        return json.dumps(data, indent=2)


# ------------------------------------------------------------------------------------------- choices


def target_commit(given: str | None) -> str:
    """The full commit to roll out: `--commit` (a revision of this checkout, or a full sha), else HEAD here."""
    rev = given or "HEAD"
    res = _local_git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if res.ok and _SHA.fullmatch(res.stdout.strip()):
        return res.stdout.strip()
    if given and _SHA.fullmatch(given):
        return given  # not in this checkout: the nodes' remote may have it (the fetch tells)
    if given:
        raise ColabError(f"--commit {given!r} is not a commit of this checkout; give a revision or a full sha")
    raise ColabError(f"{inventory.REPO_ROOT} is not a git checkout with a commit: run rollout from a clone of the repo")


def _local_git(*args: str) -> Result:
    """git in this checkout; read-only, so it runs in a dry run too (it contacts nothing)."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(inventory.REPO_ROOT), *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return Result(127, "", str(e))
    return Result(proc.returncode, proc.stdout, proc.stderr)


def choose_nodes(inv: Inventory, text: str | None) -> list[Node]:
    """`--nodes a,b` in inventory order; None or "" -> every node."""
    return [inv.nodes[name] for name in options.chosen("--nodes", text, list(inv.nodes), "node")]


# --------------------------------------------------------------------------------------------- steps


def checkout(ctx: Ctx) -> str:
    return posixpath.normpath(ctx.node.repo)


def _git(ctx: Ctx, *args: str) -> list[str]:
    return tool(ctx, "git", "-C", checkout(ctx), *args)


def checkout_step(ctx: Ctx, commit: str, state: dict[str, str]) -> Step:
    repo = checkout(ctx)
    short = commit[:12]

    def check(r: Runner) -> str | None:
        res = r.run(*_git(ctx, "rev-parse", "HEAD"), check=False, mutating=False, timeout=60)
        head = res.stdout.strip()
        if not res.ok or not _SHA.fullmatch(head):
            raise ColabError(
                f"{repo} on {r.node} is no git checkout ({res.last_line}): "
                f"run `inv bootstrap --node {ctx.node.name} --steps chezmoi,venv` first"
            )
        state.setdefault("before", head)
        state["head"] = head
        return None if head == commit else f"at {head[:12]}"

    def act(r: Runner) -> None:
        dirty = r.run(*_git(ctx, "status", "--porcelain", "--untracked-files=no"), check=False, mutating=False)
        if dirty.stdout.strip():
            files = ", ".join(line[3:] for line in dirty.stdout.splitlines()[:3])
            raise ColabError(
                f"{repo} on {r.node} has uncommitted changes ({files}); commit or stash them there "
                f"(git -C {repo} stash), then run again"
            )
        r.run(*_git(ctx, "fetch", "--quiet"), timeout=300)
        if not r.ok(*_git(ctx, "cat-file", "-e", f"{commit}^{{commit}}")):
            raise ColabError(
                f"{short} is not on the remote of {repo} on {r.node} (after a fetch): push it first, then run again"
            )
        head = state.get("head", "HEAD")
        if not r.ok(*_git(ctx, "merge-base", "--is-ancestor", head, commit)):
            if r.ok(*_git(ctx, "merge-base", "--is-ancestor", commit, head)):
                raise ColabError(
                    f"{repo} on {r.node} is ahead of {short} (at {head[:12]}): roll out from a checkout at least "
                    "as new (git pull here), or pass --commit"
                )
            raise ColabError(
                f"{repo} on {r.node} has diverged from {short} (at {head[:12]}, not an ancestor): reconcile it there "
                f"by hand (git -C {repo} log {short}..HEAD), then run again"
            )
        r.run(*_git(ctx, "merge", "--ff-only", "--quiet", commit), timeout=300)

    return Step(f"checkout {repo} at {short}", check, act)


def chezmoi_argv(ctx: Ctx, *args: str) -> list[str]:
    return tool(ctx, "chezmoi", "--no-tty", "--source", checkout(ctx), *args)


def chezmoi_step(ctx: Ctx) -> Step:
    env = {ENV_NODE: ctx.node.name}

    def check(r: Runner) -> str | None:
        res = r.run(*chezmoi_argv(ctx, "verify"), env=env, check=False, mutating=False, timeout=300)
        return None if res.ok else "its files differ from the checkout's (chezmoi verify)"

    def act(r: Runner) -> None:
        r.run(*chezmoi_argv(ctx, "apply"), env=env, timeout=900)

    return Step("chezmoi apply", check, act)


# $1 the checkout; the marker lives in its git folder (wherever that is: a worktree's is elsewhere).
_READ_MARKER = f'd=$(git -C "$1" rev-parse --absolute-git-dir) || exit 1; cat "$d/{MARKER}" 2>/dev/null; exit 0'
# $1 the checkout, $2 the commit; written through a rename.
_RECORD = (
    f'd=$(git -C "$1" rev-parse --absolute-git-dir) || exit 1; '
    f'printf "%s\\n" "$2" > "$d/{MARKER}.tmp" && mv -f "$d/{MARKER}.tmp" "$d/{MARKER}"'
)


def deploy_argv(ctx: Ctx, service: str) -> list[str]:
    return tool(ctx, posixpath.join(venv.venv_dir(ctx), "bin", "inv"), "deploy", "--service", service, "--json")


def _deployed(r: Runner, ctx: Ctx, service: str) -> Outcome:
    name = f"deploy {service}"
    res = r.run(
        *deploy_argv(ctx, service), env={ENV_NODE: ctx.node.name}, cwd=checkout(ctx), check=False,
        timeout=DEPLOY_TIMEOUT,
    )  # fmt: skip
    try:
        data = json.loads(res.stdout)
        steps = data["steps"]
        code = int(data["exit_code"])
    except (ValueError, KeyError, TypeError):
        return Outcome(r.node, name, Status.FAILED, res.last_line)
    changed = [f"{s['step']}: {s['detail']}".rstrip(": ") for s in steps if s.get("status") == "changed"]
    failed = [f"{s['step']}: {s['detail']}".rstrip(": ") for s in steps if s.get("status") == "failed"]
    if code == 1 or (not res.ok and code == 0):
        return Outcome(r.node, name, Status.FAILED, "; ".join(failed) or res.last_line)
    if code == 2:
        return Outcome(r.node, name, Status.WARNING, "; ".join(changed) or "finished with warnings")
    return Outcome(r.node, name, Status.CHANGED if changed else Status.OK, "; ".join(changed))


def _old_inventory(r: Runner, ctx: Ctx, base: str) -> tuple[Inventory | None, str]:
    res = r.run(*_git(ctx, "show", f"{base}:{INVENTORY_FILE}"), check=False, mutating=False, timeout=60)
    if not res.ok:
        return None, f"no {INVENTORY_FILE} at {base[:12]} ({res.last_line})"
    try:
        return inventory.parse(res.stdout, source=f"{INVENTORY_FILE} at {base[:12]}"), ""
    except ColabError as e:
        return None, f"{INVENTORY_FILE} at {base[:12]} does not load with this version ({str(e).splitlines()[0]})"


def services_to_deploy(r: Runner, ctx: Ctx, base: str, commit: str) -> list[impact.Change]:
    """The services of the node that deploy differently at `commit` than at `base` (read on the node)."""
    inv, node = ctx.inv, ctx.node.name
    if base == commit:
        return []
    diff = r.run(*_git(ctx, "diff", "--name-only", base, commit), check=False, mutating=False, timeout=120)
    old, why = _old_inventory(r, ctx, base)
    if not diff.ok or old is None:
        reason = why or f"git diff {base[:12]} {commit[:12]} failed ({diff.last_line})"
        return [impact.Change(s.name, node, f"{reason}: redeployed to be sure") for s in inv.services_on(node)]
    return impact.changes(old, inv, changed_paths=diff.stdout.split(), nodes=[node])


# ---------------------------------------------------------------------------------------------- run


def _node_steps(ctx: Ctx, commit: str, state: dict[str, str]) -> list[Step]:
    return [checkout_step(ctx, commit, state), chezmoi_step(ctx), venv.project_venv(ctx)]


def roll_node(
    inv: Inventory,
    node: Node,
    commit: str,
    report: Report,
    *,
    dry_run: bool,
    console: Console,
    dial: Dial,
    connect: Connect = runner_for,
) -> NodeResult:
    local = node.name == this_node()
    via = "mesh"
    if not local and not dry_run:
        try:
            via = route(node, dial)
        except NodeOffline as e:
            status = Status.SKIPPED if node.on_demand else Status.FAILED
            text = e.reason if node.on_demand else str(e)
            report.outcomes.append(Outcome(node.name, "reach", status, text))
            return NodeResult(node.name, "skipped" if node.on_demand else "failed", detail=text)
    runner = connect(inv, node, dry_run=dry_run, console=console, via=via)
    controller = Runner(CONTROLLER, dry_run=dry_run, console=console)
    with runner, controller:
        ctx = Ctx(inv, node, needs_sudo(runner, node), controller)
        state: dict[str, str] = {}
        if dry_run:
            where = "here" if local else f"over SSH as {node.ssh_user}@{node.mesh} (else its LAN address)"
            note(runner, f"roll {node.name} out to {commit[:12]} {where}, in its checkout {checkout(ctx)}")
            if node.on_demand and not local:
                note(runner, f"{node.name} is on demand: if it does not answer, it is skipped and reported")
        for step in _node_steps(ctx, commit, state):
            outcome = run_step(step, runner)
            report.outcomes.append(outcome)
            if outcome.status == Status.CHANGED:
                state["changed"] = "yes"
            if outcome.status == Status.FAILED:
                return NodeResult(node.name, "failed", state.get("before", ""), state.get("head", ""), outcome.detail)
        if dry_run:
            names = ", ".join(s.name for s in inv.services_on(node.name)) or "none placed there"
            note(runner, f"then redeploy those of its services ({names}) whose deploy differs between its last")
            note(runner, f"  rolled-out commit ({checkout(ctx)}/.git/{MARKER}, else its checkout's) and {commit[:12]}:")
            r_argv = " ".join(deploy_argv(ctx, "NAME"))
            note(runner, f"  `cd {checkout(ctx)} && {ENV_NODE}={node.name} {r_argv}` each, then record {commit[:12]}")
            report.outcomes.append(Outcome(node.name, "redeploy changed services", Status.PLANNED))
            return NodeResult(node.name, "planned")
        return _redeploy(ctx, runner, commit, report, state)


def _redeploy(ctx: Ctx, r: Runner, commit: str, report: Report, state: dict[str, str]) -> NodeResult:
    node = ctx.node.name
    before = state.get("before", "")
    marked = probe(r, _READ_MARKER, checkout(ctx)).stdout.strip()
    base = marked if _SHA.fullmatch(marked) else before
    found = services_to_deploy(r, ctx, base, commit)
    redeployed = 0
    for change in found:
        if change.removed:
            report.outcomes.append(
                Outcome(node, f"deploy {change.service}", Status.WARNING,
                        f"{change.reason} at {commit[:12]}: its containers keep running; "
                        f"stop them there: docker compose -p {change.service} down"),
            )  # fmt: skip
            continue
        outcome = _deployed(r, ctx, change.service)
        outcome = Outcome(outcome.node, outcome.step, outcome.status, _why(change.reason, outcome.detail))
        report.outcomes.append(outcome)
        if outcome.status == Status.FAILED:
            return NodeResult(node, "failed", before, commit, f"deploy {change.service}: {outcome.detail}")
        redeployed += 1
    if marked != commit:
        r.run("sh", "-c", _RECORD, "sh", checkout(ctx), commit, timeout=60)
        report.outcomes.append(Outcome(node, f"recorded {commit[:12]}", Status.CHANGED if found else Status.OK))
    moved = before != commit or "changed" in state
    detail = f"{redeployed} service(s) redeployed" if redeployed else "no service to redeploy"
    return NodeResult(node, "updated" if moved or redeployed else "up to date", before, commit, detail)


def _why(reason: str, detail: str) -> str:
    return f"{detail} ({reason})" if detail else reason


def rollout(
    inv: Inventory,
    *,
    nodes: str | None = None,
    commit: str | None = None,
    dry_run: bool = False,
    console: Console | None = None,
    dial: Dial = tcp_dial,
    connect: Connect = runner_for,
) -> Rollout:
    console = console or Console(stderr=True)
    chosen = choose_nodes(inv, nodes)
    target = target_commit(commit)
    if not commit and _local_git("status", "--porcelain", "--untracked-files=no").stdout.strip():
        console.print(
            f"[yellow]warning[/yellow]: this checkout has uncommitted changes; only {target[:12]} is rolled out",
            highlight=False,
            soft_wrap=True,
        )
    result = Rollout(target, Report(f"rollout of {target[:12]}" + (" (dry run)" if dry_run else "")))
    if dry_run:
        names = ", ".join(n.name for n in chosen)
        console.print(f"# roll out {target[:12]} to {names}, one node at a time; the first failure stops it",
                      markup=False, highlight=False, soft_wrap=True)  # fmt: skip
    failed: str | None = None
    for node in chosen:
        if failed:
            result.report.outcomes.append(Outcome(node.name, "rollout", Status.SKIPPED, f"{failed} failed first"))
            result.nodes.append(NodeResult(node.name, "not rolled out", detail=f"{failed} failed first"))
            continue
        done = roll_node(inv, node, target, result.report, dry_run=dry_run, console=console, dial=dial, connect=connect)
        result.nodes.append(done)
        if done.result == "failed":
            failed = node.name
    return result
