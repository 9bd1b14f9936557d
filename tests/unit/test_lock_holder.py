"""Who holds a lock, one format for the deploy and the backup locks: written, read back, named; older lines read."""

from __future__ import annotations

import getpass
import os
import re
import subprocess

import pytest

from colab.lock_holder import ANOTHER_RUN, Holder, describe, pid_alive, who


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture(autouse=True)
def _here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLAB_NODE", "cooperator")


def test_this_run_writes_one_line_that_reads_back_the_same() -> None:
    me = Holder.me("backup.daily")
    line = me.line()
    assert re.fullmatch(
        rf"task=backup\.daily user={re.escape(getpass.getuser())} node=cooperator pid={os.getpid()} "
        r"since=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d",
        line,
    ), line
    assert Holder.parse(line) == me
    assert who() == f"{getpass.getuser()} on cooperator"


def test_it_is_named_the_same_way_for_every_lock() -> None:
    line = "task=deploy user=crtr node=director pid=4242 since=2024-06-01T10:00:00+02:00"
    assert describe(line) == "deploy by crtr on director (pid 4242, since 2024-06-01T10:00:00+02:00)"


def test_lines_of_earlier_versions_are_read() -> None:
    deploy = "verb=pull node=director user=crtr pid=7 since=2024-06-01T10:00:00+02:00"  # the deploy holder's
    backup = "pid=8\nstarted=2024-01-05T03:15:00\ntask=backup.daily\n"  # the backup lock file's, one key a line
    assert describe(deploy, holding=False) == "pull by crtr on director (pid 7, since 2024-06-01T10:00:00+02:00)"
    assert describe(backup, holding=False) == "backup.daily (pid 8, since 2024-01-05T03:15:00)"


def test_a_line_that_names_nobody_is_another_run() -> None:
    assert Holder.parse("") is None and Holder.parse("garbage\n") is None
    assert describe("") == ANOTHER_RUN
    assert describe("pid=x") == "a run (pid ?, since ?)"


def test_a_holder_whose_process_is_gone_here_is_said_to_have_exited() -> None:
    gone = f"task=deploy user=crtr node=cooperator pid={dead_pid()} since=t"
    assert describe(gone).endswith(", which has exited while commands it started still run")
    assert not describe(gone, holding=False).endswith("still run")  # a lock taken over: it is not holding now
    assert not Holder.parse(f"task=deploy node=cooperator pid={os.getpid()}").exited()  # type: ignore[union-attr]


def test_another_nodes_process_is_not_looked_at() -> None:
    """Its pid means nothing here: a free pid on this machine must not make it look exited."""
    holder = Holder.parse(f"task=deploy user=crtr node=director pid={dead_pid()} since=t")
    assert holder is not None and not holder.exited()


def test_pid_alive() -> None:
    assert pid_alive(os.getpid()) and not pid_alive(dead_pid())
