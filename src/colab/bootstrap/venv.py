"""Step 5: the checkout's own virtualenv, `<nodes.<node>.repo>/.venv`, with the project installed in it.

Every mise task, the WSL fortress wrapper, `scripts/backup-cron` and the `inv` commands other nodes send run
`inv` in the node's checkout, and `tasks/__init__.py` imports colab: so `inv` must be the one of a Python
that has the project and its dependencies (invoke, jinja2, tomlkit, plumbum, rich, pydantic). The checkout
exists only after the chezmoi step (it clones it), so this group comes after that one.

    python3 -m venv <repo>/.venv                 (Debian/WSL: python3-venv from apt; macOS: Homebrew's python)
    <repo>/.venv/bin/pip install -e <repo>       (editable: a `chezmoi update` that pulls new code is live)
    <repo>/.venv/colab-pyproject.sha256          (the pyproject.toml it was installed from)

Done when `<repo>/.venv/bin/inv --version` runs, `<repo>/.venv/bin/python -c "import colab"` succeeds and the
stamp matches the checkout's pyproject.toml; a changed pyproject.toml (new dependencies) installs again. The
stamp is written only after pip succeeded, so an interrupted install is found and redone by the next run.
`python3 -m venv` on an existing virtualenv keeps it (and repairs it after a Python upgrade).
"""

from __future__ import annotations

import posixpath

from colab.bootstrap.common import Ctx, apt_packages, last_line, probe, requirement, tool
from colab.errors import ColabError
from colab.mise_tasks import VENV
from colab.runner import Runner
from colab.steps import Step

STAMP = "colab-pyproject.sha256"  # inside .venv
# The sha256 of the file named by argv[1], printed (check) or written to argv[2] (after an install).
_SHA = 'import hashlib,sys; h=hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest()'
HASH_PY = _SHA + "; print(h)"
STAMP_PY = _SHA + '; open(sys.argv[2],"w").write(h+"\\n")'
# $1 checkout, $2 the virtualenv, $3 HASH_PY, $4 STAMP. Prints why the virtualenv is not right, or nothing.
_CHECK = (
    'repo=$1 v=$2; if [ ! -f "$repo/pyproject.toml" ]; then echo no-checkout; exit 0; fi; '
    'if [ ! -x "$v/bin/python" ]; then echo "no virtualenv at $v"; exit 0; fi; '
    'if ! "$v/bin/inv" --version >/dev/null 2>&1; then echo "$v/bin/inv does not run"; exit 0; fi; '
    'if ! "$v/bin/python" -c "import colab" >/dev/null 2>&1; then echo "colab does not import in $v"; exit 0; fi; '
    'want=$("$v/bin/python" -c "$3" "$repo/pyproject.toml"); have=$(cat "$v/$4" 2>/dev/null || true); '
    'if [ "$want" != "$have" ]; then echo "pyproject.toml changed since $v was installed"; fi'
)
HOMEBREW_PYTHONS = ("/opt/homebrew/bin/python3", "/usr/local/bin/python3")


def checkout(ctx: Ctx) -> str:
    return posixpath.normpath(ctx.node.repo)


def venv_dir(ctx: Ctx) -> str:
    return posixpath.join(checkout(ctx), VENV)


def fix_hint(ctx: Ctx) -> str:
    """The one-line fix, for messages elsewhere (verify, the wrappers)."""
    repo, v = checkout(ctx), venv_dir(ctx)
    return (
        f"run `inv bootstrap --node {ctx.node.name} --steps venv` "
        f"(or on the node: python3 -m venv {v} && {v}/bin/pip install -e {repo})"
    )


def python_for_venv(ctx: Ctx) -> Step:
    """What `python3 -m venv` needs: Debian's python3-venv (ensurepip), or Homebrew's python on macOS."""
    if ctx.os != "macos":
        return apt_packages(ctx, ("python3-venv",))

    def check(r: Runner) -> str | None:
        found = probe(r, 'for p; do test -x "$p" && exit 0; done; exit 1', *HOMEBREW_PYTHONS)
        return None if found.ok else "Homebrew's python3 is not installed"

    def act(r: Runner) -> None:
        r.run(*tool(ctx, "brew", "install", "python"), timeout=1800)

    return Step("brew python", check, act)


def project_venv(ctx: Ctx) -> Step:
    repo, v = checkout(ctx), venv_dir(ctx)

    def check(r: Runner) -> str | None:
        res = probe(r, _CHECK, repo, v, HASH_PY, STAMP)
        if not res.ok:
            return f"could not look at {v} on {r.node} ({last_line(res)})"
        reason = res.stdout.strip()
        if reason == "no-checkout":
            raise ColabError(
                f"there is no checkout at {repo} on {r.node} (no pyproject.toml): run the chezmoi step first "
                f"(`inv bootstrap --node {ctx.node.name} --steps chezmoi,venv`)"
            )
        return reason or None

    def act(r: Runner) -> None:
        r.run(*tool(ctx, "python3", "-m", "venv", v), timeout=300)
        r.run(f"{v}/bin/pip", "install", "--disable-pip-version-check", "-q", "-e", repo, timeout=1800)
        r.run(f"{v}/bin/python", "-c", STAMP_PY, f"{repo}/pyproject.toml", f"{v}/{STAMP}")

    return Step(f"virtualenv {v} (pip install -e {repo})", check, act)


def inv_lists_tasks(ctx: Ctx) -> Step:
    """For verify: the checkout's inv loads the task collection (tasks/ imports colab) and lists it."""
    repo, v = checkout(ctx), venv_dir(ctx)

    def test(r: Runner) -> str | None:
        res = r.run(f"{v}/bin/inv", "--list", cwd=repo, check=False, mutating=False, timeout=120)
        if res.ok and "bootstrap" in res.stdout:
            return None
        return f"`{v}/bin/inv --list` in {repo} fails on {r.node} ({last_line(res)}); {fix_hint(ctx)}"

    return requirement(f"inv in {v}", test, f"`{v}/bin/inv --list` in {repo} lists the tasks")


def steps(ctx: Ctx) -> list[Step]:
    return [python_for_venv(ctx), project_venv(ctx)]
