"""Step 6 on the backup node: the root-owned install /opt/colab that the backup cron runs (`colab.backup.install`).

    [local] git -C <this checkout> -c tar.umask=0022 archive --format=tar <its HEAD commit>
    [node]  sudo -n sh -c <unpack> sh /opt/colab <commit>      (the archive on stdin: releases/<commit>, root's)
    [node]  sudo -n python3 /opt/colab/releases/<commit>/scripts/venv --venv …/.venv    (exactly its uv.lock)
    [node]  sudo -n sh -c <activate> sh /opt/colab <commit>    (stamp, `current` switched, old releases gone)

It acts when /opt/colab/current is not this checkout's commit, is unfinished, or fails backup-cron's own
check (something in it that someone other than root could change: then it is reinstalled). The commit is
the one checked out here, where bootstrap runs; what is committed is installed, not the working tree.
On every other node the group is one check that says there is nothing to install.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from colab.backup import install
from colab.bootstrap import venv
from colab.bootstrap.context import Ctx
from colab.inventory import REPO_ROOT
from colab.privilege import as_root
from colab.runner import Runner
from colab.steps import Step, note

SOURCE = REPO_ROOT  # the checkout the install is made from: the one bootstrap runs from
LOG_DIR = "/var/log/colab"  # what the cron file sets COLAB_BACKUP_LOG_DIR to


def steps(
    ctx: Ctx,
    *,
    with_python: bool = True,
    where: str = install.ROOT,
    source: Path | None = None,
    log_dir: str = LOG_DIR,
) -> list[Step]:
    if ctx.node.name != ctx.inv.backup.node:
        return [nothing_here(ctx)]
    found = [venv.python_for_venv(ctx)] if with_python else []
    return [*found, root_install(ctx, where, source or SOURCE, log_dir)]


def nothing_here(ctx: Ctx) -> Step:
    why = f"not the backup node ({ctx.inv.backup.node}): no root-owned install here"

    def act(r: Runner) -> None:
        note(r, why)

    return Step(why, lambda r: None, act)


def root_install(ctx: Ctx, where: str, source: Path, log_dir: str = LOG_DIR) -> Step:
    where = posixpath.normpath(where)
    commit: list[str] = []  # found once, when the step first needs it

    def head() -> str:
        if not commit:
            commit.append(install.head_commit(source))
        return commit[0]

    def check(r: Runner) -> str | None:
        env = ("env", f"COLAB_BACKUP_LOG_DIR={log_dir}")
        argv = as_root(ctx.sudo, *env, "sh", "-c", install.CHECK, "sh", where, head())
        res = r.run(*argv, check=False, mutating=False, timeout=300)
        if not res.ok:
            return f"could not look at {where} on {r.node} ({res.last_line})"
        return res.stdout.strip().splitlines()[-1] if res.stdout.strip() else None

    def act(r: Runner) -> None:
        c = head()
        release = f"{where}/{install.RELEASES}/{c}"
        note(r, f"the commit checked out here ({c}) goes to {r.node} as a tar archive on stdin")
        if r.dry_run:
            ctx.controller.run(*install.archive_argv(source, c))
            data = b""
        else:
            data = install.archive(source, c)  # bytes: not through the runner, which returns text
        r.run(*as_root(ctx.sudo, "sh", "-c", install.UNPACK, "sh", where, c), stdin=data, timeout=600)
        r.run(*as_root(ctx.sudo, "python3", f"{release}/scripts/venv", "--venv", f"{release}/.venv"), timeout=1800)
        r.run(*as_root(ctx.sudo, "sh", "-c", install.ACTIVATE, "sh", where, c), timeout=600)

    return Step(f"root-owned install {where} (the backup cron runs it)", check, act)
