"""nox sessions: `nox` runs them all (lock, lint, types, tests, generated, integration).

Every session installs exactly what uv.lock pins (`uv sync --locked`: a lock that no longer matches
pyproject.toml fails here), then the checkout itself, editable, with the locked build backend.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lock", "lint", "types", "tests", "generated", "integration"]

PYTHON = "3.11"
CODE = ["src", "tasks", "tests", "benchmarks", "noxfile.py", "scripts/venv"]


def targets(session: nox.Session, default: str) -> list[str]:
    """pytest arguments: the default folder unless the arguments name test files or folders themselves."""
    named = any(not arg.startswith("-") and arg.startswith("tests/") for arg in session.posargs)
    return [*([] if named else [default]), *session.posargs]


def install(session: nox.Session) -> None:
    env = {"UV_PROJECT_ENVIRONMENT": session.virtualenv.location}
    sync = ["uv", "sync", "--locked", "--extra", "dev", "--group", "build", "--no-install-project"]
    session.run_install(*sync, f"--python={session.virtualenv.location}", env=env)
    session.install("--no-deps", "--no-build-isolation", "-e", ".")


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """uv.lock matches pyproject.toml (else: `uv lock`, and commit uv.lock)."""
    session.run("uv", "lock", "--check")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    install(session)
    session.run("ruff", "check", *CODE)
    session.run("ruff", "format", "--check", *CODE)


@nox.session(python=PYTHON)
def types(session: nox.Session) -> None:
    """mypy, strict on the package."""
    install(session)
    session.run("mypy")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit tests: pure functions and local fixtures, seconds."""
    install(session)
    session.run("pytest", *targets(session, "tests/unit"))


@nox.session(python=PYTHON)
def generated(session: nox.Session) -> None:
    """The default inventory is valid and the committed generated files match it."""
    install(session)
    session.run("inv", "inventory.check")
    session.run("inv", "render", "--check")


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Integration tests against real Docker, rsync, chezmoi, mise, smbd... (CI=true: missing tools fail)."""
    install(session)
    env = {"CI": os.environ.get("CI", "")}
    session.run("pytest", *targets(session, "tests/integration"), env=env)
