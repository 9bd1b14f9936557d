"""Going back to a recorded deployment: its files into the service's folder, then `up` with the image ids it ran.

`automatic`: a deploy whose `up` failed (not healthy within the wait, or Compose refused) brings back the
deployment that ran before it, unless `--no-rollback`. The run still exits 1; the failed version's `ps` and
logs are printed first. When only the pull failed, no container was touched: just the files are put back.
`by_hand` (`inv deploy.rollback --service X`): the newest recorded deployment older than the current one; or,
when what runs is not the current deployment (a failed version kept by `--no-rollback`), the current one.

The compose client reads the recorded compose file from a temporary folder on this machine holding exactly the
recorded files (they hold no secret); relative paths in it resolve against the service's folder on the target,
which holds the same files by then. The recorded file is checked under today's injection first.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console

from colab import lock_holder, secrets
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.steps import Outcome, Report, Status

from . import DEFAULT_WAIT_TIMEOUT, command_lines, prelude, project, store, sync, up
from .output import cause
from .session import Session
from .target import Confirm


def _materialise(files: list[sync.File], folder: Path) -> None:
    for f in files:
        path = folder / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)
        path.chmod(int(f.mode, 8))


def bring_back(
    inv: Inventory, s: Session, dep: store.Deployment, wait_timeout: int, console: Console, *, files_only: bool = False
) -> tuple[bool, str]:
    """Put `dep` back on the target and bring it up; (healthy, what happened)."""
    with tempfile.TemporaryDirectory(prefix="colab-rollback-") as tmp:
        _materialise(dep.files, Path(tmp))
        rs = s.with_files(dep.files, Path(tmp))
        try:
            if not files_only:
                res = rs.local.run(*command_lines.config_cmd(inv, rs.target), env=rs.env, check=False, mutating=False)
                if not res.ok:
                    return False, f"deployment #{dep.id} is not valid under today's injection ({cause(res)})"
                rs.compose_services = res.stdout.split()
            if sync.differences(rs.target, dep.files, rs.node) is not None:
                sync.put(rs.target, dep.files, rs.node)
            if files_only:
                return True, f"the files of deployment #{dep.id} are back (no container was touched)"
            res = up.compose_up(inv, rs, wait_timeout, console, images=dep.images)
        except ColabError as e:
            return False, str(e)
        if not res.ok:
            up.diagnostics(inv, rs, console, f"deployment #{dep.id}")
            return False, f"deployment #{dep.id} did not come up either ({cause(res)})"
    return True, f"deployment #{dep.id} is back and healthy"


def _runs(context: prelude.Context, dep: store.Deployment) -> bool:
    """Whether `dep` is what runs: its files in the service's folder and its images in the containers."""
    return context.found.manifest == sync.manifest(dep.files) and project.images(context.containers) == dep.images


def automatic(
    inv: Inventory,
    s: Session,
    context: prelude.Context,
    wait_timeout: int,
    console: Console,
    *,
    enabled: bool,
    files_only: bool = False,
) -> Outcome:
    """After a failed `up` (or pull): the deployment that ran before, back (see the module docs)."""
    name = f"rollback {s.target.service.name}"
    node = s.node.node
    current = context.current
    if s.local.dry_run:
        return Outcome(node, name, Status.PLANNED, "only if up fails: the running deployment is brought back")
    if current is None:
        return Outcome(node, name, Status.SKIPPED, "nothing recorded to go back to: the failed version stays")
    if not enabled:
        hint = f"inv deploy.rollback --service {s.target.service.name}"
        detail = f"--no-rollback: the failed version stays for debugging; `{hint}` brings back #{current.id}"
        return Outcome(node, name, Status.SKIPPED, detail)
    started = time.monotonic()
    ok, detail = bring_back(inv, s, current, wait_timeout, console, files_only=files_only)
    detail += f" in {time.monotonic() - started:.1f}s"
    return Outcome(node, name, Status.CHANGED if ok else Status.FAILED, detail)


def by_hand(
    inv: Inventory,
    service: str,
    *,
    node: str | None = None,
    yes: bool = False,
    confirm: Confirm | None = None,
    dry_run: bool = False,
    wait: bool = False,
    wait_timeout: int = DEFAULT_WAIT_TIMEOUT,
    console: Console | None = None,
    here: str | None = None,
) -> Report:
    """`inv deploy.rollback`: back one recorded deployment; it becomes the current one when it is healthy."""
    console = console or Console()
    s = Session.open(inv, service, node, here=here, yes=yes, confirm=confirm, dry_run=dry_run, console=console)
    t = s.target
    report = Report(f"rollback {service} on {t.node.name}" + (" (dry run)" if dry_run else ""))
    try:
        secrets.check_present(s.local, inv, t.service.secrets_path, t.service.secrets)
        with prelude.changing(s, "rollback", report, wait=wait, console=console) as context:
            name = f"rollback {service}"
            if dry_run:
                report.outcomes.append(
                    Outcome(s.node.node, name, Status.PLANNED, "to the deployment before the current one")
                )
                return report
            current = context.current
            if current is None:
                raise ColabError(f"no deployment of {t.what} is recorded; nothing to go back to")
            if _runs(context, current):
                previous = context.state.before(current.id)
                if previous is None:
                    raise ColabError(
                        f"deployment #{current.id} is the oldest recorded for {t.what}; nothing to go back to"
                    )
            else:  # a failed version kept by --no-rollback (or changed by hand) runs: back to the recorded one
                previous = current.id
            dep = store.read(s.node, t, previous)
            started = time.monotonic()
            ok, detail = bring_back(inv, s, dep, wait_timeout, console)
            detail += f" in {time.monotonic() - started:.1f}s"
            if not ok:
                report.outcomes.append(
                    Outcome(
                        s.node.node,
                        name,
                        Status.FAILED,
                        f"{detail}; `inv deploy --service {service}` redeploys the current version",
                    )
                )
                return report
            was = f"#{current.id}" if previous != current.id else "an unrecorded version"
            how = f"rollback from {was}"
            store.save(s.node, t, store.Current(dep.id, store.now(), lock_holder.who(), how), None, [])
            report.outcomes.append(Outcome(s.node.node, name, Status.CHANGED, f"{detail} (was {was})"))
    finally:
        s.close()
    return report
