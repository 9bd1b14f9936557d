"""deploy, down and logs: the order of things and what is reported.

deploy, stopping at the first failure:
 1. resolve the target node and its engine (placement enforced);
 2. every required secret name exists at the service's Infisical path (names only);
 3. `docker compose config --services` under the injection, with the compose file from this checkout —
    before anything is written, so a broken file changes nothing (only names are printed: the full config
    holds secrets); then fortress's folders exist on the target (`fortress_check`: nothing, not even the lock,
    is written onto a bare mount point);
 4. `colab.deploy.prelude`: the engine answers, the service's lock on the target, the project is ours, what
    an interrupted run left is repaired, an unrecorded running version is adopted;
 5. the service's files into `<fortress>/docker/<service>` on the target (and its data folder);
 6. the cluster network on the target's engine (`colab.deploy.network`);
 7. [pull, for deploy.pull] `docker compose up -d --wait --wait-timeout N --remove-orphans` with this tool's
    labels; on failure the service's `ps` and last log lines are shown, the deployment that ran before is
    brought back (`colab.deploy.rollback`, unless --no-rollback) and the run fails (exit 1);
 8. once healthy, the deployment is recorded (`colab.deploy.store`) when its files or images changed.
Steps 1-4 are preconditions: a problem there is one line, exit 1, nothing changed.
"""

from __future__ import annotations

from rich.console import Console

from colab import lock_holder, secrets
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.runner import Runner
from colab.steps import Outcome, Report, Status, Step, run_step

from . import (
    DEFAULT_WAIT_TIMEOUT,
    command_lines,
    fortress_check,
    network,
    prelude,
    project,
    rollback,
    running,
    store,
    sync,
    up,
)
from .output import cause, plain
from .session import Session
from .target import Confirm


def preflight(inv: Inventory, s: Session) -> list[str]:
    """Steps 2 and 3: the compose services' names, or ColabError (one line) when the secrets or the compose
    file are not right."""
    svc = s.target.service
    secrets.check_present(s.local, inv, svc.secrets_path, svc.secrets)
    res = s.local.run(*command_lines.config_cmd(inv, s.target), env=s.env, check=False, mutating=False)
    if not res.ok:
        raise ColabError(
            f"{s.target.compose_file} is not valid under the injection ({cause(res)}); fix it (nothing was changed)"
        )
    return res.stdout.split()


def files_step(s: Session, found: sync.Found) -> Step:
    first = [found]  # what the prelude found serves the first check; the verify looks again

    def check(_: Runner) -> str | None:
        return sync.differences(s.target, s.files, s.node, first.pop() if first else None)

    def act(_: Runner) -> None:
        sync.put(s.target, s.files, s.node)

    return Step(f"files {s.target.project_dir}", check, act)


def pull_step(inv: Inventory, s: Session, console: Console) -> Outcome:
    name = f"compose pull {s.target.service.name}"
    with console.status(f"pulling images for {s.target.service.name} …"):
        res = s.local.run(*command_lines.pull_cmd(inv, s.target), env=s.env, check=False)
    if s.local.dry_run:
        return Outcome(s.local.node, name, Status.PLANNED)
    return Outcome(s.local.node, name, Status.OK if res.ok else Status.FAILED, "" if res.ok else cause(res))


def up_step(inv: Inventory, s: Session, wait_timeout: int, console: Console) -> Outcome:
    r = s.local
    name = f"compose up {s.target.service.name}"
    if r.dry_run:
        up.compose_up(inv, s, wait_timeout, console)
        return Outcome(r.node, name, Status.PLANNED, "with this tool's labels (a Compose override on stdin)")
    try:
        before = running.snapshot(up.ps(inv, s))
        res = up.compose_up(inv, s, wait_timeout, console)
        if not res.ok:
            up.diagnostics(inv, s, console)
            return Outcome(r.node, name, Status.FAILED, f"up failed: {cause(res)}")
        after = running.snapshot(up.ps(inv, s))
    except ColabError as e:
        return Outcome(r.node, name, Status.FAILED, str(e))
    what = up.describe(before, after)
    return Outcome(r.node, name, Status.CHANGED if what else Status.OK, what)


def record_step(s: Session, context: prelude.Context, how: str) -> Outcome:
    """Once healthy: a new recorded deployment when files or images differ from the current one."""
    t = s.target
    name = f"record {t.service.name}"
    try:
        images = project.images(project.containers(s.local, t))
        current = context.current
        if current is not None and current.same_as(s.files, images):
            return Outcome(s.node.node, name, Status.OK, f"deployment #{current.id} runs, unchanged")
        new = store.Deployment(context.state.next_id, s.files, images, store.now(), lock_holder.who(), how)
        pointer = store.Current(new.id, new.since, new.by, how)
        store.save(s.node, t, pointer, new, context.state.to_drop(new.id))
    except ColabError as e:
        detail = (
            f"{t.service.name} runs, but this deployment could not be recorded ({e}); a rollback cannot return to it"
        )
        return Outcome(s.node.node, name, Status.WARNING, detail)
    if s.node.dry_run:
        return Outcome(s.node.node, name, Status.PLANNED, "when its files or images changed")
    kept = f"; #{current.id} kept to roll back to" if current is not None else ""
    return Outcome(s.node.node, name, Status.CHANGED, f"deployment #{new.id}{kept}")


def deploy(
    inv: Inventory,
    service: str,
    *,
    node: str | None = None,
    yes: bool = False,
    confirm: Confirm | None = None,
    dry_run: bool = False,
    wait_timeout: int = DEFAULT_WAIT_TIMEOUT,
    pull: bool = False,
    wait: bool = False,
    rollback_on_failure: bool = True,
    console: Console | None = None,
    here: str | None = None,
) -> Report:
    """Deploy `service` (see the module docs for the order). Raises ColabError for failed preconditions."""
    console = console or Console()
    if wait_timeout < 1:
        raise ColabError(f"--wait-timeout must be at least 1 second (got {wait_timeout})")
    s = Session.open(inv, service, node, here=here, yes=yes, confirm=confirm, dry_run=dry_run, console=console)
    t = s.target
    verb = "pull and deploy" if pull else "deploy"
    report = Report(f"{verb} {service} on {t.node.name}" + (" (dry run)" if dry_run else ""))
    if dry_run:
        engine_name = t.docker_host or "the local Docker socket"
        moved = f" (moved from {t.service.node})" if t.moved else ""
        names = ", ".join(f.path for f in s.files)
        for line in (
            f"# {verb} {service} on {t.node.name} via {engine_name}{moved}",
            f"# files for {t.project_dir} on {t.node.name}: {names}",
        ):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    try:
        s.compose_services = preflight(inv, s)
        fortress_check.require_folders(inv, s)  # before the lock: it lives under fortress too
        with prelude.changing(s, "pull" if pull else "deploy", report, wait=wait, console=console) as context:
            files = run_step(files_step(s, context.found), s.node)
            report.outcomes.append(files)
            if files.status == Status.FAILED:
                return report
            net = run_step(network.step(inv, s, on_wait=lambda text: console.print(text, markup=False)), s.local)
            report.outcomes.append(net)
            if net.status == Status.FAILED:
                return report
            if pull:
                pulled = pull_step(inv, s, console)
                report.outcomes.append(pulled)
                if pulled.status == Status.FAILED:
                    if files.status == Status.CHANGED:  # no container was touched: only the files go back
                        report.outcomes.append(
                            rollback.automatic(
                                inv, s, context, wait_timeout, console, enabled=rollback_on_failure, files_only=True
                            )
                        )
                    return report
            outcome = up_step(inv, s, wait_timeout, console)
            report.outcomes.append(outcome)
            if outcome.status == Status.FAILED or dry_run:
                report.outcomes.append(
                    rollback.automatic(inv, s, context, wait_timeout, console, enabled=rollback_on_failure)
                )
            if outcome.status != Status.FAILED:
                report.outcomes.append(record_step(s, context, "pull" if pull else "deploy"))
    finally:
        s.close()
    return report


def down(
    inv: Inventory,
    service: str,
    *,
    node: str | None = None,
    yes: bool = False,
    confirm: Confirm | None = None,
    dry_run: bool = False,
    wait: bool = False,
    console: Console | None = None,
    here: str | None = None,
) -> Report:
    """`docker compose down --remove-orphans` under the injection, holding the lock; data folders are kept.
    A project this tool did not create is refused (never taken down)."""
    console = console or Console()
    s = Session.open(inv, service, node, here=here, yes=yes, confirm=confirm, dry_run=dry_run, console=console)
    report = Report(f"down {service} on {s.target.node.name}" + (" (dry run)" if dry_run else ""))
    name = f"compose down {service}"
    try:
        with prelude.changing(s, "down", report, wait=wait, console=console):
            if dry_run:
                s.local.run(*command_lines.down_cmd(inv, s.target), env=s.env)
                report.outcomes.append(Outcome(s.local.node, name, Status.PLANNED))
                return report
            before = up.ps(inv, s)
            res = s.local.run(*command_lines.down_cmd(inv, s.target), env=s.env, check=False)
            if not res.ok:
                report.outcomes.append(Outcome(s.local.node, name, Status.FAILED, cause(res)))
            elif before:
                removed = ", ".join(c.name for c in before)
                report.outcomes.append(Outcome(s.local.node, name, Status.CHANGED, f"removed {removed}"))
            else:
                report.outcomes.append(Outcome(s.local.node, name, Status.OK, "nothing was running"))
    finally:
        s.close()
    return report


def logs(inv: Inventory, service: str, *, node: str | None = None, tail: int = 100, here: str | None = None) -> str:
    """The service's last `tail` log lines (all containers, with timestamps), without terminal escapes."""
    s = Session.open(inv, service, node, here=here, yes=True)
    try:
        res = s.local.run(*command_lines.logs_cmd(inv, s.target, tail), env=s.env, check=False, mutating=False)
    finally:
        s.close()
    if not res.ok:
        raise ColabError(f"`docker compose logs` failed for {service}: {cause(res)}")
    return plain(res.stdout)
