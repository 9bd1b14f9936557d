"""What a bootstrap needs that it cannot do itself, checked before any step acts, all of it in one go.

Without these a run used to stop mid-way, one missing thing per run. Each check is one line (cause and fix);
every one that fails is reported, and then no step runs (`Status.SKIPPED`, "a prerequisite is missing"):

- over SSH: the node accepts this machine's key for its `ssh_user` (bootstrap never types a password);
- privileged commands: `sudo -n true` works for that user (passwordless sudo; never a prompt);
- the mesh group, while the node is not on the mesh yet: the Infisical CLI on this machine (the pre-auth
  key is read here, `colab.bootstrap.mesh`);
- the fortress group: the Infisical CLI on the node, logged in, with the Samba password names
  (`colab.bootstrap.fortress.infisical_ready`, names only);
- the backup group on the backup node, when it dumps databases: the Infisical CLI on the PATH root's backup
  cron uses (its login, root's own, is on the checklist in docs/bootstrap.md: it cannot be checked without
  reading a secret as root).

Checks only read; a dry run prints what each would check and contacts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from colab.bootstrap import fortress, mesh
from colab.bootstrap.context import Ctx
from colab.privilege import SUDO, as_root
from colab.runner import Runner
from colab.steps import Outcome, Report, Status, Step, probe, requirement, run_step

# The PATH scripts/backup-cron gives root (root's mise shims first), where `infisical run` must be found.
ROOT_PATH = (
    "/root/.local/share/mise/shims:/root/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)
SKIPPED = "a prerequisite is missing (see the failed lines above)"


@dataclass(frozen=True)
class Check:
    step: Step
    on_controller: bool = False  # runs on this machine, not on the node


def _ssh(ctx: Ctx) -> Step:
    n = ctx.node

    def test(r: Runner) -> str | None:
        res = r.run("true", check=False, mutating=False, timeout=30)
        if res.ok:
            return None
        return (
            f"{n.ssh_user}@{n.name} did not accept this machine's SSH login ({res.last_line}): give it your key "
            f"(`ssh-copy-id -p {n.ssh_port} {n.ssh_user}@{n.lan}`) and check `ssh -p {n.ssh_port} {n.ssh_user}@{n.lan} "
            "true` works without a password"
        )

    return requirement(f"ssh as {n.ssh_user} with a key", test, f"`true` runs over SSH as {n.ssh_user}")


def _sudo(ctx: Ctx) -> Step:
    user = ctx.node.ssh_user

    def test(r: Runner) -> str | None:
        res = r.run(*SUDO, "true", check=False, mutating=False, timeout=30)
        if res.ok:
            return None
        return (
            f"{user} on {ctx.node.name} has no passwordless sudo ({res.last_line}); bootstrap never prompts: on the "
            f"node run `echo '{user} ALL=(ALL) NOPASSWD: ALL' | sudo tee /etc/sudoers.d/colab` (then "
            "`sudo chmod 0440 /etc/sudoers.d/colab`)"
        )

    return requirement(f"passwordless sudo for {user}", test, "`sudo -n true` succeeds")


def _controller_infisical(ctx: Ctx, node: Runner) -> Step:
    want = str(ctx.node.mesh)

    def test(r: Runner) -> str | None:
        if mesh.mesh_address(node, ctx) == want:
            return None  # already joined: no pre-auth key is read
        found = probe(r, "command -v infisical")
        if found.ok:
            return None
        return (
            "the Infisical CLI is not installed on this machine: the mesh step reads Headscale's pre-auth key "
            f"({ctx.inv.networks.headscale_key_name} at {ctx.inv.networks.headscale_key_path}) here; install it "
            "(infisical.com/docs/cli/overview) and log in (`infisical login`), then run again"
        )

    return requirement("infisical on this machine (pre-auth key)", test, "`infisical` is on PATH here")


def _root_infisical(ctx: Ctx) -> Step:
    def test(r: Runner) -> str | None:
        argv = as_root(ctx.sudo, "env", f"PATH={ROOT_PATH}", "sh", "-c", "command -v infisical")
        if r.run(*argv, check=False, mutating=False).ok:
            return None
        return (
            f"root on {ctx.node.name} has no Infisical CLI on the backup cron's PATH: the nightly database dumps "
            "run `infisical run` as root; install it for root and log in as root (`sudo infisical login`, or a "
            "machine identity's token in root's environment), then run again"
        )

    return requirement("infisical for root (database dumps)", test, "`infisical` is on root's backup PATH")


def checks(ctx: Ctx, node: Runner, chosen: Sequence[str], remote: bool) -> list[Check]:
    out: list[Check] = []
    if remote:
        out.append(Check(_ssh(ctx)))
    if ctx.sudo:
        out.append(Check(_sudo(ctx)))
    if "mesh" in chosen:
        out.append(Check(_controller_infisical(ctx, node), on_controller=True))
    if "fortress" in chosen:
        out.append(Check(fortress.infisical_ready(ctx)))
    dumps = any(s.databases for s in ctx.inv.services.values())
    if "backup" in chosen and ctx.node.name == ctx.inv.backup.node and dumps:
        out.append(Check(_root_infisical(ctx)))
    return out


def run(ctx: Ctx, node: Runner, chosen: Sequence[str], remote: bool, report: Report) -> bool:
    """Run every check (the node's after SSH only if SSH works), add their outcomes; True when all are met."""
    ok = True
    for i, check in enumerate(checks(ctx, node, chosen, remote)):
        runner = ctx.controller if check.on_controller else node
        outcome = run_step(Step(f"prerequisite: {check.step.name}", check.step.check, check.step.act), runner)
        report.outcomes.append(outcome)
        if outcome.status == Status.FAILED:
            ok = False
            if remote and i == 0:  # no SSH: nothing else on the node can be checked
                report.outcomes.append(Outcome(node.node, "prerequisite: the others", Status.SKIPPED, "no SSH"))
                break
    return ok
