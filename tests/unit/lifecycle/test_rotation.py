"""`inv secrets.rotated`: what uses a secret name on the default inventory, and the database password step against
a fake node (the new password checked first, then ALTER ROLE with the value read by psql from its environment)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from colab import inventory
from colab.errors import ColabError
from colab.lifecycle import rotation
from colab.runner import Runner
from colab.steps import Status, run_step
from tests.unit.lifecycle.fakes import ROOT, FakeNode

INV = inventory.load(ROOT / "cluster.toml")


def found(name: str) -> list[tuple[str, str, str]]:
    return [(u.kind, u.what, u.node) for u in rotation.uses(INV, name)]


def test_what_uses_each_kind_of_secret() -> None:
    assert found("GITEA_DB_PASSWORD") == [
        ("database", "gitea/db/gitea", "cooperator"),
        ("service", "gitea", "cooperator"),
    ]
    assert found("MCP_AUTH_TOKEN") == [("service", "caddy", "cooperator"), ("service", "mcp-files", "cooperator")]
    assert found("COLAB_NAS_SAMBA_PASSWORD") == [
        ("samba", "crtr", "cooperator"),
        *[("mount", "crtr", n) for n in ("director", "writer", "projector", "terminator")],
    ]
    assert found("HEADSCALE_PREAUTH_KEY") == [("mesh", "headscale pre-auth key", "")]
    # the infisical service's secrets: no POSTGRES_PASSWORD names the auth secret, so no database step
    assert found("INFISICAL_AUTH_SECRET") == [("service", "infisical", "cooperator")]


def test_a_name_nothing_uses_or_no_name_at_all_is_one_line() -> None:
    with pytest.raises(ColabError, match=r"^nothing in the inventory uses NOPE: no service lists it"):
        rotation.uses(INV, "NOPE")
    with pytest.raises(ColabError, match=r"^'1x' is not a secret name"):
        rotation.uses(INV, "1x")


def test_the_database_password_is_checked_with_the_new_value_then_set_from_psqls_environment() -> None:
    use = rotation.uses(INV, "GITEA_DB_PASSWORD")[0]
    step, env = rotation.database_step(INV, use, "GITEA_DB_PASSWORD")
    assert "DOCKER_HOST" not in env and env["COLAB_DB_USER"] == "gitea"  # on its node: the local engine
    fake = FakeNode().on(r"PGPASSWORD", "", 2, 'psql: error: password authentication failed for user "gitea"')
    outcome = run_step(step, Runner("cooperator", transport_factory=lambda: fake))
    assert outcome.status == Status.FAILED  # the fake never learns the new password: still not right after acting
    assert "still not right after acting: gitea does not log in with the new GITEA_DB_PASSWORD" in outcome.detail
    assert fake.calls[0][0][:2] == ["infisical", "export"]  # what the injection holds, read first to mask it
    (check_argv, check_env, _, _), (alter_argv, _, alter_stdin, _), _ = (c for c in fake.calls if "exec" in c[0])
    run_prefix = ["infisical", "run", "--env", "prod", "--path", "/gitea"]
    assert check_argv[: len(run_prefix)] == run_prefix and check_env == env
    tail = ["docker", "compose", "--project-directory", "/srv/fortress/docker/gitea", "-p", "gitea", "exec",
            "-T", "-e", "GITEA_DB_PASSWORD", "db"]  # fmt: skip
    assert alter_argv[alter_argv.index("--") + 1 :] == [*tail, "psql", "-v", "ON_ERROR_STOP=1", "-U", "gitea", "-d",
                                                         "gitea"]  # fmt: skip
    assert alter_stdin == b"\\getenv pw GITEA_DB_PASSWORD\nALTER ROLE \"gitea\" PASSWORD :'pw';\n"
    ok = FakeNode().on(r"PGPASSWORD", "1\n")
    assert run_step(step, Runner("cooperator", transport_factory=lambda: ok)).status == Status.OK
    assert [c for c in ok.calls if "psql" in c[0]] == []  # the new password logs in already: nothing set


def test_an_off_on_demand_client_is_skipped_and_an_always_on_one_that_is_off_fails() -> None:
    console = Console(file=io.StringIO())
    projector = next(u for u in rotation.uses(INV, "COLAB_NAS_SAMBA_PASSWORD") if u.node == "projector")
    director = next(u for u in rotation.uses(INV, "COLAB_NAS_SAMBA_PASSWORD") if u.node == "director")

    def never(host: str, port: int, timeout: float) -> bool:
        return False

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLAB_NODE", "controller")
        (skipped,) = rotation._apply(INV, projector, "COLAB_NAS_SAMBA_PASSWORD", False, console, never, 60)
        (failed,) = rotation._apply(INV, director, "COLAB_NAS_SAMBA_PASSWORD", False, console, never, 60)
    assert skipped.status == Status.SKIPPED and skipped.detail.startswith("projector is on demand and offline")
    assert skipped.detail.endswith("it mounts with the new password next time")
    assert failed.status == Status.FAILED and failed.detail.startswith("director does not answer")
