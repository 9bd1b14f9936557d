"""Runner: local execution, secrets by env/stdin only and masked, dry-run prints and runs nothing."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from colab import runner as runner_mod
from colab.errors import ColabError, NetworkGuardError
from colab.inventory import load
from colab.runner import CommandError, Runner, Secret, SshTransport, remote_command, runner_for
from tests.conftest import require_tool

CANARY = "canary-s3cr3t-value-7f1d"
ROOT = Path(__file__).resolve().parents[2]


def make(dry_run: bool = False) -> tuple[Runner, io.StringIO]:
    buf = io.StringIO()
    return Runner("testnode", dry_run=dry_run, console=Console(file=buf, width=200)), buf


def test_local_run_captures_output_and_exit_code() -> None:
    r, _ = make()
    res = r.run("sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err\n")


def test_failure_raises_one_line_with_command_and_last_stderr() -> None:
    r, _ = make()
    with pytest.raises(CommandError) as info:
        r.run("sh", "-c", "echo first >&2; echo 'the cause' >&2; exit 4")
    assert (
        str(info.value)
        == "[testnode] `sh -c 'echo first >&2; echo '\"'\"'the cause'\"'\"' >&2; exit 4'` failed with exit 4: the cause"
    )


@pytest.mark.parametrize(
    ("script", "want"),
    [
        ("echo out; echo 'first' >&2; echo '  the cause  ' >&2; echo >&2; exit 2", "the cause"),  # stderr wins
        ("echo 'line one'; echo 'what it said'; echo '   '; exit 3", "what it said"),  # else stdout
        ("printf '  \\n\\n'; exit 5", "exit 5"),  # else the exit code
    ],
)
def test_last_line_is_what_a_one_line_error_quotes(script: str, want: str) -> None:
    r, _ = make()
    assert r.run("sh", "-c", script, check=False).last_line == want


def test_a_failure_that_said_nothing_names_its_exit_code_once() -> None:
    r, _ = make()
    with pytest.raises(CommandError) as info:
        r.run("sh", "-c", "exit 6")
    assert str(info.value) == "[testnode] `sh -c 'exit 6'` failed with exit 6"


def test_a_failed_infisical_export_quotes_stderr_never_its_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdout of `infisical export` is the secrets themselves, not masked yet when the export fails."""
    fake = tmp_path / "infisical"
    fake.write_text(f'#!/bin/sh\necho \'{{"K": "{CANARY}"}}\'\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    r, _ = make()
    with pytest.raises(ColabError) as info:
        r.run("infisical", "run", "--env", "prod", "--path", "/x", "--", "true")
    assert CANARY not in str(info.value) and "could not read /x in env 'prod' (exit 1)" in str(info.value)


def test_missing_program_is_exit_127() -> None:
    r, _ = make()
    assert r.run("no-such-program-xyz", check=False).returncode == 127


def test_secret_env_reaches_the_command_but_is_masked_everywhere() -> None:
    r, _ = make()
    res = r.run("sh", "-c", 'echo "got $TOKEN"; echo "$TOKEN" >&2', env={"TOKEN": Secret(CANARY), "PLAIN": "p"})
    assert res.stdout == "got ***\n" and res.stderr == "***\n"
    assert r.history == ['TOKEN=*** PLAIN=p sh -c \'echo "got $TOKEN"; echo "$TOKEN" >&2\'']
    assert CANARY not in repr(Secret(CANARY)) and CANARY not in str(Secret(CANARY))


def test_secret_in_argv_is_refused() -> None:
    r, _ = make()
    r.run("true", env={"TOKEN": Secret(CANARY)})
    with pytest.raises(ColabError, match="refusing to put a secret in a command line"):
        r.run("echo", f"--password={CANARY}")


def test_secret_on_stdin_is_readable_by_the_command() -> None:
    r, _ = make()
    res = r.run("sh", "-c", 'read v; [ "${#v}" -eq 24 ] && echo "len ok: $v"', stdin=Secret(CANARY + "\n"))
    assert res.stdout == "len ok: ***"  # the masked value included its newline
    assert r.history[-1].endswith("<<< ***")


def test_dry_run_prints_in_order_and_runs_nothing(tmp_path: Path) -> None:
    r, buf = make(dry_run=True)
    marker = tmp_path / "made"
    r.run("touch", str(marker))
    r.run("sh", "-c", "echo hi", env={"PW": Secret(CANARY)}, cwd="/srv")
    r.run("test", "-e", "/x", mutating=False)  # read-only probes are not part of the plan
    assert not marker.exists()
    lines = buf.getvalue().splitlines()
    assert lines == [f"[testnode] $ touch {marker}", "[testnode] $ cd /srv && PW=*** sh -c 'echo hi'"]
    assert CANARY not in buf.getvalue()


def test_remote_command_puts_env_on_stdin_not_argv() -> None:
    args, payload = remote_command(["printenv", "A", "B"], {"A": CANARY, "B": "two words"}, "/tmp")
    assert all(CANARY not in a for a in args)
    assert payload == CANARY.encode() + b"\0two words\0"
    # Run the very same argv locally with the payload on stdin: the variables arrive intact.
    out = subprocess.run(args, input=payload + b"rest-of-stdin", capture_output=True, check=True).stdout
    assert out.decode() == f"{CANARY}\ntwo words\n"


def test_remote_command_keeps_the_commands_own_stdin() -> None:
    args, payload = remote_command(["cat"], {"A": "x"}, None)
    out = subprocess.run(args, input=payload + b"data after env", capture_output=True, check=True).stdout
    assert out == b"data after env"


def test_remote_command_rejects_bad_variable_names() -> None:
    with pytest.raises(ColabError, match="invalid environment variable name"):
        remote_command(["true"], {"A; rm -rf /": "x"}, None)


def test_runner_for_is_local_on_this_node_and_ssh_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = load(ROOT / "cluster.toml")
    monkeypatch.setenv(runner_mod.ENV_NODE, "director")
    assert runner_for(inv, inv.node("director")).transport_factory is None
    assert runner_for(inv, inv.node("cooperator")).transport_factory is not None


def test_ssh_to_the_real_cluster_is_refused_before_connecting() -> None:
    from colab.errors import NetworkGuardError

    with pytest.raises(NetworkGuardError, match=r"refusing to open an SSH connection to 100\.64\.0\.2"):
        SshTransport("100.64.0.2", "crtr")


def test_dry_run_on_the_default_inventory_contacts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = load(ROOT / "cluster.toml")
    monkeypatch.setenv(runner_mod.ENV_NODE, "somewhere-else")
    buf = io.StringIO()
    r = runner_for(inv, inv.node("cooperator"), dry_run=True, console=Console(file=buf, width=200))
    r.run("systemctl", "restart", "smbd")
    assert r._transport is None  # no connection was even attempted
    assert buf.getvalue().strip() == "[cooperator] $ systemctl restart smbd"


def test_ssh_options_that_run_a_program_are_refused_before_ssh_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    require_tool("ssh")
    marker = tmp_path / "proxy-command-ran"
    monkeypatch.setenv(runner_mod.ENV_SSH_OPTS, f"-o 'ProxyCommand=touch {marker}' -o ConnectTimeout=2")
    with pytest.raises(NetworkGuardError) as info:
        SshTransport("127.0.0.1", "nobody", 9)
    assert str(info.value).startswith("COLAB_SSH_OPTS: ProxyCommand: runs a program on this machine")
    assert not marker.exists()


def test_under_the_guard_ssh_reads_no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[str]] = {}

    class Machine:
        def __init__(self, host: str, **kwargs: object) -> None:
            seen["opts"] = list(kwargs["ssh_opts"])  # type: ignore[call-overload]

        def close(self) -> None:
            pass

    monkeypatch.setattr(runner_mod, "SshMachine", Machine)
    monkeypatch.setenv(runner_mod.ENV_SSH_OPTS, "-o LogLevel=ERROR")
    SshTransport("127.0.0.1", "crtr").close()
    assert seen["opts"][:4] == ["-F", "/dev/null", "-o", "LogLevel=ERROR"]


def test_unbalanced_quotes_in_ssh_options_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runner_mod.ENV_SSH_OPTS, "-o 'LogLevel=ERROR")
    with pytest.raises(ColabError, match=r"^COLAB_SSH_OPTS: No closing quotation; quote it as in a shell$"):
        SshTransport("127.0.0.1", "crtr")
