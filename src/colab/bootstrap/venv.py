"""Step 5: the checkout's own virtualenv, `<nodes.<node>.repo>/.venv`, installed exactly from the checkout's uv.lock.

Every mise task, the WSL fortress wrapper and the `inv` commands other nodes send run `inv` in the node's
checkout (the backup cron runs root's own install instead: `backup.py`), and `tasks/__init__.py` imports
colab: so `inv` must be the one of a Python that has the project and its dependencies. The checkout exists
only after the chezmoi step (it clones it), so this group comes after that one. On the node it runs the
checkout's own `scripts/venv` with the node's python3 (`colab.checkout_venv`: `python3 -m venv`, `pip install
--require-hashes` of the pins in uv.lock, the checkout editable, a stamp of uv.lock + pyproject.toml), so every
node runs the versions CI ran.

    python3 <repo>/scripts/venv --check      (prints why .venv is not right; nothing when it is)
    python3 <repo>/scripts/venv              (Debian/WSL: python3-venv from apt; macOS: Homebrew's python)

A changed uv.lock or pyproject.toml (a `chezmoi update` that pulled new pins) installs again; the stamp is
written only after pip succeeded, so an interrupted install is found and redone by the next run.
"""

from __future__ import annotations

import posixpath

from colab.apt import apt_packages
from colab.bootstrap.context import Ctx, tool
from colab.errors import ColabError
from colab.render.mise_tasks import VENV
from colab.runner import Runner
from colab.steps import Step, probe, requirement

# $1 checkout, $2 the virtualenv, then the python3 command. Prints why the virtualenv is not right, or nothing.
_CHECK = (
    'repo=$1 v=$2; shift 2; if [ ! -f "$repo/pyproject.toml" ]; then echo no-checkout; exit 0; fi; '
    'exec "$@" "$repo/scripts/venv" --check --venv "$v"'
)
HOMEBREW_PYTHONS = ("/opt/homebrew/bin/python3", "/usr/local/bin/python3")


def checkout(ctx: Ctx) -> str:
    return posixpath.normpath(ctx.node.repo)


def venv_dir(ctx: Ctx) -> str:
    return posixpath.join(checkout(ctx), VENV)


def fix_hint(ctx: Ctx) -> str:
    """The one-line fix, for messages elsewhere (verify, the wrappers)."""
    here = f"python3 {checkout(ctx)}/scripts/venv"
    return f"run `inv bootstrap --node {ctx.node.name} --steps venv` (or on the node: {here})"


def python_for_venv(ctx: Ctx) -> Step:
    """What `python3 -m venv` needs: Debian's python3-venv (ensurepip), or Homebrew's python on macOS."""
    if ctx.os != "macos":
        return apt_packages(("python3-venv",), sudo=ctx.sudo)

    def check(r: Runner) -> str | None:
        found = probe(r, 'for p; do test -x "$p" && exit 0; done; exit 1', *HOMEBREW_PYTHONS)
        return None if found.ok else "Homebrew's python3 is not installed"

    def act(r: Runner) -> None:
        r.run(*tool(ctx, "brew", "install", "python"), timeout=1800)

    return Step("brew python", check, act)


def project_venv(ctx: Ctx) -> Step:
    repo, v = checkout(ctx), venv_dir(ctx)

    def check(r: Runner) -> str | None:
        res = probe(r, _CHECK, repo, v, *tool(ctx, "python3"))
        if not res.ok:
            return f"could not look at {v} on {r.node} ({res.last_line})"
        reason = res.stdout.strip()
        if reason == "no-checkout":
            raise ColabError(
                f"there is no checkout at {repo} on {r.node} (no pyproject.toml): run the chezmoi step first "
                f"(`inv bootstrap --node {ctx.node.name} --steps chezmoi,venv`)"
            )
        return reason or None

    def act(r: Runner) -> None:
        r.run(*tool(ctx, "python3", f"{repo}/scripts/venv", "--venv", v), timeout=1800)

    return Step(f"virtualenv {v} (from {repo}/uv.lock)", check, act)


def inv_lists_tasks(ctx: Ctx) -> Step:
    """For verify: the checkout's inv loads the task collection (tasks/ imports colab) and lists it."""
    repo, v = checkout(ctx), venv_dir(ctx)

    def test(r: Runner) -> str | None:
        res = r.run(f"{v}/bin/inv", "--list", cwd=repo, check=False, mutating=False, timeout=120)
        if res.ok and "bootstrap" in res.stdout:
            return None
        return f"`{v}/bin/inv --list` in {repo} fails on {r.node} ({res.last_line}); {fix_hint(ctx)}"

    return requirement(f"inv in {v}", test, f"`{v}/bin/inv --list` in {repo} lists the tasks")


def steps(ctx: Ctx) -> list[Step]:
    return [python_for_venv(ctx), project_venv(ctx)]
