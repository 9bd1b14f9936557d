"""What every verb that changes a service (deploy, pull, rollback, down) does first, in this order:

1. the target's engine answers (before anything is written, also the lock file);
2. the service's lock on the target node (`colab.deploy.lock`), or Busy with who holds it (`--wait` queues);
3. the Compose project is this tool's own, else one line and nothing touched (`colab.deploy.project`);
4. what an interrupted run left is repaired, every time, files changed or not: staging folders beside the
   service's folder (`colab.deploy.sync`), leftover recreate containers (`colab.deploy.project`), cut-off
   record writes (`colab.deploy.store`);
5. a service that runs without a recorded deployment (deployed before records existed) is adopted as one,
   so that the change that follows can be rolled back.
The verb then runs inside the lock, which it keeps until every command it started has ended.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from rich.console import Console

from colab import lock_holder
from colab.steps import Outcome, Report, Status

from . import lock, project, store, sync
from .session import Session


@dataclass
class Context:
    held: lock.Held
    containers: list[project.ProjectContainer]
    found: sync.Found  # the service's folder as it is after recovery
    state: store.State
    current: store.Deployment | None  # the recorded deployment that runs now, if any


def _lock_outcome(s: Session, held: lock.Held) -> Outcome:
    name = f"lock {s.target.service.name}"
    if s.node.dry_run:
        return Outcome(s.node.node, name, Status.PLANNED)
    parts = []
    if held.waited:
        parts.append(f"waited for {held.waited}")
    if held.took_over:
        parts.append(f"took over from {held.took_over}, which did not finish (interrupted)")
    return Outcome(s.node.node, name, Status.OK, "; ".join(parts))


def _recover(
    s: Session, found: sync.Found, containers: list[project.ProjectContainer], state: store.State
) -> list[str]:
    t = s.target
    done = sync.recover(t, s.node) if found.leftovers else []
    done += project.recover(s.local, t, containers)
    done += store.recover(s.node, t, state)
    return done


def _adopt(s: Session, context: Context) -> Outcome | None:
    """Record the version that runs now when nothing is recorded (a service deployed before records)."""
    if context.current is not None or not context.containers or not context.found.manifest:
        return None
    files = sync.fetch(s.target, s.node)
    adopted = store.Deployment(
        context.state.next_id, files, project.images(context.containers), store.now(), lock_holder.who(), "adopted"
    )
    current = store.Current(adopted.id, adopted.since, adopted.by, adopted.how)
    store.save(s.node, s.target, current, adopted, [])
    context.state = store.read_state(s.node, s.target)
    context.current = adopted
    detail = f"the version that ran is now deployment #{adopted.id}, to roll back to"
    return Outcome(s.node.node, f"adopt {s.target.service.name}", Status.CHANGED, detail)


@contextlib.contextmanager
def changing(s: Session, verb: str, report: Report, *, wait: bool, console: Console) -> Iterator[Context]:
    """Steps 1-5 (see the module docs); the block runs holding the lock. Raises ColabError (one line) when
    the engine does not answer, the lock is held (Busy) or the project is someone else's."""
    t = s.target
    project.check_reachable(s.local, t)

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    with lock.hold(s.node, t.state_dir, t.what, verb, wait=wait, on_wait=say) as held:
        report.outcomes.append(_lock_outcome(s, held))
        containers = project.containers(s.local, t)
        project.refuse_foreign(containers, t)
        found = sync.inspect(t, s.node)
        state = store.read_state(s.node, t)
        done = _recover(s, found, containers, state)
        if done:
            containers = project.containers(s.local, t)
            found = sync.inspect(t, s.node)
            state = store.read_state(s.node, t)
        status = Status.PLANNED if s.node.dry_run else Status.CHANGED if done else Status.OK
        report.outcomes.append(Outcome(s.node.node, f"recover {t.service.name}", status, "; ".join(done)))
        current = None
        if state.current is not None and state.current.id in state.ids:
            current = store.read(s.node, t, state.current.id)
        context = Context(held, containers, found, state, current)
        adopted = _adopt(s, context)
        if adopted is not None:
            report.outcomes.append(adopted)
        yield context
