"""A number option given something else (`--wait-timeout abc`) is one line naming the option, exit 1, for every
numeric option of every task (Invoke converts values while parsing, before any task code runs)."""

from __future__ import annotations

import re

import pytest
from invoke import Collection
from tasks import ns

from tests.harness.inv import run_inv

KINDS = {int: "a whole number", float: "a number"}


def numeric_options(c: Collection, prefix: str = "") -> list[tuple[str, str, type]]:
    found = [
        (prefix + name, arg.names[0], arg.kind)
        for name, task in c.tasks.items()
        for arg in task.get_arguments()
        if arg.kind in KINDS
    ]
    for name, sub in c.collections.items():
        found += numeric_options(sub, f"{prefix}{name}.")
    return found


OPTIONS = numeric_options(ns)


def test_there_are_numeric_options_to_check() -> None:
    assert {"deploy.deploy", "backup.check"} <= {task for task, _, _ in OPTIONS}


@pytest.mark.parametrize(("task", "option", "kind"), OPTIONS, ids=[f"{t}--{o}" for t, o, _ in OPTIONS])
def test_a_non_number_is_one_line_naming_the_option(task: str, option: str, kind: type) -> None:
    res = run_inv(task, f"--{option}", "abc", timeout=60)
    assert (res.returncode, res.stdout) == (1, "")
    assert re.fullmatch(
        rf"error: --{option} 'abc' is not {KINDS[kind]}(; e\.g\. --{option} [0-9.]+ \(the default\))?\n", res.stderr
    )


def test_the_example_is_the_default() -> None:
    res = run_inv("deploy", "--service", "gitea", "--wait-timeout", "abc", timeout=60)
    assert res.stderr == "error: --wait-timeout 'abc' is not a whole number; e.g. --wait-timeout 180 (the default)\n"
