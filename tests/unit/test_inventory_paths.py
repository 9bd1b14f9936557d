"""The characters inventory values may hold where they reach a file or a command (colab.inventory_paths).

Each rejection is the house pattern: (key, value) -> the exact one line `inventory.check` prints for it; the
values that must pass are the ordinary ones a real folder name has (spaces, apostrophes, non-ASCII letters)
and the hostile ones every rendered file quotes for its own language (test_hostile_paths.py proves that).
"""

from __future__ import annotations

import copy
import io
import tomllib
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from colab import inventory, inventory_view
from colab.errors import InventoryError
from colab.steps import Outcome, Report, Status
from tests.harness.inv import run_inv

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = tomllib.loads((ROOT / "cluster.toml").read_text())

NORMAL = "must be a path in normal form (no '//', '/./', '/../' or trailing '/'): write"
CONTROL = "is not allowed in a path: control characters never are"
SPACES = "is not allowed in a path: the plain space is the only white space allowed"
DEVICE = "is not allowed in a device path: device names use letters, digits and #+-.:=@_"
SECRET = "must be an Infisical folder path: '/' or /-separated folder names of letters, digits, '-' and '_'"
TEXT = "is not allowed here: control characters never are"
BRACE = (
    "'{' is not allowed in a checkout path: mise expands {{ }}, {% %} and {# #} in a task's dir and renders it "
    "twice, so no escape holds; use another folder name"
)


def with_value(key: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(DEFAULT)
    *parents, last = key.split(".")
    table: Any = data
    for part in parents:
        table = table[int(part)] if part.isdigit() else table[part]
    table[int(last) if last.isdigit() else last] = value
    return data


def problems(key: str, value: Any) -> list[str]:
    with pytest.raises(InventoryError) as info:
        inventory.from_dict(with_value(key, value), "cluster.toml")
    return info.value.problems


# (key, value, the exact line) — one problem each, naming the key and the character.
REJECTIONS = [
    (
        "nodes.cooperator.repo",
        "/home/crtr/colab\n* * * * * root touch /tmp/x",
        f"nodes.cooperator.repo: a newline (U+000A) {CONTROL} (got '/home/crtr/colab\\n* * * * * root touch /tmp/x')",
    ),
    (
        "nodes.cooperator.repo",
        "/home/crtr/co\x7flab",
        f"nodes.cooperator.repo: a DEL (U+007F) {CONTROL} (got '/home/crtr/co\\x7flab')",
    ),
    (
        "nodes.writer.repo",
        "/home/crtr/\tcolab",
        f"nodes.writer.repo: a tab (U+0009) {CONTROL} (got '/home/crtr/\\tcolab')",
    ),
    (
        "backup.source",
        "/media/fortress\r",
        f"backup.source: a carriage return (U+000D) {CONTROL} (got '/media/fortress\\r')",
    ),
    ("backup.target", "/mnt/b\x1b[31m", f"backup.target: an escape (U+001B) {CONTROL} (got '/mnt/b\\x1b[31m')"),
    ("raid.mount", "/mnt/b\x00", f"raid.mount: a NUL (U+0000) {CONTROL} (got '/mnt/b\\x00')"),
    (
        "fortress.mounts.macos",
        "/Volumes/f\x85",
        f"fortress.mounts.macos: a control character (U+0085) {CONTROL} (got '/Volumes/f\\x85')",
    ),
    (
        "nodes.writer.repo",
        "/home/co\u200blab",
        "nodes.writer.repo: U+200B ZERO WIDTH SPACE is not allowed in a path: invisible formatting characters "
        "never are (got '/home/co\\u200blab')",
    ),
    (
        "fortress.mounts.linux",
        "/mnt/\u202efortress",
        "fortress.mounts.linux: U+202E RIGHT-TO-LEFT OVERRIDE is not allowed in a path: invisible formatting "
        "characters never are (got '/mnt/\\u202efortress')",
    ),
    (
        "nodes.writer.repo",
        "/home/co\u00a0lab",
        f"nodes.writer.repo: U+00A0 NO-BREAK SPACE {SPACES} (got '/home/co\\xa0lab')",
    ),
    ("raid.mount", "/mnt/a\u2028b", f"raid.mount: U+2028 LINE SEPARATOR {SPACES} (got '/mnt/a\\u2028b')"),
    (
        "fortress.path",
        "/srv/fortress\n   guest ok = yes",
        f"fortress.path: a newline (U+000A) {CONTROL} (got '/srv/fortress\\n guest ok = yes')",
    ),
    (
        "nodes.writer.repo",
        "/home/crtr/colab ",
        "nodes.writer.repo: a path may not end with a space: smb.conf and systemd units drop trailing white space "
        "(got '/home/crtr/colab ')",
    ),
    (
        "fortress.path",
        "/srv/fortress\\",
        "fortress.path: a path may not end with '\\': it continues the line in smb.conf and systemd units "
        "(got '/srv/fortress\\\\')",
    ),
    ("nodes.writer.repo", "/home//crtr", f"nodes.writer.repo: {NORMAL} '/home/crtr' (got '/home//crtr')"),
    ("backup.source", "/srv/x/../fortress", f"backup.source: {NORMAL} '/srv/fortress' (got '/srv/x/../fortress')"),
    (
        "fortress.mounts.linux",
        "/mnt/./fortress/",
        f"fortress.mounts.linux: {NORMAL} '/mnt/fortress' (got '/mnt/./fortress/')",
    ),
    ("raid.mount", "mnt/backup", "raid.mount: must be an absolute path, starting with '/' (got 'mnt/backup')"),
    ("nodes.writer.repo", "", "nodes.writer.repo: must be an absolute path, starting with '/' (got '')"),
    (
        "nodes.writer.repo",
        "/home/{{ exec(command='id') }}",
        f"nodes.writer.repo: {BRACE} (got \"/home/{{{{ exec(command='id') }}}}\")",
    ),
    ("nodes.writer.repo", "/home/{# x", f"nodes.writer.repo: {BRACE} (got '/home/{{# x')"),
    (
        "nodes.writer.repo",
        "/home/a:b",
        "nodes.writer.repo: ':' is not allowed in a checkout path: the tasks put <repo>/.venv/bin on PATH, which "
        "':' splits (got '/home/a:b')",
    ),
    (
        "fortress.path",
        "/srv/100%U",
        "fortress.path: '%' is not allowed in the share's path: Samba expands %-variables (%U, %$(NAME) …) in "
        "smb.conf and has no escape for '%'; rename the folder (got '/srv/100%U')",
    ),
    ("fortress.device", "mmcblk0", "fortress.device: must be a device path under /dev/ (got 'mmcblk0')"),
    ("fortress.device", "/dev/mmc blk0", f"fortress.device: a space {DEVICE} (got '/dev/mmc blk0')"),
    ("raid.disks.1", "/dev/disk/by-id/x;reboot", f"raid.disks[1]: ';' {DEVICE} (got '/dev/disk/by-id/x;reboot')"),
    ("raid.device", "/dev/md$(id)", f"raid.device: '$' {DEVICE} (got '/dev/md$(id)')"),
    ("services.gitea.secrets_path", "/gi tea", f"services.gitea.secrets_path: {SECRET} (got '/gi tea')"),
    ("fortress.password_path", "/samba/../x", f"fortress.password_path: {SECRET} (got '/samba/../x')"),
    ("networks.headscale_key_path", "headscale", f"networks.headscale_key_path: {SECRET} (got 'headscale')"),
    (
        "cluster.repo_url",
        "https://git.x/c.git\x7f",
        f"cluster.repo_url: a DEL (U+007F) {TEXT} (got 'https://git.x/c.git\\x7f')",
    ),
    ("backup.ping_url", "https://hc.x/a\x00", f"backup.ping_url: a NUL (U+0000) {TEXT} (got 'https://hc.x/a\\x00')"),
    ("services.gitea.health", "http://x/\n", f"services.gitea.health: a newline (U+000A) {TEXT} (got 'http://x/\\n')"),
    (
        "infisical.project_id",
        "--help",
        "infisical.project_id: must be an Infisical project id: letters, digits and ._-, not starting with '-' "
        "(got '--help')",
    ),
    (
        "tools.python",
        "{{ exec(command='id') }}",
        "tools.python: must be a version of letters, digits and ._+:@/- (mise reads it as a template), e.g. 3.11 "
        "or lts (got \"{{ exec(command='id') }}\")",
    ),
    (
        "fortress.mounts.linux",
        "/mnt/" + "ü" * 40,
        "fortress.mounts.linux: its systemd unit name (mnt-\\xc3\\xbc\\xc3\\xbc\\xc3…) would be 334 characters, more "
        "than systemd's 255 (each byte of a non-ASCII letter takes 4); use a shorter path",
    ),
]


@pytest.mark.parametrize(("key", "value", "line"), REJECTIONS, ids=[f"{k}={v!r}"[:50] for k, v, _ in REJECTIONS])
def test_a_bad_value_is_one_line_naming_key_and_character(key: str, value: str, line: str) -> None:
    assert problems(key, value) == [line]


# Ordinary folder names, and hostile ones that every file the value reaches can quote.
ACCEPTED = [
    ("nodes.terminator.repo", "/Users/Jane Doe/My Colab (2024)"),
    ("nodes.terminator.repo", "/Users/jörg/コラブ/colab's copy #2"),
    ("nodes.cooperator.repo", "/srv/a; b $(touch /tmp/x) `id` 'q' \"d\" c\\d 100% & | < > * ? ~ ! [x] =,+@"),
    ("backup.source", "/srv/{{ exec(command='id') }} {% raw %} {# c #} %U"),
    ("backup.target", "/mnt/b\\ $HOME"),
    ("fortress.path", "/srv/share; $(id) `id` {{ x }} 'q' \"d\" \\x ü"),
    ("fortress.mounts.linux", "/mnt/my fort %i \\ress {{ x }}"),
    ("raid.mount", "/mnt/my backup %h"),
    ("raid.disks.0", "/dev/disk/by-id/usb-Generic_Flash_Disk_12345678-0:0"),
    ("services.gitea.secrets_path", "/apps/gitea_prod-1"),
    ("fortress.password_path", "/"),
]


@pytest.mark.parametrize(("key", "value"), ACCEPTED, ids=[f"{k}={v!r}"[:50] for k, v in ACCEPTED])
def test_real_folder_names_and_quotable_characters_pass(key: str, value: str) -> None:
    inventory.from_dict(with_value(key, value), "cluster.toml")


def test_inventory_set_refuses_a_bad_path_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_bytes((ROOT / "cluster.toml").read_bytes())
    before = path.read_bytes()
    for raw, char in (
        ('"/home/crtr/colab\\n* * * * * root touch /tmp/PWNED"', "a newline (U+000A)"),
        ('"/home/crtr/co\\u007flab"', "a DEL (U+007F)"),
    ):
        res = run_inv("inventory.set", "nodes.cooperator.repo", raw, "--inventory", str(path), timeout=60)
        assert res.returncode == 1, res.stderr
        (line,) = res.stderr.splitlines()
        assert line.startswith(f"error: {path} (after setting nodes.cooperator.repo): nodes.cooperator.repo: {char} ")
        assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cluster.toml"]  # no temporary file left either


def test_inventory_set_takes_a_path_with_spaces(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_bytes((ROOT / "cluster.toml").read_bytes())
    res = run_inv(
        "inventory.set", "nodes.terminator.repo", "/Users/Jane Doe/colab", "--inventory", str(path), timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert inventory.load(path).nodes["terminator"].repo == "/Users/Jane Doe/colab"


def test_tables_print_a_path_with_brackets_as_written() -> None:
    """Rich reads `[x]` as markup (`[/b]` even raises): inventory values are printed as plain text."""
    path = "/srv/[/b]fortress [red]x[/red]"
    inv = inventory.from_dict(with_value("fortress.path", path), "cluster.toml")
    report = Report("share")
    report.outcomes.append(Outcome("cooperator", f"folder {path}/data", Status.CHANGED, f"created {path}/data"))
    out = io.StringIO()
    console = Console(file=out, width=400)
    console.print(inventory_view.tables(inv))
    console.print(report.table())
    assert out.getvalue().count(path) == 4  # the server's fortress, the share, the step and its detail
