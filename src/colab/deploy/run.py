"""deploy, down and logs: the order of things and what is reported.

deploy, stopping at the first failure:
 1. resolve the target node and its engine (placement enforced);
 2. every required secret name exists at the service's Infisical path (names only);
 3. `docker compose config -q` under the injection, with the compose file from this checkout — before
    anything is written, so a broken file changes nothing (its output is never printed: it holds secrets);
 4. the service's files into `<fortress>/docker/<service>` on the target (and its data folder);
 5. the cluster network on the target's engine;
 6. [pull, for deploy.pull] `docker compose up -d --wait --wait-timeout N --remove-orphans`; on failure the
    service's `ps` and last log lines are shown and the run fails (exit 1);
 7. changed / ok: `up` counts as changed when a container was created, recreated, started or removed
    (container ids and states before and after).
Steps 1-3 are preconditions: a problem there is one line, exit 1, nothing changed.
"""

from __future__ import annotations

from rich.console import Console

from colab import secrets
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.runner import Result, Runner
from colab.steps import Outcome, Report, Status, Step, run_step

from . import plan, status, sync
from .session import Session
from .target import Confirm

DEFAULT_WAIT_TIMEOUT = 180


def _last_line(res: Result) -> str:
    lines = (res.stderr.strip() or res.stdout.strip()).splitlines()
    return lines[-1] if lines else f"exit {res.returncode}"


def preflight(inv: Inventory, s: Session) -> None:
    """Steps 2 and 3: raise ColabError (one line) when the secrets or the compose file are not right."""
    svc = s.target.service
    secrets.check_present(s.local, inv, svc.secrets_path, svc.secrets)
    res = s.local.run(*plan.config_cmd(inv, s.target), env=s.env, check=False, mutating=False)
    if not res.ok:
        raise ColabError(
            f"{s.target.compose_file} is not valid under the injection ({_last_line(res)}); "
            "fix it (nothing was changed)"
        )


def files_step(s: Session) -> Step:
    def check(_: Runner) -> str | None:
        return sync.differences(s.target, s.files, s.node)

    def act(_: Runner) -> None:
        sync.put(s.target, s.files, s.node)

    return Step(f"files {s.target.project_dir}", check, act)


def network_step(inv: Inventory, s: Session) -> Step:
    engine = plan.engine_env(s.target)

    def check(r: Runner) -> str | None:
        ok = r.run(*plan.network_inspect_cmd(inv), env=engine, check=False, mutating=False).ok
        return None if ok else f"network {inv.docker.cluster_network} is missing"

    def act(r: Runner) -> None:
        r.run(*plan.network_create_cmd(inv), env=engine)

    return Step(f"network {inv.docker.cluster_network}", check, act)


def _ps(inv: Inventory, s: Session) -> list[status.Container]:
    res = s.local.run(*plan.ps_json_cmd(inv, s.target), env=s.env, check=False, mutating=False)
    if not res.ok:
        raise ColabError(f"`docker compose ps` failed for {s.target.service.name}: {_last_line(res)}")
    return status.parse_ps(res.stdout)


def _diagnostics(inv: Inventory, s: Session, console: Console) -> None:
    """The service's `ps` and last log lines, after a failed `up`."""
    for title, argv in (
        ("docker compose ps -a", plan.ps_table_cmd(inv, s.target)),
        (f"last {plan.DIAGNOSTIC_LOG_LINES} log lines", plan.logs_cmd(inv, s.target)),
    ):
        res = s.local.run(*argv, env=s.env, check=False, mutating=False)
        console.rule(f"{s.target.service.name}: {title}", style="red")
        console.print(res.stdout.rstrip() or res.stderr.rstrip(), markup=False, highlight=False, soft_wrap=True)


def _describe(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> str:
    parts = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            parts.append(f"{name} created")
        elif name not in after:
            parts.append(f"{name} removed")
        elif before[name][0] != after[name][0]:
            parts.append(f"{name} recreated")
        elif before[name][1] != after[name][1]:
            parts.append(f"{name} {before[name][1]} → {after[name][1]}")
    return ", ".join(parts)


def up(inv: Inventory, s: Session, wait_timeout: int, pull: bool, console: Console) -> Outcome:
    r = s.local
    name = f"compose up {s.target.service.name}"
    if r.dry_run:
        if pull:
            r.run(*plan.pull_cmd(inv, s.target), env=s.env)
        r.run(*plan.up_cmd(inv, s.target, wait_timeout), env=s.env)
        return Outcome(r.node, name, Status.PLANNED)
    try:
        before = status.snapshot(_ps(inv, s))
        if pull:
            with console.status(f"pulling images for {s.target.service.name} …"):
                res = r.run(*plan.pull_cmd(inv, s.target), env=s.env, check=False)
            if not res.ok:
                return Outcome(r.node, name, Status.FAILED, f"pull failed: {_last_line(res)}")
        where = s.target.node.name
        with console.status(f"compose up {s.target.service.name} on {where} (health checks, ≤ {wait_timeout}s) …"):
            res = r.run(*plan.up_cmd(inv, s.target, wait_timeout), env=s.env, check=False)
        if not res.ok:
            _diagnostics(inv, s, console)
            return Outcome(r.node, name, Status.FAILED, f"up failed: {_last_line(res)}")
        after = status.snapshot(_ps(inv, s))
    except ColabError as e:
        return Outcome(r.node, name, Status.FAILED, str(e))
    what = _describe(before, after)
    return Outcome(r.node, name, Status.CHANGED if what else Status.OK, what)


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
        engine = t.docker_host or "the local Docker socket"
        console.print(
            f"# {verb} {service} on {t.node.name} via {engine}"
            + (f" (moved from {t.service.node})" if t.moved else ""),
            markup=False,
            highlight=False,
        )
        names = ", ".join(f.path for f in s.files)
        console.print(f"# files for {t.project_dir} on {t.node.name}: {names}", markup=False, highlight=False)
    try:
        preflight(inv, s)
        for step, runner in ((files_step(s), s.node), (network_step(inv, s), s.local)):
            outcome = run_step(step, runner)
            report.outcomes.append(outcome)
            if outcome.status == Status.FAILED:
                return report
        report.outcomes.append(up(inv, s, wait_timeout, pull, console))
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
    console: Console | None = None,
    here: str | None = None,
) -> Report:
    """`docker compose down --remove-orphans` under the injection; data folders are kept."""
    console = console or Console()
    s = Session.open(inv, service, node, here=here, yes=yes, confirm=confirm, dry_run=dry_run, console=console)
    report = Report(f"down {service} on {s.target.node.name}" + (" (dry run)" if dry_run else ""))
    name = f"compose down {service}"
    try:
        if dry_run:
            s.local.run(*plan.down_cmd(inv, s.target), env=s.env)
            report.outcomes.append(Outcome(s.local.node, name, Status.PLANNED))
            return report
        before = _ps(inv, s)
        res = s.local.run(*plan.down_cmd(inv, s.target), env=s.env, check=False)
        if not res.ok:
            report.outcomes.append(Outcome(s.local.node, name, Status.FAILED, _last_line(res)))
        elif before:
            removed = ", ".join(c.name for c in before)
            report.outcomes.append(Outcome(s.local.node, name, Status.CHANGED, f"removed {removed}"))
        else:
            report.outcomes.append(Outcome(s.local.node, name, Status.OK, "nothing was running"))
    finally:
        s.close()
    return report


def logs(inv: Inventory, service: str, *, node: str | None = None, tail: int = 100, here: str | None = None) -> str:
    """The service's last `tail` log lines (all containers, with timestamps)."""
    s = Session.open(inv, service, node, here=here, yes=True)
    try:
        res = s.local.run(*plan.logs_cmd(inv, s.target, tail), env=s.env, check=False, mutating=False)
    finally:
        s.close()
    if not res.ok:
        raise ColabError(f"`docker compose logs` failed for {service}: {_last_line(res)}")
    return res.stdout
