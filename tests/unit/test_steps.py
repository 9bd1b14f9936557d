"""Steps: check -> act -> verify, statuses, stop at first failure, exit codes, summary."""

from __future__ import annotations

import io
import json

from rich.console import Console

from colab.errors import ColabError
from colab.runner import Runner
from colab.steps import Report, Skip, Status, Step, Warn, note, print_report, probe, requirement, run_steps


def fake_step(name: str, state: dict[str, bool], *, fix: bool = True, raise_in_act: Exception | None = None) -> Step:
    def check(r: Runner) -> str | None:
        return None if state.get(name) else f"{name} is missing"

    def act(r: Runner) -> None:
        r.run("echo", f"fixing {name}")
        if raise_in_act is not None:
            raise raise_in_act
        if fix:
            state[name] = True

    return Step(name, check, act)


def runner(dry_run: bool = False) -> Runner:
    return Runner("n1", dry_run=dry_run, console=Console(file=io.StringIO()))


def statuses(report: Report) -> list[tuple[str, str]]:
    return [(o.step, str(o.status)) for o in report.outcomes]


def test_first_run_changes_second_run_is_ok() -> None:
    state: dict[str, bool] = {"b": True}
    steps = [fake_step("a", state), fake_step("b", state)]
    first = run_steps("t", steps, runner())
    assert statuses(first) == [("a", "changed"), ("b", "ok")]
    assert first.outcomes[0].detail == "a is missing" and first.exit_code == 0
    second = run_steps("t", steps, runner())
    assert statuses(second) == [("a", "ok"), ("b", "ok")] and second.changed == 0


def test_act_that_does_not_converge_fails_and_stops_the_run() -> None:
    state: dict[str, bool] = {}
    report = run_steps("t", [fake_step("a", state, fix=False), fake_step("b", state)], runner())
    assert statuses(report) == [("a", "failed"), ("b", "skipped")]
    assert report.outcomes[0].detail == "still not right after acting: a is missing"
    assert report.outcomes[1].detail == "an earlier step failed"
    assert report.exit_code == 1


def test_user_error_in_act_is_a_failed_step_with_its_message() -> None:
    report = run_steps(
        "t", [fake_step("a", {}, raise_in_act=ColabError("disk is mounted; unmount it first"))], runner()
    )
    assert statuses(report) == [("a", "failed")] and report.outcomes[0].detail == "disk is mounted; unmount it first"


def test_warning_gives_exit_2_and_skip_gives_0() -> None:
    warn = run_steps("t", [fake_step("a", {}, raise_in_act=Warn("rsync exit 24: files vanished"))], runner())
    assert statuses(warn) == [("a", "warning")] and warn.exit_code == 2

    def skipping(r: Runner) -> str | None:
        raise Skip("node is on demand and off")

    skip = run_steps("t", [Step("s", skipping, lambda r: None)], runner())
    assert statuses(skip) == [("s", "skipped")] and skip.exit_code == 0


def test_dry_run_plans_every_step_without_checking() -> None:
    checked: list[str] = []

    def check(r: Runner) -> str | None:
        checked.append("x")
        return "x"

    r = runner(dry_run=True)
    report = run_steps("t", [Step("a", check, lambda r: r.run("rm", "-rf", "/tmp/x")), fake_step("b", {})], r)
    assert statuses(report) == [("a", "planned"), ("b", "planned")]
    assert checked == [] and r.history == ["rm -rf /tmp/x", "echo 'fixing b'"]


def test_summary_table_and_json() -> None:
    report = run_steps("Bootstrap n1", [fake_step("a", {})], runner())
    buf = io.StringIO()
    print_report(report, Console(file=buf, width=120))
    assert "Bootstrap n1" in buf.getvalue() and "changed" in buf.getvalue()
    data = json.loads(report.to_json())
    assert data == {
        "title": "Bootstrap n1",
        "exit_code": 0,
        "steps": [{"node": "n1", "step": "a", "status": "changed", "detail": "a is missing"}],
    }
    assert Status("ok") is Status.OK


def test_note_prints_each_line_as_a_comment_in_a_dry_run_only() -> None:
    out = io.StringIO()
    planned = Runner("n1", dry_run=True, console=Console(file=out, width=200))
    note(planned, "check: a\n  | two")
    note(planned, "")
    assert out.getvalue().splitlines() == ["[n1] # check: a", "[n1] #   | two", "[n1] # "]
    quiet = io.StringIO()
    note(Runner("n1", console=Console(file=quiet)), "nothing")
    assert quiet.getvalue() == ""


def test_a_requirement_fails_with_its_message_and_plans_its_check() -> None:
    met: dict[str, str | None] = {"problem": "tool X is missing on n1: install it, then run again"}
    step = requirement("tool X", lambda r: met["problem"], "`X --version` answers")
    report = run_steps("t", [step], runner())
    assert (report.outcomes[0].status, report.outcomes[0].detail) == (Status.FAILED, met["problem"])
    met["problem"] = None
    assert run_steps("t", [step], runner()).outcomes[0].status == Status.OK
    out = io.StringIO()
    run_steps("t", [step], Runner("n1", dry_run=True, console=Console(file=out, width=200)))
    assert out.getvalue() == "[n1] # check: `X --version` answers\n"


def test_a_probe_runs_its_script_with_arguments_and_reads_only() -> None:
    res = probe(runner(), 'printf "%s|" "$@"; exit 3', "a b", "c")
    assert (res.returncode, res.stdout) == (3, "a b|c|")
    out = io.StringIO()
    assert probe(Runner("n1", dry_run=True, console=Console(file=out)), "rm -rf /nowhere").ok
    assert out.getvalue() == ""  # read-only: a dry run neither runs nor prints it
