"""Tasks as lists of steps: check state, act only if needed, verify, report.

A step's `check` returns None when the node is already right, else the reason it must act. After `act`,
`verify` (default: `check` again) must return None, or the step failed. A check that acting cannot fix (a tool
the owner must install) raises `ColabError` with what to do: the step is `failed` and the run stops there.
The first failure stops the run; the report ends with a summary table and an exit code: 0 all good, 1 failed,
2 finished with warnings. A dry run calls only `act`, which prints each command and `note`s what a check
would look at.

The building blocks steps are made of are beside this module: `colab.privilege` (root through `sudo -n`),
`colab.file_steps` (files and folders), `colab.apt` (Debian packages).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from rich.console import Console
from rich.text import Text

from colab.errors import ColabError
from colab.runner import Result, Runner
from colab.tables import Table

Check = Callable[[Runner], str | None]


class Status(StrEnum):
    OK = "ok"
    CHANGED = "changed"
    SKIPPED = "skipped"
    WARNING = "warning"
    FAILED = "failed"
    PLANNED = "planned"


class Skip(Exception):
    """Raised by a check to skip its step, with the reason."""


class Warn(Exception):
    """Raised by an act that finished but with a warning (e.g. rsync exit 24)."""


@dataclass(frozen=True)
class Step:
    name: str
    check: Check
    act: Callable[[Runner], None]
    verify: Check | None = None


def note(r: Runner, text: str) -> None:
    """A comment in a dry-run plan, one `#` line per line of `text` (what a check would look at, a file's
    content); silent otherwise."""
    if not r.dry_run:
        return
    for line in text.splitlines() or [""]:
        r.console.print(Text.assemble((f"[{r.node}] ", "dim"), f"# {line}"), soft_wrap=True, highlight=False)


def probe(r: Runner, script: str, *args: str) -> Result:
    """A read-only shell probe, `sh -c script sh args…` (not printed in a dry run)."""
    return r.run("sh", "-c", script, "sh", *args, check=False, mutating=False)


def requirement(name: str, test: Check, plan: str) -> Step:
    """A check-only step: `test` returns None when met, else the message (cause and fix) it fails with; a dry
    run notes `check: <plan>`."""

    def check(r: Runner) -> str | None:
        problem = test(r)
        if problem:
            raise ColabError(problem)
        return None

    def act(r: Runner) -> None:
        note(r, f"check: {plan}")

    return Step(name, check, act)


@dataclass(frozen=True)
class Outcome:
    node: str
    step: str
    status: Status
    detail: str = ""


@dataclass
class Report:
    title: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        statuses = {o.status for o in self.outcomes}
        if Status.FAILED in statuses:
            return 1
        if Status.WARNING in statuses:
            return 2
        return 0

    @property
    def changed(self) -> int:
        return sum(o.status == Status.CHANGED for o in self.outcomes)

    def to_json(self) -> str:
        return json.dumps(
            {
                "title": self.title,
                "exit_code": self.exit_code,
                "steps": [
                    {"node": o.node, "step": o.step, "status": str(o.status), "detail": o.detail} for o in self.outcomes
                ],
            },
            indent=2,
        )

    def table(self) -> Table:
        colours = {
            Status.OK: "green",
            Status.CHANGED: "yellow",
            Status.SKIPPED: "dim",
            Status.WARNING: "magenta",
            Status.FAILED: "bold red",
            Status.PLANNED: "cyan",
        }
        table = Table(title=self.title, title_justify="left")
        for col in ("node", "step", "status", "detail"):
            table.add_column(col, no_wrap=col == "node", overflow="fold")
        for o in self.outcomes:
            colour = colours[o.status]
            # Step names and details hold inventory values (paths with `[`…`]`): plain text, never markup.
            table.add_row(Text(o.node), Text(o.step), f"[{colour}]{o.status}[/{colour}]", Text(o.detail))
        return table


def run_step(step: Step, runner: Runner) -> Outcome:
    def outcome(status: Status, detail: str = "") -> Outcome:
        return Outcome(runner.node, step.name, status, runner.redact(" ".join(detail.split())))

    if runner.dry_run:
        try:
            step.act(runner)
        except (ColabError, Skip, Warn) as e:
            return outcome(Status.PLANNED, f"plan stops here: {e}")
        return outcome(Status.PLANNED)
    try:
        reason = step.check(runner)
        if reason is None:
            return outcome(Status.OK)
        step.act(runner)
        after = (step.verify or step.check)(runner)
    except Skip as e:
        return outcome(Status.SKIPPED, str(e))
    except Warn as e:
        return outcome(Status.WARNING, str(e))
    except ColabError as e:
        return outcome(Status.FAILED, str(e))
    if after is not None:
        return outcome(Status.FAILED, f"still not right after acting: {after}")
    return outcome(Status.CHANGED, reason)


def run_steps(title: str, steps: Iterable[Step], runner: Runner, report: Report | None = None) -> Report:
    """Run steps in order on one node; after a failure the rest are reported as skipped."""
    report = report or Report(title)
    failed = False
    for step in steps:
        if failed:
            report.outcomes.append(Outcome(runner.node, step.name, Status.SKIPPED, "an earlier step failed"))
            continue
        result = run_step(step, runner)
        report.outcomes.append(result)
        failed = result.status == Status.FAILED
    return report


def print_report(report: Report, console: Console, as_json: bool = False) -> None:
    if as_json:
        console.print_json(report.to_json())
    else:
        console.print(report.table())
