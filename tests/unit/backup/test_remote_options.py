"""A backup task started off the backup node re-runs there with the same options, written back as a command line."""

from __future__ import annotations

import pytest

from colab.backup import remote

CASES = [
    ({"now": "2024-01-05T03:15", "json": True, "wait": False, "dumps": True},
     ["--now", "2024-01-05T03:15", "--json", "--dumps"]),
    ({"dumps": False}, ["--no-dumps"]),
    ({"in_place": True, "yes": True, "path": "", "into": None}, ["--in-place", "--yes"]),
    ({"from_": "offsite", "snapshot": "latest", "sample": 32}, ["--from", "offsite", "--snapshot", "latest",
                                                                 "--sample", "32"]),
]  # fmt: skip


@pytest.mark.parametrize(("opts", "argv"), CASES)
def test_options_become_the_same_command_line(opts: dict[str, object], argv: list[str]) -> None:
    assert remote.options(**opts) == argv
    assert remote.command("backup.daily", argv) == ["inv", "backup.daily", *argv]
