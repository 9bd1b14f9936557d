"""The service lock with the real sh and flock: one holder, who holds it, --wait, takeover, inherited by children."""

from __future__ import annotations

import io
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from colab.deploy import lock
from colab.runner import Runner
from tests.conftest import require_tool


@pytest.fixture(autouse=True)
def _flock() -> None:
    require_tool("flock")


def runner() -> Runner:
    return Runner("cooperator", console=Console(file=io.StringIO()))


HOLDER = r"deploy by \S+ on \S+ \(pid {pid}, since \S+\)"


def test_one_holder_at_a_time_and_the_second_is_told_who(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLAB_NODE", "cooperator")
    state = str(tmp_path / ".web.colab")
    with lock.hold(runner(), state, "web on cooperator", "deploy") as held:
        assert held.took_over == "" and held.waited == ""
        assert re.fullmatch(
            r"task=deploy user=\S+ node=cooperator pid=\d+ since=\S+\n", Path(state, "holder").read_text()
        )
        with pytest.raises(lock.Busy) as e:
            lock.acquire(runner(), state, "web on cooperator", "pull")
        holder = HOLDER.format(pid=os.getpid())
        message = f"web on cooperator is locked by {holder}; wait for it to finish, or pass --wait to queue"
        assert re.fullmatch(message, str(e.value)), str(e.value)
    assert not Path(state, "holder").exists()  # a clean release forgets the holder
    with lock.hold(runner(), state, "web on cooperator", "deploy") as again:
        assert again.took_over == ""


def test_wait_queues_behind_the_holder(tmp_path: Path) -> None:
    state = str(tmp_path / ".web.colab")
    said: list[str] = []
    got: list[lock.Held] = []
    first = lock.acquire(runner(), state, "web on cooperator", "deploy")
    waiter = threading.Thread(
        target=lambda: got.append(lock.acquire(runner(), state, "web", "deploy", wait=True, on_wait=said.append))
    )
    waiter.start()
    deadline = 200
    while not said and deadline:  # the waiter says so before it blocks
        threading.Event().wait(0.02)
        deadline -= 1
    assert said and said[0].startswith("waiting: web is locked by deploy by ") and not got
    lock.release(first)
    waiter.join(timeout=30)
    assert got and got[0].waited.startswith("deploy by ")
    lock.release(got[0])


def test_a_run_interrupted_while_waiting_leaves_no_holder_behind(tmp_path: Path) -> None:
    """Ctrl-C while queued: the waiting holder is ended, so it never takes the lock for nobody later."""
    state = str(tmp_path / ".web.colab")
    first = lock.acquire(runner(), state, "web on cooperator", "deploy")
    waiting: list[object] = []

    def interrupt(_: str) -> None:
        raise KeyboardInterrupt

    def queue() -> None:
        try:
            lock.acquire(runner(), state, "web", "deploy", wait=True, on_wait=interrupt)
        except KeyboardInterrupt as e:
            waiting.append(e)

    waiter = threading.Thread(target=queue)
    waiter.start()
    waiter.join(timeout=30)
    assert waiting, "the waiting run was not interrupted"
    lock.release(first)
    with lock.hold(runner(), state, "web on cooperator", "deploy") as next_one:
        assert next_one.took_over == ""  # nobody took it in between and left a holder line


def test_a_holder_that_never_released_is_taken_over_and_named(tmp_path: Path) -> None:
    state = str(tmp_path / ".web.colab")
    held = lock.acquire(runner(), state, "web on cooperator", "deploy")
    held.process.stdin.close()  # what the kernel does when the run is killed: EOF, no "release"
    held.process.wait(timeout=10)
    with lock.hold(runner(), state, "web on cooperator", "deploy") as next_one:
        assert re.fullmatch(HOLDER.format(pid=os.getpid()), next_one.took_over), next_one.took_over


def test_a_command_started_under_the_lock_keeps_it_after_we_let_go(tmp_path: Path) -> None:
    """What a kill -9 leaves running (a `docker compose up`) holds the lock until it ends."""
    state = str(tmp_path / ".web.colab")
    with lock.hold(runner(), state, "web on cooperator", "deploy"):
        res = runner().run("sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!")
    orphan = int(res.stdout)
    try:
        with pytest.raises(lock.Busy):
            lock.acquire(runner(), state, "web on cooperator", "deploy")
    finally:
        os.kill(orphan, signal.SIGKILL)
    exited(orphan)  # kill returns before the process has closed its files (failed CI-16 once)
    with lock.hold(runner(), state, "web on cooperator", "deploy"):
        pass


def exited(pid: int, timeout: float = 10.0) -> None:
    """Until `pid` has exited: gone, or a zombie (which holds no files any more); it is not our child to wait for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} still runs {timeout:.0f} s after SIGKILL")


def test_a_dry_run_prints_the_holder_and_takes_nothing(tmp_path: Path) -> None:
    buf = io.StringIO()
    r = Runner("cooperator", dry_run=True, console=Console(file=buf, width=5000))
    with lock.hold(r, str(tmp_path / ".web.colab"), "web", "deploy") as held:
        assert held.process is None
    assert buf.getvalue().startswith("[cooperator] $ sh -c ") and buf.getvalue().rstrip().endswith(" nowait")
    assert not (tmp_path / ".web.colab").exists()


def test_a_lock_folder_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(lock.ColabError, match=r"cannot take the deploy lock of web in .*/file/.web.colab: "):
        lock.acquire(runner(), str(tmp_path / "file" / ".web.colab"), "web", "deploy")
