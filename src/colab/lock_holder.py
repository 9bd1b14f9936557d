"""Who holds a lock: one line of `key=value` words that the run taking a lock leaves for the next run to read.

    task=deploy user=crtr node=director pid=4242 since=2024-06-01T10:00:00+02:00

The deploy lock on a service's node (`colab.deploy.lock`, kept by a shell holder there) and the backup volume's
lock (`colab.backup.lock`, in the lock file) record their holder this way and name it the same way:
`deploy by crtr on director (pid 4242, since 2024-06-01T10:00:00+02:00)`. The values hold no spaces and no
secrets (a task, a login, a node, a number, a time). Lines that earlier versions wrote are read too: `verb=`
for the task (deploy), `started=` for the time and one key a line (backup).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import datetime

from colab.runner import this_node

ANOTHER_RUN = "another run"  # what a holder is called when its line says nothing
_OLD_KEYS = {"verb": "task", "started": "since"}


@dataclass(frozen=True)
class Holder:
    task: str
    user: str = ""
    node: str = ""
    pid: int | None = None
    since: str = ""

    @classmethod
    def me(cls, task: str) -> Holder:
        """This process, taking a lock for `task` now."""
        since = datetime.now().astimezone().isoformat(timespec="seconds")
        return cls(task, getpass.getuser(), this_node(), os.getpid(), since)

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder a line (or an older lock file) names; None when it names nobody."""
        info: dict[str, str] = {}
        for word in text.split():
            key, sep, value = word.partition("=")
            if sep:
                info[_OLD_KEYS.get(key, key)] = value
        if not info:
            return None
        pid = info.get("pid", "")
        return cls(
            info.get("task", "a run"),
            info.get("user", ""),
            info.get("node", ""),
            int(pid) if pid.isdigit() else None,
            info.get("since", ""),
        )

    def line(self) -> str:
        return f"task={self.task} user={self.user} node={self.node} pid={self.pid} since={self.since}"

    def describe(self) -> str:
        """`deploy by crtr on director (pid 4242, since …)`; what the line does not say is left out or `?`."""
        by = f" by {self.user}" if self.user else ""
        on = f" on {self.node}" if self.node else ""
        return f"{self.task}{by}{on} (pid {self.pid or '?'}, since {self.since or '?'})"

    def exited(self) -> bool:
        """Its process ran on this machine and is gone. A line without a node (an older backup lock file, which
        is always this machine's) counts as this machine's; another node's process cannot be looked at."""
        here = self.node in ("", this_node())
        return here and self.pid is not None and not pid_alive(self.pid)


def describe(text: str, *, holding: bool = True) -> str:
    """The holder a line names, for a message; `another run` when it names nobody. `holding`: the run holds the
    lock now, so say when its process is gone but commands it started (rsync, `docker compose up`) still run."""
    holder = Holder.parse(text)
    if holder is None:
        return ANOTHER_RUN
    exited = ", which has exited while commands it started still run" if holding and holder.exited() else ""
    return holder.describe() + exited


def who() -> str:
    """`crtr on director`: the user and node of this run (what a deployment record says made it)."""
    return f"{getpass.getuser()} on {this_node()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
