"""`docker compose ps --format json` parsing and the status verdicts."""

from __future__ import annotations

import json

import pytest

from colab.deploy import running
from colab.deploy.up import describe as _describe
from colab.errors import ColabError

PS = [
    {"ID": "a1", "Name": "web-app-1", "Service": "app", "State": "running", "Health": "healthy", "Image": "x:1",
     "ExitCode": 0},
    {"ID": "b2", "Name": "web-prepare-1", "Service": "prepare", "State": "exited", "Health": "", "Image": "y:2",
     "ExitCode": 0},
]  # fmt: skip


@pytest.mark.parametrize("text", ["\n".join(json.dumps(c) for c in PS), json.dumps(PS)])
def test_both_ps_json_shapes_parse(text: str) -> None:
    got = running.parse_ps(text)
    assert [(c.service, c.state, c.health, c.id) for c in got] == [
        ("app", "running", "healthy", "a1"),
        ("prepare", "exited", "", "b2"),
    ]
    assert all(c.fine for c in got)
    assert running.snapshot(got) == {"web-app-1": ("a1", "running"), "web-prepare-1": ("b2", "exited")}


def test_empty_output_means_no_container_and_garbage_is_a_clear_error() -> None:
    assert running.parse_ps("\n") == []
    with pytest.raises(ColabError, match=r"cannot read `docker compose ps` output"):
        running.parse_ps("not json")


def test_exit_code_is_1_when_anything_is_down_unhealthy_or_unknown() -> None:
    ok = running.Row("web", "n", "app", "running", "healthy", "x")
    assert running.exit_code([ok, running.Row("web", "n", "prepare", "exited(0)")]) == 0
    for bad in (
        running.Row("web", "n", "app", "running", "unhealthy"),
        running.Row("web", "n", "app", "exited(1)"),
        running.Row("web", "n", problem="not deployed (no container)"),
    ):
        assert running.exit_code([ok, bad]) == 1
    assert running.exit_code([]) == 1


def test_changes_between_two_snapshots_are_named() -> None:
    before = {"a": ("1", "running"), "b": ("2", "running"), "c": ("3", "exited")}
    after = {"a": ("1", "running"), "b": ("9", "running"), "c": ("3", "running"), "d": ("4", "running")}
    assert _describe(before, after) == "b recreated, c exited → running, d created"
    assert _describe(after, after) == ""


def test_the_table_prints_tool_output_as_text_not_markup() -> None:
    """A `[node]` prefix, `[red]` or an escape from a tool reaches the table as it was (minus the escape)."""
    import io

    from rich.console import Console

    rows = [
        running.Row("web", "n", problem="[cooperator] `docker compose ps` failed with exit 1: [red]no[/red]"),
        running.Row("api", "n", "app", "running", "healthy", "x", deployment="#2 (deploy, t, by \x1b[2Kme on [n])"),
    ]
    buf = io.StringIO()
    Console(file=buf, width=400, color_system=None).print(running.table(rows))
    text = buf.getvalue()
    assert "[cooperator] `docker compose ps` failed with exit 1: [red]no[/red]" in text
    assert "#2 (deploy, t, by me on [n])" in text and "\x1b" not in text
