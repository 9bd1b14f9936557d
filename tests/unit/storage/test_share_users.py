"""The share's users: `getent group` and `pdbedit -L` read right, and the removal of Samba users the inventory no
longer lists, run through a local Runner against fakes of getent, pdbedit, smbpasswd and gpasswd that keep their
state in files (so the step's check, act and verify see the removal happen)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from plumbum import local
from rich.console import Console

from colab import inventory
from colab.runner import Runner
from colab.steps import Status, run_steps
from colab.storage import fortress_share
from colab.storage.samba import SambaHost
from tests.conftest import DEFAULT_INVENTORY

INV = inventory.load(DEFAULT_INVENTORY)  # fortress.users: crtr; group fortress


@pytest.mark.parametrize(
    ("text", "members"),
    [("fortress:x:1001:crtr,ann\n", ["crtr", "ann"]), ("fortress:x:1001:\n", []), ("", []), ("odd", [])],
)
def test_group_members(text: str, members: list[str]) -> None:
    assert fortress_share.group_members(text) == members


def test_samba_users() -> None:
    assert fortress_share.samba_users("crtr:1000:\nann:1001:Ann Smith\nnot a line\n") == ["crtr", "ann"]


FAKES = {
    "getent": '#!/bin/sh\nprintf "fortress:x:1001:%s\\n" "$(paste -sd, "$STATE/group")"\n',
    "pdbedit": '#!/bin/sh\nwhile read -r u; do echo "$u:1000:"; done < "$STATE/samba"\n',
    "smbpasswd": '#!/bin/sh\necho "smbpasswd $*" >> "$STATE/log"\n'
    '[ "$3" = -x ] && { grep -vx "$4" "$STATE/samba" > "$STATE/s"; mv "$STATE/s" "$STATE/samba"; }\nexit 0\n',
    "gpasswd": '#!/bin/sh\necho "gpasswd $*" >> "$STATE/log"\n'
    'grep -vx "$2" "$STATE/group" > "$STATE/g"; mv "$STATE/g" "$STATE/group"\n',
}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in FAKES.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("STATE", str(tmp_path))
    return tmp_path


def removal(state: Path, group: list[str], samba: list[str]) -> tuple[Status, str, str, list[str]]:
    (state / "group").write_text("".join(f"{u}\n" for u in group))
    (state / "samba").write_text("".join(f"{u}\n" for u in samba))
    out = io.StringIO()
    with local.env(PATH=os.environ["PATH"]):
        r = Runner("cooperator", console=Console(file=out, width=300))
        report = run_steps("t", [fortress_share.removal_step(INV, SambaHost(), sudo=False)], r)
    log = (state / "log").read_text().splitlines() if (state / "log").exists() else []
    return report.outcomes[0].status, report.outcomes[0].detail, out.getvalue(), log


def test_a_samba_user_of_the_group_no_longer_listed_is_removed_after_saying_so(state: Path) -> None:
    # bob: ours, unlisted -> removed; local: in the group without a Samba account; other: another share's user
    status, detail, printed, log = removal(state, ["crtr", "bob", "local"], ["crtr", "bob", "other"])
    assert status == Status.CHANGED
    assert detail == "removed Samba user(s) bob: in group fortress, no longer in fortress.users"
    assert printed.startswith("fortress.share: removing Samba user bob (in group fortress, no longer in fortress.")
    assert log == ["smbpasswd -c /etc/samba/smb.conf -x bob", "gpasswd -d bob fortress"]
    assert (state / "samba").read_text().split() == ["crtr", "other"]
    assert (state / "group").read_text().split() == ["crtr", "local"]


def test_nothing_to_remove_is_ok_and_touches_nothing(state: Path) -> None:
    status, detail, printed, log = removal(state, ["crtr", "local"], ["crtr", "other"])
    assert (status, detail, printed, log) == (Status.OK, "", "", [])
