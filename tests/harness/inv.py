"""`inv` as a user runs it, in a child process: the one way tests start the task runner.

The `inv` of the virtualenv running the tests (not whichever one is first on PATH), from the repo root, with stdin
closed and, in its environment: the node it runs "on" (`COLAB_NODE`; by default `controller`, which is none of the
nodes), the inventory (`COLAB_INVENTORY`; by default none, so the repo's cluster.toml, whatever the caller's
environment says), `COLUMNS` (200 by default, wide enough for whole table rows; `columns=None` leaves it unset, as
through a pipe) and the network guard on (`COLAB_NETGUARD=1`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from colab import netguard

ROOT = Path(__file__).resolve().parents[2]
HERE = "controller"  # a machine that is none of the nodes: every node is reached over its runner


def inv_binary() -> str:
    """The virtualenv's own `inv` (`pytest` and `inv` are console scripts of the same interpreter)."""
    binary = Path(sys.executable).with_name("inv")
    if not binary.exists():
        from tests.conftest import unavailable

        unavailable(f"no {binary} (python3 scripts/venv --dev, or scripts/ci-setup, makes it)")
    return str(binary)


Where = str | os.PathLike[str] | None


def _environment(
    node: str, inventory: Where, columns: int | None, env: Mapping[str, str] | None, inherit: bool
) -> dict[str, str]:
    """This process's environment (unless not `inherit`), then the settings in the module's docstring, then `env`."""
    full = dict(os.environ) if inherit else {}
    full.pop("COLAB_INVENTORY", None)
    full.pop("COLUMNS", None)
    full.update({"COLAB_NODE": node, netguard.ENV_FORCE: "1"})
    if inventory is not None:
        full["COLAB_INVENTORY"] = str(inventory)
    if columns is not None:
        full["COLUMNS"] = str(columns)
    full.update(env or {})
    return full


def run_inv(
    *args: str,
    node: str = HERE,
    inventory: Where = None,
    columns: int | None = 200,
    env: Mapping[str, str] | None = None,
    inherit: bool = True,
    cwd: Path = ROOT,
    timeout: float = 120,
    new_session: bool = False,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """`inv ARGS` to the end: exit code, stdout and stderr as text. `new_session` runs it in a session of its own
    (no controlling terminal, as cron does); `prefix` goes before it (`nice -n 19`, `setpriv …`)."""
    return subprocess.run(
        [*prefix, inv_binary(), *args],
        cwd=cwd,
        env=_environment(node, inventory, columns, env, inherit),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=new_session,
    )


def start_inv(
    *args: str, node: str = HERE, inventory: Where = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """`inv ARGS` started in a session of its own (a signal to its group reaches it and its children only), its
    stdout and stderr on pipes, stdin closed, from the repo root: for a test that acts while it runs."""
    full = _environment(node, inventory, 200, env, True)
    pipe = subprocess.PIPE
    return subprocess.Popen(
        [inv_binary(), *args], cwd=ROOT, env=full, stdin=subprocess.DEVNULL, stdout=pipe, stderr=pipe, text=True,
        start_new_session=True,
    )  # fmt: skip
