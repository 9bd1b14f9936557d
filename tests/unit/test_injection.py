"""What `infisical run` injects is read first (`infisical export`, the stand-in) and masked in every text the
runner prints, returns or raises, while the wrapped command still gets the real value."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from colab import injection, inventory, secrets
from colab.errors import ColabError
from colab.injection import Scope
from colab.runner import CommandError, Runner
from tests.conftest import CANARY, DEFAULT_INVENTORY, FakeInfisical

INV = inventory.load(DEFAULT_INVENTORY)
PROJECT = INV.infisical.project_id
SHA = hashlib.sha256(CANARY.encode()).hexdigest()
# Prints the value's sha256 (proof it arrived) and then leaks it the way Compose does, failing.
LEAK = 'printf %s "$TEST_SECRET" | sha256sum; echo "Invalid hostPort: $TEST_SECRET" >&2; exit 15'


def runner(dry_run: bool = False) -> tuple[Runner, io.StringIO]:
    buf = io.StringIO()
    return Runner("testnode", dry_run=dry_run, console=Console(file=buf, width=300)), buf


@pytest.fixture
def vault(fake_infisical: FakeInfisical, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_infisical.set("/web", TEST_SECRET=CANARY, PORT="3000", FLAG="true")
    log = tmp_path / "infisical.log"
    monkeypatch.setenv("COLAB_FAKE_INFISICAL_LOG", str(log))
    return log


# ------------------------------------------------------------------------------------------ scope_of


@pytest.mark.parametrize(
    ("argv", "scope"),
    [
        (secrets.run_argv(INV, "/gitea", ["docker", "compose", "ps"]), Scope("prod", "/gitea", PROJECT)),
        (["env", "-u", "X", "infisical", "run", "--env=dev", "--path=/a", "--", "true"], Scope("dev", "/a")),
        (["/usr/local/bin/infisical", "run", "--silent", "--", "true"], Scope()),
        (["docker", "compose", "-p", "infisical", "ps"], None),
        (["sh", "-c", "echo infisical run"], None),
    ],
)
def test_the_injection_in_an_argv_is_found(argv: list[str], scope: Scope | None) -> None:
    assert injection.scope_of(argv) == scope


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["infisical", "run", "--recursive", "--", "true"], "`infisical run --recursive`: an option this project"),
        (["infisical", "run", "--env", "prod", "true"], "`infisical run` without `--`"),
        (["infisical", "run", "--path"], "`infisical run` without `--`"),
        (["infisical", "run", "--path", "--"], "`infisical run --path` needs a value"),
    ],
)
def test_an_injection_it_cannot_read_ahead_is_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ColabError) as info:
        injection.scope_of(argv)
    assert str(info.value).startswith(message)


def test_export_output_is_parsed_and_errors_never_quote_it() -> None:
    text = json.dumps([{"key": "A", "value": CANARY, "type": "shared"}, {"key": "B", "value": ""}])
    assert injection.parse_export(text) == {"A": CANARY, "B": ""}
    assert injection.parse_export("null") == {}
    for bad in (f"A={CANARY}", json.dumps({"A": CANARY}), json.dumps([{"key": "A", "val": CANARY}])):
        with pytest.raises(ColabError) as info:
            injection.parse_export(bad)
        assert CANARY not in str(info.value)


def test_the_standin_export_gives_what_its_run_injects(vault: Path) -> None:
    scope = secrets.scope(INV, "/web")
    exported = injection.parse_export(subprocess.run(injection.export_argv(scope), capture_output=True,
                                                     text=True, check=True).stdout)  # fmt: skip
    dump = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ['TEST_SECRET', 'PORT', 'FLAG']}))"
    seen = subprocess.run(injection.run_argv(scope, ["python3", "-c", dump]), capture_output=True, text=True)
    assert exported == json.loads(seen.stdout) == {"TEST_SECRET": CANARY, "PORT": "3000", "FLAG": "true"}
    dotenv = subprocess.run(["infisical", "export", *scope.flags()], capture_output=True, text=True, check=True)
    assert dotenv.stdout == f"FLAG='true'\nPORT='3000'\nTEST_SECRET='{CANARY}'\n"


# ---------------------------------------------------------------------------------------- the runner


def test_an_injected_value_a_command_prints_is_masked_but_reached_it(vault: Path) -> None:
    r, _ = runner()
    argv = secrets.run_argv(INV, "/web", ["sh", "-c", LEAK])
    res = r.run(*argv, check=False)
    assert res.stdout.split()[0] == SHA  # the command got the real value
    assert res.stderr == "Invalid hostPort: ***\n"
    with pytest.raises(CommandError) as info:
        r.run(*argv)
    text = f"{info.value} {info.value!r} {info.value.result!r} {r.history}"
    assert "Invalid hostPort: ***" in str(info.value) and CANARY not in text


def test_the_folder_is_read_once_per_runner_and_short_values_stay_readable(vault: Path) -> None:
    r, _ = runner()
    for _ in range(2):
        res = r.run(*secrets.run_argv(INV, "/web", ["sh", "-c", 'echo "$PORT $FLAG $TEST_SECRET"']))
        assert res.stdout == "3000 true ***\n"
    verbs = [json.loads(line)[0] for line in vault.read_text().splitlines()]
    assert verbs == ["export", "run", "run"]
    assert CANARY not in vault.read_text()  # the stand-in logs argv only: no value was ever in one


def test_an_unreadable_folder_stops_before_the_command_runs(vault: Path, tmp_path: Path) -> None:
    r, _ = runner()
    marker = tmp_path / "ran"
    with pytest.raises(ColabError) as info:
        r.run(*secrets.run_argv(INV, "/nope", ["touch", str(marker)]))
    assert str(info.value).startswith("infisical could not read /nope in env 'prod' (error: Folder with path '/nope'")
    assert "\n" not in str(info.value) and not marker.exists()


def test_without_the_cli_nothing_runs(vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    r, _ = runner()
    with pytest.raises(ColabError, match=r"^the Infisical CLI is not installed on testnode \(needed to read /web\); "):
        r.run(*secrets.run_argv(INV, "/web", ["true"]))


def test_a_dry_run_reads_nothing(vault: Path) -> None:
    r, buf = runner(dry_run=True)
    r.run(*secrets.run_argv(INV, "/web", ["docker", "compose", "up"]))
    assert not vault.exists()
    assert buf.getvalue().startswith("[testnode] $ infisical run --env prod --path /web")


def test_a_value_is_masked_in_the_escaped_form_json_shows_it_in(vault: Path, fake_infisical: FakeInfisical) -> None:
    quoted = 'pa"ss\\word-with-quotes'
    fake_infisical.set("/web", TEST_SECRET=quoted)
    r, _ = runner()
    show = "import json, os; print(json.dumps({'Name': os.environ['TEST_SECRET']}))"
    res = r.run(*secrets.run_argv(INV, "/web", ["python3", "-c", show]))
    assert res.stdout == '{"Name": "***"}\n'
