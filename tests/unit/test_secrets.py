"""Infisical wrapping: exact argv, and presence checks that read the folder into memory only (against the stand-in)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory, secrets
from colab.errors import ColabError
from colab.runner import Runner
from tests.conftest import CANARY, FakeInfisical

ROOT = Path(__file__).resolve().parents[2]
INV = inventory.load(ROOT / "cluster.toml")
PROJECT = INV.infisical.project_id


def runner(dry_run: bool = False) -> Runner:
    return Runner("local", dry_run=dry_run, console=Console(file=io.StringIO()))


def test_run_argv_always_passes_env_path_and_project() -> None:
    assert secrets.run_argv(INV, "/gitea", ["docker", "compose", "up", "-d"]) == [
        "infisical", "run", "--env", "prod", "--path", "/gitea",
        "--projectId", "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5", "--silent", "--",
        "docker", "compose", "up", "-d",
    ]  # fmt: skip


def test_injected_secret_reaches_the_command(fake_infisical: FakeInfisical) -> None:
    fake_infisical.set("/gitea", GITEA_DB_PASSWORD=CANARY)
    out = subprocess.run(
        secrets.run_argv(INV, "/gitea", ["sh", "-c", 'test "$GITEA_DB_PASSWORD" = "$0" && echo yes', CANARY]),
        capture_output=True,
        text=True,
    )
    assert out.stdout == "yes\n", out.stderr


def test_present_secrets_pass_and_missing_ones_are_named(fake_infisical: FakeInfisical) -> None:
    fake_infisical.set("/infisical", INFISICAL_ENCRYPTION_KEY=CANARY, INFISICAL_AUTH_SECRET="")
    r = runner()
    secrets.check_present(r, INV, "/infisical", ["INFISICAL_ENCRYPTION_KEY"])
    with pytest.raises(secrets.MissingSecrets) as info:
        secrets.check_present(r, INV, "/infisical", ["INFISICAL_ENCRYPTION_KEY", "INFISICAL_AUTH_SECRET", "X_DB"])
    assert str(info.value) == (
        "missing secret(s) INFISICAL_AUTH_SECRET, X_DB at Infisical path /infisical (env prod); "
        "add them in Infisical, then run again"
    )
    assert CANARY not in " ".join(r.history)
    assert r.redact(f"it was {CANARY}") == "it was ***"  # from now on masked in every text


def test_a_short_required_secret_is_masked_a_short_other_value_is_not(fake_infisical: FakeInfisical) -> None:
    fake_infisical.set("/gitea", GITEA_DB_PASSWORD="pw42", GITEA_OFFLINE="true")
    r = runner()
    secrets.check_present(r, INV, "/gitea", ["GITEA_DB_PASSWORD"])
    assert r.redact("user pw42 offline true") == "user *** offline true"


def test_a_variable_of_the_caller_does_not_count_as_present(
    fake_infisical: FakeInfisical, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_infisical.set("/gitea")
    monkeypatch.setenv("GITEA_DB_PASSWORD", "from-my-shell")
    with pytest.raises(secrets.MissingSecrets, match="GITEA_DB_PASSWORD"):
        secrets.check_present(runner(), INV, "/gitea", ["GITEA_DB_PASSWORD"])


def test_unknown_path_is_a_clear_error(fake_infisical: FakeInfisical) -> None:
    fake_infisical.set("/gitea", A="1")
    with pytest.raises(ColabError, match=r"infisical could not read /nope in env 'prod' \(error: Folder with path"):
        secrets.check_present(runner(), INV, "/nope", ["A"])


def test_no_infisical_cli_says_so_not_check_your_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")  # no infisical on it
    with pytest.raises(ColabError) as e:
        secrets.check_present(runner(), INV, "/gitea", ["A"])
    assert str(e.value) == (
        "the Infisical CLI is not installed on local (needed to read /gitea); install it "
        "(infisical.com/docs/cli/overview), log in (`infisical login`), then run again"
    )


def test_standin_refuses_like_the_real_cli(fake_infisical: FakeInfisical, tmp_path: Path) -> None:
    fake_infisical.set("/gitea", A="1")
    no_env = subprocess.run(["infisical", "run", "--path", "/gitea", "--projectId", INV.infisical.project_id,
                             "--", "true"], capture_output=True, text=True)  # fmt: skip
    assert no_env.returncode == 1 and "environment 'dev' not found" in no_env.stderr
    no_project = subprocess.run(["infisical", "run", "--env", "prod", "--", "true"], capture_output=True, text=True,
                                cwd=tmp_path)  # fmt: skip
    assert no_project.returncode == 1 and "project id is missing" in no_project.stderr


def test_bad_secret_name_is_refused() -> None:
    with pytest.raises(ColabError, match="invalid secret name"):
        secrets.check_present(runner(), INV, "/x", ["A;B"])


def test_dry_run_prints_the_check_and_runs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # nothing could run
    r = runner(dry_run=True)
    secrets.check_present(r, INV, "/gitea", ["GITEA_DB_PASSWORD"])
    assert r.history == [f"infisical export --env prod --path /gitea --projectId {PROJECT} --format json --silent"]
