"""One change to a service at a time, wherever it is started from: a lock that lives on the target node.

The lock is an flock on `<fortress>/docker/.<service>.colab/lock`, taken on the target node by a small shell
process (`HOLDER_SCRIPT`) that this run starts there through the runner (locally, or over SSH) and keeps
talking to. Every run that changes the service on that node (deploy, pull, down, rollback) opens the same
file on the same node, whichever node it was started from, so two people on two nodes are serialised too.

The holder keeps the lock until its stdin reaches EOF. Its stdin is a pipe from this process, and every local
command this run starts inherits the pipe's write end (`runner.children_inherit`): the lock lives exactly
as long as this run or any command it started (a `docker compose up` left running by a kill -9 keeps it).
A killed run never leaves a stale lock (the kernel drops an flock with its last holder); the holder's line
(`holder` file, `colab.lock_holder`, removed on a clean release) tells the next run that it took over from an
interrupted one. The holder runs in a session of its own, so a Ctrl-C at the terminal does not end it before the
commands it outlives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from colab.errors import ColabError, last_line
from colab.lock_holder import Holder, describe
from colab.runner import Runner, children_inherit

LOCK = "lock"
HOLDER = "holder"
RELEASE_WAIT = 2.0  # seconds to wait for the holder after a release; commands we started may keep it longer

# $1 the service's state folder, $2 "wait" or "nowait"; first line on stdin: who we are.
# Prints one line: "locked <previous holder, empty after a clean release>", or "busy <holder>" (exit 75),
# or "waiting <holder>" followed by "locked …" once the lock is free. Then holds it until stdin's EOF.
HOLDER_SCRIPT = (
    'set -u; s=$1; IFS= read -r me || exit 97; mkdir -p "$s" && exec 9>>"$s/lock" || exit 96; '
    'if ! flock -n 9; then h=$(cat "$s/holder" 2>/dev/null || :); '
    'if [ "$2" != wait ]; then printf "busy %s\\n" "$h"; exit 75; fi; '
    'printf "waiting %s\\n" "$h"; flock 9 || exit 96; fi; '
    'p=$(cat "$s/holder" 2>/dev/null || :); printf "%s\\n" "$me" > "$s/holder" 2>/dev/null || :; '
    'printf "locked %s\\n" "$p"; IFS= read -r l || l=; [ "$l" = release ] && rm -f "$s/holder"; cat > /dev/null'
)


class Busy(ColabError):
    """Another run holds the service's lock."""


@dataclass
class Held:
    """A lock this run holds (`process` is None in a dry run)."""

    process: Any
    took_over: str = ""  # who held it before and did not release it (an interrupted run), if anyone
    waited: str = ""  # who we waited for, if anyone


def holder_argv(state_dir: str, wait: bool) -> list[str]:
    return ["sh", "-c", HOLDER_SCRIPT, "sh", state_dir, "wait" if wait else "nowait"]


def acquire(
    runner: Runner,
    state_dir: str,
    what: str,
    verb: str,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Held:
    """Take the lock of `state_dir` on the runner's node, or raise Busy (`what`: the service on its node, for
    the message); with `wait`, block until it is free. Release it with `release` (or use `hold`)."""
    proc = runner.start(*holder_argv(state_dir, wait))
    if proc is None:
        return Held(None)
    try:
        proc.stdin.write(Holder.me(verb).line().encode() + b"\n")
        proc.stdin.flush()
        waited = ""
        while True:
            line = proc.stdout.readline().decode("utf-8", "replace").rstrip("\n")
            kind, _, rest = line.partition(" ")
            if kind == "locked":
                took_over = describe(rest, holding=False) if rest.strip() else ""
                return Held(proc, took_over=took_over, waited=waited)
            if kind == "waiting":
                waited = describe(rest)
                if on_wait is not None:
                    on_wait(f"waiting: {what} is locked by {waited}")
                continue
            if kind == "busy":
                raise Busy(f"{what} is locked by {describe(rest)}; wait for it to finish, or pass --wait to queue")
            raise ColabError(f"cannot take the deploy lock of {what} in {state_dir}: {_failure(proc)}")
    except BaseException:  # busy, a broken holder, or Ctrl-C while waiting: the holder must not take it later
        _abandon(proc, stop=True)
        raise


def _failure(proc: Any) -> str:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    err = proc.stderr.read().decode("utf-8", "replace") if proc.poll() is not None else ""
    return last_line(err, "", proc.returncode)


def _abandon(proc: Any, *, stop: bool = False) -> None:
    """Let a holder go: closing stdin ends it once no command we started holds the pipe. `stop`: it never
    handed the lock to anyone (a Ctrl-C while waiting), so it is ended outright: left blocked in `flock`, it
    would take the lock later, for nobody, and leave its identity behind as an interrupted run."""
    with contextlib.suppress(OSError, ValueError):
        proc.stdin.close()
    if stop and proc.poll() is None:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the sh and the flock it waits in
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=RELEASE_WAIT)


def release(held: Held) -> None:
    """A clean release: the holder forgets who held it and lets go once every command we started is done."""
    proc = held.process
    if proc is None:
        return
    with contextlib.suppress(OSError, ValueError):
        proc.stdin.write(b"release\n")
        proc.stdin.flush()
    _abandon(proc)


@contextlib.contextmanager
def hold(
    runner: Runner,
    state_dir: str,
    what: str,
    verb: str,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Held]:
    """The lock for the block, inherited by every local command started in it."""
    held = acquire(runner, state_dir, what, verb, wait=wait, on_wait=on_wait)
    keep = contextlib.nullcontext() if held.process is None else children_inherit(held.process.stdin.fileno())
    try:
        with keep:
            yield held
    finally:
        release(held)
