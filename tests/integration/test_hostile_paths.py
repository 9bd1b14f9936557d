"""Hostile paths through the real readers of the files they reach: a handful of examples each.

tests/unit/test_hostile_paths.py checks many values with cheap stand-ins for these tools; here the tools
themselves read what render, raid.create and fortress.share write for a few values made of every kind of
trouble (spaces, `%` specifiers, `$( )`, backticks, quotes, backslashes, `{{ }}`, non-ASCII letters):
systemd-analyze verify (mount units), testparm (the share), findmnt (the fstab line), mise (the node's tasks
and environment) and chezmoi (init with the checkout at such a path). None of them may run what a value plants.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from colab import inventory, quoting
from colab.render import disk
from colab.render.tree import render_tree
from colab.storage import mounts, raid, samba
from tests.conftest import DEFAULT_INVENTORY, require_tool
from tests.harness import units
from tests.integration.test_chezmoi import chezmoi, clean_env
from tests.integration.test_mise import mise, node_setup

pytestmark = [pytest.mark.integration, pytest.mark.tools]

PWNED = Path(f"/tmp/PWNED-{os.getpid()}")
PLANT = f"$(touch {PWNED}) `touch {PWNED}`;touch {PWNED}"
DEFAULT = tomllib.loads(DEFAULT_INVENTORY.read_text())


@pytest.fixture(autouse=True)
def nothing_planted_runs() -> Any:
    PWNED.unlink(missing_ok=True)
    yield
    assert not PWNED.exists(), "a command planted in a path ran"


def inventory_with(**values: str) -> inventory.Inventory:
    """The default inventory with these dotted keys set (`repo` sets every node's checkout)."""
    data = copy.deepcopy(DEFAULT)
    for key, value in values.items():
        if key == "repo":
            for node in data["nodes"].values():
                node["repo"] = value
            continue
        *parents, last = key.split("__")
        table = data
        for part in parents:
            table = table[part]
        table[last] = value
    return inventory.from_dict(data)


MOUNT_POINTS = [
    "/mnt/my fortress",
    "/mnt/100% %i %h %%",
    f"/mnt/{PLANT}",
    '/mnt/it\'s "q" \\b',
    "/mnt/fört-ress {{ x }} #;[a]",
]


@pytest.mark.parametrize("where", MOUNT_POINTS)
def test_mount_units_pass_systemd_analyze_verify(tmp_path: Path, where: str) -> None:
    require_tool("systemd-analyze", "systemd-escape")
    inv = inventory_with(fortress__mounts__linux=where)
    stem = subprocess.run(["systemd-escape", "--path", where], capture_output=True, text=True, check=True).stdout
    assert quoting.systemd_escape_path(where) == stem.strip()
    for node in ("director", "writer"):
        assert f"{stem.strip()}.mount" in mounts.units(inv, inv.nodes[node])
        paths = units.lay_out(inv, inv.nodes[node], tmp_path / node)  # the mount, the password unit, Docker's drop-in
        res = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=60)
        ours = [line for line in (res.stdout + res.stderr).splitlines() if str(tmp_path) in line or "mnt" in line]
        # verify also refuses a unit whose Where= (specifiers resolved) does not match its name
        assert res.returncode == 0 and ours == [], res.stdout + res.stderr


SHARE_PATHS = ["/srv/my share", f"/srv/{PLANT} #x", '/srv/it\'s "q" \\b {{ x }}', "/srv/fört ress [x] = y ;z"]


@pytest.mark.parametrize("path", SHARE_PATHS)
def test_share_include_loads_in_testparm_with_the_path_as_written(tmp_path: Path, path: str) -> None:
    require_tool("testparm")
    inv = inventory_with(fortress__path=path)
    include = tmp_path / "colab-fortress.conf"
    include.write_text(samba.render(inv))
    res = subprocess.run(["testparm", "-s", str(include)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert not any(w in res.stderr.lower() for w in ("unknown parameter", "ignoring", "error")), res.stderr

    def value(name: str) -> str:
        argv = ["testparm", "-s", "--section-name", "fortress", "--parameter-name", name, str(include)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.rstrip("\n")

    assert value("path") == path
    assert (value("guest ok"), value("valid users")) == ("No", f"@{inv.fortress.group}")


BACKUP_MOUNTS = ["/mnt/my backup", "/mnt/a\\040b\\c", f"/mnt/#x ;y {PLANT}", "/mnt/ü %h 'q'"]


@pytest.mark.parametrize("where", BACKUP_MOUNTS)
def test_fstab_line_is_read_by_findmnt_as_the_mount_point(tmp_path: Path, where: str) -> None:
    """raid.create's own fstab script (blkid standing in), then util-linux's parser reads the result."""
    require_tool("findmnt")
    inv = inventory_with(raid__mount=where)
    fstab, fake = tmp_path / "fstab", tmp_path / "bin"
    fstab.write_text("# /etc/fstab\nUUID=1111 / ext4 defaults 0 1\n")
    fake.mkdir()
    (fake / "blkid").write_text("#!/bin/sh\necho 0d6f2c4e-1f5a-4b8e-9a77-3c2b1d0e9f10\n")
    (fake / "blkid").chmod(0o755)
    args = raid.fstab_add_args(raid.plan_from(inv), str(fstab))
    env = {"PATH": f"{fake}:/usr/bin:/bin"}
    res = subprocess.run(["sh", "-c", raid._FSTAB_ADD, "sh", *args], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    read = subprocess.run(
        ["findmnt", "--fstab", "--tab-file", str(fstab), "-J", "-o", "SOURCE,TARGET,OPTIONS"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(read.stdout)["filesystems"]
    assert [f["target"] for f in found] == ["/", where]
    assert found[1]["source"] == "UUID=0d6f2c4e-1f5a-4b8e-9a77-3c2b1d0e9f10" and "nofail" in found[1]["options"]
    assert raid.fstab_entry(fstab.read_text(), where) is not None  # and the step's own check finds it again


def test_mise_keeps_checkout_and_descriptions_literal(tmp_path: Path) -> None:
    """The backup node's tasks with a checkout full of shell and cron trouble and a backup source full of
    Tera: mise lists the descriptions as written, sets COLAB_REPO to the checkout, runs the task there."""
    repo = tmp_path / f"my colab {PLANT} 'q' \"d\" %U ü \\x"
    source = f"/srv/{{{{ exec(command='touch {PWNED}') }}}} {{% raw %}} {{# c"
    inv = inventory_with(repo=str(repo), backup__source=source)
    tree = render_tree(inv)
    work, env = node_setup(tmp_path, tree, "cooperator")
    (repo / ".venv/bin").mkdir(parents=True)
    record = tmp_path / "record"
    inv_bin = repo / ".venv/bin/inv"
    inv_bin.write_text(f'#!/bin/sh\nprintf "%s\\0" "$(pwd)" "$@" > {record}\n')
    inv_bin.chmod(0o755)

    listed = {t["name"]: t for t in json.loads(mise(work, env, "tasks", "ls", "--json").stdout)}
    assert listed["backup:daily"]["description"] == f"Daily snapshot of {source} on cooperator"
    assert listed["backup:daily"]["dir"] == listed["deploy:gitea"]["dir"] == str(repo)
    assert json.loads(mise(work, env, "env", "--json").stdout)["COLAB_REPO"] == str(repo)
    for task in ("backup:status", "deploy:gitea"):  # the node's own task, and a shared one ({{env.COLAB_REPO}})
        mise(work, env, "run", task)
        cwd, *args = record.read_text().split("\0")[:-1]
        assert cwd == str(repo) and args[0] in ("backup.status", "deploy")


def test_chezmoi_init_with_the_checkout_at_a_hostile_path(tmp_path: Path) -> None:
    """`.chezmoi.toml.tmpl` compares chezmoi's source with the node's checkout (from checkouts.toml) and
    writes it as sourceDir: both must read the path back exactly, quotes and backslashes included."""
    root = tmp_path / f"co {PLANT} 'q' \"d\" \\b %U ü"
    inv = inventory_with(repo=str(root))
    disk.write_tree(render_tree(inv), root)
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, COLAB_NODE="director")
    chezmoi(home, "init", "--apply", "--exclude=scripts", "--source", str(root), "--destination", str(home), env=env)
    config = tomllib.loads((home / ".config/chezmoi/chezmoi.toml").read_text())
    assert config["sourceDir"] == str(root) and config["data"]["node"] == "director"
    assert f"export COLAB_REPO={quoting.sh(str(root))}\n" in (home / ".config/colab/env.sh").read_text()
    chezmoi(home, "verify", "--exclude=scripts", "--destination", str(home), env=env)
