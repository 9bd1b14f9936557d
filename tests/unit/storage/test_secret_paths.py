"""The password's way from Infisical to each tool, run for real: the planned argv under the Infisical
stand-in, real `sh`, `printf`, `od`, and small fakes in place of the OS tools that cannot run here
(sudo, smbpasswd, smbclient, macOS `security`, Windows PowerShell). The Linux mount no longer passes the
password through here: the boot unit fetches it on the node (tests/unit/storage/test_boot_script.py).

Each fake records its own argv and whether the password reached it where it should (environment or
stdin), as "match" / "other" / "none", never the value. Every record is then checked for the CANARY.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from plumbum import local
from rich.console import Console

from colab import inventory
from colab.errors import ColabError
from colab.runner import Runner
from colab.storage import fortress_share, mounts
from tests.conftest import CANARY, FakeInfisical

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")
OTHER = inventory.load(ROOT / "tests" / "fixtures" / "inventories" / "other.toml")  # two Samba users
DIRECTOR, TERMINATOR, WRITER = INV.node("director"), INV.node("terminator"), INV.node("writer")

FAKES = {
    "sudo": """#!/bin/sh
[ "$1" = -n ] && shift
echo "sudo $*" >> "$LOG"
exec "$@"
""",
    "smbpasswd": """#!/bin/sh
if IFS= read -r one; then
  IFS= read -r two; [ "$one" = "$EXPECT" ] && [ "$two" = "$EXPECT" ] && seen=match || seen=other
else
  seen=none
fi
echo "smbpasswd $* stdin=$seen" >> "$LOG"
""",
    "smbclient": """#!/bin/sh
[ "${PASSWD:-}" = "$EXPECT" ] && seen=match || seen=other
echo "smbclient $* PASSWD=$seen" >> "$LOG"
[ "$seen" = match ] || { echo "session setup failed: NT_STATUS_LOGON_FAILURE"; exit 1; }
""",
    "security": """#!/usr/bin/env python3
import os, shlex, sys
log = open(os.environ["LOG"], "a")
args = sys.argv[1:]
if args[:1] == ["-i"]:
    if os.environ.get("LOCKED"):
        sys.stderr.write("security: SecKeychainItemCreateFromContent: User interaction is not allowed.\\n")
        print("add-internet-password: returned 25308", file=sys.stderr)
        sys.exit(1)
    for line in sys.stdin:
        words = shlex.split(line)
        data = bytes.fromhex(words[words.index("-X") + 1]).decode()
        shown = [w if i == 0 or words[i - 1] != "-X" else "<hex>" for i, w in enumerate(words)]
        seen = "match" if data == os.environ["EXPECT"] else "other"
        log.write(f"security -i <<< {' '.join(shown)} password={seen}\\n")
    sys.exit(0)
log.write("security " + " ".join(args) + "\\n")
if args[:1] == ["find-internet-password"]:
    stored = os.environ.get("STORED")
    if stored is None:
        sys.exit(44)
    print(stored)
""",
    "powershell.exe": """#!/usr/bin/env python3
import os, sys
seen = "match" if os.environ.get("COLAB_NAS_SAMBA_PASSWORD") == os.environ["EXPECT"] else "other"
with open(os.environ["LOG"], "a") as log:
    log.write(f"powershell WSLENV={os.environ.get('WSLENV')} password={seen} argc={len(sys.argv) - 1}\\n")
""",
}


@pytest.fixture
def fakes(tmp_path: Path, fake_infisical: FakeInfisical) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in FAKES.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    fake_infisical.set("/samba", COLAB_NAS_SAMBA_PASSWORD=CANARY)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(tmp_path / "log"), "EXPECT": CANARY}


def run(argv: list[str], env: dict[str, str], **kwargs: str) -> tuple[int, list[str]]:
    assert CANARY not in " ".join(argv)
    res = subprocess.run(argv, env={**env, **kwargs}, capture_output=True, text=True, timeout=30)
    log = Path(env["LOG"]).read_text().splitlines() if Path(env["LOG"]).exists() else []
    assert CANARY not in res.stdout + res.stderr
    assert not any(CANARY in line for line in log)  # no tool saw it in its argv
    Path(env["LOG"]).unlink(missing_ok=True)
    return res.returncode, log


def test_samba_password_is_typed_twice_on_smbpasswd_stdin(fakes: dict[str, str]) -> None:
    script = fortress_share.set_script("COLAB_NAS_SAMBA_PASSWORD", sudo=True)
    argv = fortress_share._password_argv(INV, script, "/etc/samba/smb.conf", "crtr")
    rc, log = run(argv, fakes)
    assert rc == 0
    assert log == [
        "sudo smbpasswd -c /etc/samba/smb.conf -s -a crtr",
        "smbpasswd -c /etc/samba/smb.conf -s -a crtr stdin=match",
        "sudo smbpasswd -c /etc/samba/smb.conf -e crtr",  # enabled, in case it was disabled
        "smbpasswd -c /etc/samba/smb.conf -e crtr stdin=none",
    ]


def test_samba_login_check_hands_the_password_to_smbclient_in_passwd(fakes: dict[str, str]) -> None:
    script = fortress_share.login_script("COLAB_NAS_SAMBA_PASSWORD")
    argv = fortress_share._password_argv(INV, script, "445", "crtr", "fortress")
    rc, log = run(argv, fakes)
    assert rc == 0
    assert log == ["smbclient -p 445 -U crtr //127.0.0.1/fortress -c exit PASSWD=match"]


def test_keychain_gets_the_password_through_security_stdin(fakes: dict[str, str]) -> None:
    script = mounts.keychain_store_script(INV, TERMINATOR)
    argv = mounts.secrets.run_argv(INV, "/samba", ["sh", "-c", script, "sh", "crtr", "100.64.0.1", "fortress (colab)"])
    rc, log = run(argv, fakes)
    assert rc == 0
    assert log == [
        "security -i <<< add-internet-password -U -a crtr -s 100.64.0.1 -r smb  -l fortress (colab) "
        "-T /usr/bin/security -T /System/Library/CoreServices/NetAuthAgent.app -X <hex> password=match"
    ]


@pytest.mark.parametrize(("stored", "rc"), [(CANARY, 0), ("an-old-password", 11), (None, 10)])
def test_keychain_check_compares_without_showing(fakes: dict[str, str], stored: str | None, rc: int) -> None:
    argv = mounts.secrets.run_argv(
        INV, "/samba", ["sh", "-c", mounts.keychain_check_script(INV, TERMINATOR), "sh", "crtr", "1.2.3.4"]
    )
    env = dict(fakes)
    if stored is not None:
        env["STORED"] = stored
    got, log = run(argv, env)
    assert got == rc
    assert log == ["security find-internet-password -a crtr -s 1.2.3.4 -r smb  -w"]


def test_powershell_gets_the_password_only_through_wslenv(fakes: dict[str, str]) -> None:
    argv = mounts.windows_map_argv(INV, WRITER)
    fake = str(Path(fakes["PATH"].split(":")[0]) / "powershell.exe")
    argv[argv.index(mounts.POWERSHELL)] = fake
    rc, log = run(argv, fakes, WSLENV="USERPROFILE/p")
    assert rc == 0
    assert log == ["powershell WSLENV=COLAB_NAS_SAMBA_PASSWORD/u password=match argc=6"]


def test_a_locked_keychain_is_one_clear_error(fakes: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("PATH", "LOG", "EXPECT"):
        monkeypatch.setenv(key, fakes[key])
    monkeypatch.setenv("LOCKED", "1")
    step = mounts.macos_steps(INV, INV.node("terminator"))[0]
    r = Runner("terminator", console=Console(file=io.StringIO()))
    with local.env(PATH=fakes["PATH"]), pytest.raises(ColabError) as info:
        step.act(r)
    assert str(info.value) == (
        "the login Keychain on terminator is locked; unlock it (`security unlock-keychain` in a terminal there, "
        "or log in at the screen) and run again"
    )


@pytest.mark.parametrize(("node", "name"), [("forge", "VAULT_SMB_PASSWORD"), ("studio", "VAULT_SMB_PASSWORD_ME")])
def test_a_client_mounts_with_its_own_users_password(
    fakes: dict[str, str], monkeypatch: pytest.MonkeyPatch, node: str, name: str
) -> None:
    """Two users' passwords in one folder: only the node's own user's reaches the tool."""
    vault = FakeInfisical(monkeypatch, OTHER.infisical.project_id)
    others = {n: "not-this-one-" + n for n in OTHER.fortress.users.values() if n != name}
    vault.set(OTHER.fortress.password_path, env=OTHER.infisical.environment, **{name: CANARY}, **others)
    env = {**fakes, "COLAB_FAKE_INFISICAL_VAULT": os.environ["COLAB_FAKE_INFISICAL_VAULT"]}
    client = OTHER.node(node)
    assert OTHER.fortress_login(client).password_name == name
    if client.os == "macos":
        script = mounts.keychain_store_script(OTHER, client)
        argv = mounts.secrets.run_argv(OTHER, "/smb", ["sh", "-c", script, "sh", client.ssh_user, "s", "i"])
        rc, log = run(argv, env)
        assert rc == 0 and log[0].startswith(f"security -i <<< add-internet-password -U -a {client.ssh_user} ")
        assert log[0].endswith("password=match")
    else:  # the boot unit's script asks for this user's password and writes this user's name (run for real with
        # the default inventory in test_boot_script.py)
        script = mounts.render_colab_file(OTHER, client, "fortress/fortress-password.sh")
        assert f'printf %s "${{{name}:-}}"' in script and f"user={client.ssh_user}  #" in script
        assert not any(other in script for other in others)
