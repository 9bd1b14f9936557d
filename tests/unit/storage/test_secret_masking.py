"""Error paths of fortress.share and the mounts, with tools that print the password they were given.

Each step runs for real through a local Runner (its check, then its act) under the Infisical stand-in, with
small fakes for the OS tools that print what they got when they fail, the way some tools quote an input
in an error. The CANARY must reach the fake (it records a sha256 match, never the value) and appear in
none of: the step's outcome, the report as table or JSON, anything printed, the exception text.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from plumbum import local
from rich.console import Console

from colab import inventory
from colab.runner import Runner
from colab.steps import Report, Status, Step, print_report, run_steps
from colab.storage import fortress_share, mounts
from colab.storage.samba import SambaHost
from tests.conftest import CANARY, DEFAULT_INVENTORY, FakeInfisical

INV = inventory.load(DEFAULT_INVENTORY)
SHA = hashlib.sha256(CANARY.encode()).hexdigest()

# `seen VALUE` appends "<tool> match|other" to $LOG: whether the tool got the password.
SEEN = 'seen() { [ "$(printf %s "$2" | sha256sum | cut -d" " -f1)" = "$EXPECT_SHA" ] && r=match || r=other; ' \
       'echo "$1 $r" >> "$LOG"; }'  # fmt: skip
FAKES = {
    "sudo": '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n',
    "mount": "#!/bin/sh\nexit 0\n",  # nothing is mounted
    "smbclient": f"""#!/bin/sh
{SEEN}
seen smbclient "$PASSWD"
if [ -n "${{REJECT:-}}" ]; then echo "session setup failed: NT_STATUS_LOGON_FAILURE"; exit 1; fi
echo "session setup failed for password $PASSWD: NT_STATUS_IO_TIMEOUT" >&2; exit 1
""",
    "smbpasswd": f"""#!/bin/sh
{SEEN}
IFS= read -r one; seen smbpasswd "$one"
echo "Failed to add entry for user $5 with password $one." >&2; exit 1
""",
    "security": """#!/usr/bin/env python3
import hashlib, os, sys
if sys.argv[1:2] == ["find-internet-password"]:
    sys.exit(44)
words = sys.stdin.read().split()
pw = bytes.fromhex(words[words.index("-X") + 1]).decode()
seen = "match" if hashlib.sha256(pw.encode()).hexdigest() == os.environ["EXPECT_SHA"] else "other"
open(os.environ["LOG"], "a").write(f"security {seen}\\n")
print(f"add-internet-password: password {pw}: returned -25299", file=sys.stderr)
""",
    "powershell.exe": f"""#!/bin/sh
{SEEN}
case "$*" in
  *New-SmbMapping*) seen powershell "$COLAB_NAS_SAMBA_PASSWORD"
    echo "New-SmbMapping: the password $COLAB_NAS_SAMBA_PASSWORD is not correct" >&2; exit 1;;
  *) echo none;;
esac
""",
}


@pytest.fixture
def leaky(tmp_path: Path, fake_infisical: FakeInfisical, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in FAKES.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    fake_infisical.set(INV.fortress.password_path, **{INV.fortress.users["crtr"]: CANARY})
    log = tmp_path / "seen.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("LOG", str(log))
    monkeypatch.setenv("EXPECT_SHA", SHA)
    monkeypatch.setattr(mounts, "POWERSHELL", str(bin_dir / "powershell.exe"))
    return log


def run(steps: list[Step], node: str = "testnode") -> tuple[Report, str]:
    buf = io.StringIO()
    console = Console(file=buf, width=400)
    with local.env(PATH=os.environ["PATH"]):
        report = run_steps("test", steps, Runner(node, console=console))
    print_report(report, console)
    print_report(report, console, as_json=True)
    return report, buf.getvalue() + report.to_json()


def assert_masked(report: Report, text: str, log: Path, tools: list[str]) -> None:
    assert report.outcomes[-1].status == Status.FAILED
    assert "***" in report.outcomes[-1].detail
    assert CANARY not in text
    assert log.read_text().split("\n")[:-1] == [f"{tool} match" for tool in tools]  # it reached them


def test_share_login_check_error(leaky: Path) -> None:
    report, text = run([fortress_share.password_step(INV, "crtr", SambaHost(), sudo=False)])
    assert report.outcomes[0].detail.startswith("cannot log in to //127.0.0.1/fortress port 445 as crtr on testnode (")
    assert_masked(report, text, leaky, ["smbclient"])


def test_share_password_set_error(leaky: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REJECT", "1")
    report, text = run([fortress_share.password_step(INV, "crtr", SambaHost(), sudo=True)])
    assert report.outcomes[0].detail.endswith("Failed to add entry for user crtr with password ***.")
    assert_masked(report, text, leaky, ["smbclient", "smbpasswd"])


def _named(steps: list[Step], prefix: str) -> list[Step]:
    return [s for s in steps if s.name.startswith(prefix)]


CASES: dict[str, tuple[Callable[[], list[Step]], list[str]]] = {
    "macOS keychain": (lambda: mounts.macos_steps(INV, INV.node("terminator"))[:1], ["security"]),
    "windows drive": (lambda: _named(mounts.windows_steps(INV, INV.node("writer")), "drive"), ["powershell"]),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_mount_errors(leaky: Path, case: str) -> None:
    steps, tools = CASES[case]
    report, text = run(steps())
    assert_masked(report, text, leaky, tools)
