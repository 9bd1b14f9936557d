"""Property: a path from a hostile alphabet is refused in one line, or every file it reaches still reads back
exactly in its own language, and running the rendered scripts never executes what the path plants.

The alphabet: `;`, `$()`, backticks, newlines, `{{ }}` / `{% %}` / `{# #}`, DEL and other control characters,
`%` and systemd/Samba specifiers, quotes, backslashes, spaces, non-ASCII letters, invisible characters, and
whole planted commands (`$(touch /tmp/PWNED-<pid>)` …). A value goes into some of the path keys (each under
its own folder of a temporary base, so the scripts can really run in it).

Two tests: the first checks many examples with cheap readers (tomllib, json, plistlib, shlex as the shell's
word splitting, and the cron / systemd unit / smb.conf / Tera readers of tests/harness/formats.py); the
second runs the rendered scripts for real on fewer examples (`sh -n`, the cron command, mount-fortress.sh,
the units installer, env.sh, the mount's root shell, the fstab script) with stand-ins for what they change.
The real systemd-analyze, testparm, findmnt and mise check a handful in tests/integration/test_hostile_paths.py.
"""

from __future__ import annotations

import copy
import json
import os
import plistlib
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from colab import inventory, quoting
from colab.backup import install as backup_install
from colab.errors import InventoryError
from colab.inventory import Inventory
from colab.render import chezmoi_source
from colab.render.tree import render_tree
from colab.storage import boot, mounts, raid, samba
from tests.harness import formats

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = tomllib.loads((ROOT / "cluster.toml").read_text())
PWNED = Path(f"/tmp/PWNED-{os.getpid()}")
PLANTS = [
    f"$(touch {PWNED})",
    f"`touch {PWNED}`",
    f";touch {PWNED};",
    f"{{{{ exec(command='touch {PWNED}') }}}}",
    f"'; touch {PWNED}; '",
    f'"; touch {PWNED}; "',
    f"%;touch {PWNED}",
]
PRINTABLE = [";", "$", "(", ")", "`", "{{", "}}", "{%", "%}", "{#", "#}", "%", "%i", "%U", "%$(HOME)", "'", '"',
             "\\", "\\%", " ", "  ", "ü", "コ", "#", "&", "|", "*", "?", "~", "-", ".x", "a..b", "x/y", ":", "=",
             ",", "!", "<", ">", "[x]", "a", "bc"]  # fmt: skip
# What no path may hold: control, invisible and unusual white space characters.
REFUSED = [
    f"\ntouch {PWNED}\n",
    "\n",
    "\t",
    "\r",
    "\x7f",
    "\x00",
    "\x1b",
    "\x85",
    "\u200b",
    "\u00a0",
    "\u2028",
    "\u202e",
]
printable, plants, refused = st.sampled_from(PRINTABLE), st.sampled_from(PLANTS), st.sampled_from(REFUSED)


@st.composite
def segments(draw: st.DrawFn) -> str:
    """Printable pieces and plants; one time in four, a refused character somewhere among them (a value
    refused at once tests little of the files, so most must pass)."""
    pieces = draw(st.lists(st.one_of(printable, printable, plants), min_size=1, max_size=8))
    if draw(st.integers(0, 3)) == 0:
        pieces.insert(draw(st.integers(0, len(pieces))), draw(refused))
    return "".join(pieces)


# Where each key's value lives under the base: the segment comes last, so rules on the end of a path apply.
KEYS = {
    "repo": "r",
    "fortress.path": "f",
    "fortress.mounts.linux": "m",
    "backup.source": "s",
    "backup.target": "t",
    "raid.mount": "d",
}
keys = st.sets(st.sampled_from(sorted(KEYS)), min_size=1)
# The findings of the review, always run: each broke one kind of file before the paths were checked and quoted.
FINDINGS = [
    ({"repo"}, f"my colab %;$(touch {PWNED})"),  # the root cron line: space, %, ; and $( )
    ({"repo"}, f"colab\n* * * * * root touch {PWNED}"),  # a second cron entry
    ({"backup.source"}, f"{{{{ exec(command='touch {PWNED}') }}}}"),  # mise evaluating {{ }} in a description
    ({"repo"}, "co\x7flab"),  # DEL in mise's TOML
    ({"fortress.mounts.linux"}, f"my fort $(touch {PWNED}) %i"),  # the units installer's message; %i in units
    ({"fortress.path"}, "share\n   guest ok = yes"),  # a second parameter in smb.conf
    ({"raid.mount"}, "my backup"),  # a space in the fstab line
]


def findings(test: Any) -> Any:
    for chosen, segment in FINDINGS:
        test = example(chosen=chosen, segment=segment)(test)
    return test


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def hostile_inventory(base: Path, chosen: set[str], segment: str) -> tuple[dict[str, Any], dict[str, str]]:
    data = copy.deepcopy(DEFAULT)
    values = {key: f"{base}/{KEYS[key]}/{segment}" for key in chosen}
    values.setdefault("repo", f"{base}/{KEYS['repo']}/plain")  # the scripts run in it: never a real home
    for key, value in values.items():
        if key == "repo":
            for node in data["nodes"].values():
                node["repo"] = value
        else:
            *parents, last = key.split(".")
            table = data
            for part in parents:
                table = table[part]
            table[last] = value
    return data, values


def load_or_refuse(data: dict[str, Any]) -> Inventory | None:
    """The inventory, or None when it is refused with one line per problem, each naming a path key."""
    try:
        return inventory.from_dict(data, "cluster.toml")
    except InventoryError as e:
        assert e.problems
        for problem in e.problems:
            assert "\n" not in problem and "\r" not in problem, problem
            assert problem.split(":")[0].split(".")[0] in ("nodes", "fortress", "backup", "raid"), problem
        return None


def node_file(tree: dict[str, bytes], node: str, target: str) -> str:
    """A node's rendered file by its target path (relative to home; scripts by name)."""
    for source, data in chezmoi_source.node_files(tree, node).items():
        if chezmoi_source.target_path(source) == target:
            return data.decode()
    raise KeyError(f"{node} has no {target}")


def mise_strings(doc: dict[str, Any]) -> Iterator[str]:
    """Every string mise renders as a template: [env] values and the tasks' description, dir, run, env."""
    yield from (v for v in doc.get("env", {}).values() if isinstance(v, str))
    for task in doc.get("tasks", {}).values():
        for key in ("description", "dir", "run"):
            value = task.get(key)
            yield from ([value] if isinstance(value, str) else value or [])
        yield from task.get("env", {}).get("_", {}).get("path", [])


def sh_words(line: str, prefix: str) -> list[str]:
    """The words the shell makes of the rest of a `prefix…` line (values are quoted, never expanded)."""
    assert line.startswith(prefix), line
    return shlex.split(line.removeprefix(prefix))


# ------------------------------------------------------------------------------------ cheap readers


def check_files(inv: Inventory, tree: dict[str, bytes], values: dict[str, str]) -> None:
    repo = inv.nodes["cooperator"].repo
    for path, data in tree.items():
        if path.endswith(".toml"):
            doc = tomllib.loads(data.decode())
            if "mise" in path:
                for text in mise_strings(doc):
                    formats.tera_text(text)  # raises when Tera would evaluate part of a value
        elif path.endswith(".json"):
            json.loads(data)
        elif path.endswith(".plist"):
            plistlib.loads(data)

    # mise on the backup node: the checkout, and the backup source in the descriptions, read back exactly
    node_mise = tomllib.loads(node_file(tree, "cooperator", ".config/mise/conf.d/colab-node.toml"))
    assert formats.tera_text(node_mise["env"]["COLAB_REPO"]) == repo
    daily = node_mise["tasks"]["backup:daily"]
    assert formats.tera_text(daily["dir"]) == repo
    assert formats.tera_text(daily["env"]["_"]["path"][0]) == f"{repo}/.venv/bin"
    assert formats.tera_text(daily["description"]) == f"Daily snapshot of {inv.backup.source} on cooperator"
    checkouts = tomllib.loads(tree["chezmoi/.nodes/checkouts.toml"].decode())
    assert set(checkouts["checkout"].values()) == {repo, inv.nodes["terminator"].repo}

    # the backup node's /etc/cron.d file: daily, weekly and the off-site copy and check, each running root's own
    # install (never the checkout: no inventory path reaches root's cron file) with one argument
    cron = node_file(tree, "cooperator", ".config/colab/backup/colab-backup.cron")
    env, entries = formats.cron_d(cron)
    assert env == {"SHELL": "/bin/sh", "PATH": env["PATH"], "COLAB_BACKUP_LOG_DIR": "/var/log/colab"}
    assert [(e.user, shlex.split(formats.cron_command(e.command))) for e in entries] == [
        ("root", [backup_install.cron_script(), kind]) for kind in ("daily", "weekly", "offsite", "offsite-check")
    ]
    assert repo not in cron

    # env.sh: every export reads back as the value
    for node, fortress in (("cooperator", inv.fortress.path), ("director", inv.fortress.mounts.linux)):
        exports = dict(
            sh_words(line, "export ")[0].split("=", 1)
            for line in node_file(tree, node, ".config/colab/env.sh").splitlines()
            if line.startswith("export ")
        )
        assert (exports["COLAB_REPO"], exports["COLAB_FORTRESS"]) == (repo, fortress)

    # the mount units (a Debian client and a WSL node) and the installer's unit name
    stem = quoting.systemd_escape_path(inv.fortress.mounts.linux)
    for node in ("director", "writer"):
        mount = formats.systemd_unit(node_file(tree, node, ".config/colab/fortress/fortress.mount"))
        assert mount["Mount"]["Where"] == inv.fortress.mounts.linux
        password = formats.systemd_unit(node_file(tree, node, ".config/colab/fortress/fortress-password.service"))
        assert password["Unit"]["Description"].startswith(f"fortress password for {stem}.mount ")
        script = node_file(tree, node, "20-fortress-units.sh").splitlines()
        assert sh_words(next(x for x in script if x.startswith("unit=")), "unit=") == [stem]
        assert sh_words(next(x for x in script if x.startswith("mount=")), "mount=") == [inv.fortress.mounts.linux]
        fetch = node_file(tree, node, ".config/colab/fortress/fortress-password.sh").splitlines()
        assert sh_words(next(x for x in fetch if x.startswith("unit=")), "unit=") == [f"{stem}.mount"]
    # Docker (Debian) and smbd (the server) wait for the mount: the path read back as systemd splits it
    for node, source, path in (
        ("director", ".config/colab/docker/fortress.conf", inv.fortress.mounts.linux),
        ("cooperator", ".config/colab/docker/fortress.conf", inv.fortress.path),
        ("cooperator", ".config/colab/fortress/smbd-fortress.conf", inv.fortress.path),
    ):
        dropin = formats.systemd_unit(node_file(tree, node, source))
        assert formats.systemd_words(dropin["Unit"]["RequiresMountsFor"]) == [path]
    assert formats.systemd_unit(boot.server_unit(inv, "0d6f-42"))["Mount"]["Where"] == inv.fortress.path

    # the share's smb.conf include: exactly our parameters, the path as it is
    share = formats.smb_conf(samba.render(inv))[inv.fortress.share]
    assert share["path"] == inv.fortress.path and share["guest ok"] == "no"
    assert set(share) == set(samba.share_settings(inv))

    # the fstab line raid.create appends: six fields, the mount point found again by the step's own check
    plan = raid.plan_from(inv)
    _, mnt, fs, opts, _ = raid.fstab_add_args(plan)
    line = f"UUID=0d6f2c4e {mnt} {fs} {opts} 0 2"
    assert len(line.split()) == 6
    assert raid.fstab_entry(line, inv.raid.mount) == line.split()
    assert plan.label.encode() == plan.label.encode()[:12]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@findings
@given(chosen=keys, segment=segments())
def test_hostile_path_is_refused_or_read_back_exactly(base: Path, chosen: set[str], segment: str) -> None:
    data, values = hostile_inventory(base, chosen, segment)
    inv = load_or_refuse(data)
    if inv is None:
        return
    tree = render_tree(inv)  # refuses a TOML, JSON or plist file that does not parse
    check_files(inv, tree, values)


# ------------------------------------------------------------------------------ running the scripts


def exe(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)


# A stand-in that records how it was called: its own path, then each argument, NUL-separated; and its folder.
RECORD = '#!/bin/sh\n{ printf "%s\\0" "$0" "$@"; printf "cwd=%s\\0" "$(pwd)"; } >> "$COLAB_RECORD"\n'


def run(argv: list[str], record: Path, fake: Path, home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{fake}:/usr/bin:/bin",
        "HOME": str(home),
        "CHEZMOI_DEST_DIR": str(home),
        "COLAB_RECORD": str(record),
    }
    return subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, timeout=30)


def calls(record: Path) -> list[str]:
    text = record.read_text() if record.exists() else ""
    record.unlink(missing_ok=True)
    return text.split("\0")[:-1]


def run_scripts(inv: Inventory, tree: dict[str, bytes], work: Path) -> None:
    repo = Path(inv.nodes["cooperator"].repo)
    home, fake, record = work / "home", work / "bin", work / "record"
    for node in ("cooperator", "writer", "director"):
        for source, data in chezmoi_source.node_files(tree, node).items():
            target = home / node / chezmoi_source.target_path(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    (repo / "tasks").mkdir(parents=True, exist_ok=True)
    (repo / "tasks/__init__.py").write_text("")
    exe(repo / ".venv/bin/inv", RECORD)
    for name in ("install", "systemctl"):
        exe(fake / name, RECORD)
    exe(fake / "id", "#!/bin/sh\necho 0\n")

    scripts = [p for p in home.rglob("*") if p.is_file() and p.read_bytes().startswith(b"#!/bin/sh\n")]
    scripts += list(home.rglob("env.sh"))
    for script in scripts:  # every script parses
        res = run(["sh", "-n", str(script)], record, fake, home)
        assert res.returncode == 0, (script, res.stderr)

    # cron hands each command to /bin/sh: root's own install's script with one argument (it is not installed
    # here, so the command is parsed, not run; no inventory value is in it)
    _, entries = formats.cron_d((home / "cooperator/.config/colab/backup/colab-backup.cron").read_text())
    for entry, kind in zip(entries, ("daily", "weekly", "offsite", "offsite-check"), strict=True):
        res = run(["/bin/sh", "-n", "-c", formats.cron_command(entry.command)], record, fake, home)
        assert res.returncode == 0, res.stderr
        assert shlex.split(formats.cron_command(entry.command)) == [backup_install.cron_script(), kind]

    # mount-fortress.sh on the WSL node runs the checkout's inv in the checkout
    res = run(["sh", str(home / "writer/.config/colab/fortress/mount-fortress.sh"), "--dry-run"], record, fake, home)
    assert res.returncode == 0, res.stderr
    assert calls(record) == [f"{repo}/.venv/bin/inv", "fortress.mount", "--node", "writer", "--dry-run", f"cwd={repo}"]

    # the units installer, as root: the unit files go to their systemd names (Debian client); the WSL one
    # without systemd says where fortress is not mounted
    stem = quoting.systemd_escape_path(inv.fortress.mounts.linux)
    res = run(["sh", str(home / "director/20-fortress-units.sh")], record, fake, home / "director")
    assert res.returncode == 0, res.stderr
    installed = [arg for arg in calls(record) if arg.startswith(("/etc/systemd/system/", "/usr/local/lib/"))]
    assert installed == [
        "/usr/local/lib/colab/fortress-password",
        "/etc/systemd/system/colab-fortress-password.service",
        f"/etc/systemd/system/{stem}.mount",
        "/etc/systemd/system/docker.service.d/colab-fortress.conf",
    ]
    if not Path("/run/systemd/system").is_dir():
        res = run(["sh", str(home / "writer/20-fortress-units.sh")], record, fake, home / "writer")
        assert res.stdout.startswith(f"colab: systemd is off in this WSL distribution, so fortress is not mounted at "
                                     f"{inv.fortress.mounts.linux}: set [boot]")  # fmt: skip
        assert calls(record) == []

    # env.sh, sourced
    res = run(["sh", "-c", '. "$1"; printf "%s\\0" "$COLAB_REPO" "$COLAB_FORTRESS"', "sh",
               str(home / "cooperator/.config/colab/env.sh")], record, fake, home)  # fmt: skip
    assert res.stdout.split("\0")[:2] == [str(repo), inv.fortress.path]

    # the root shell `inv fortress.mount` starts the mount unit with (the unit name one word after `--`)
    res = run(mounts.mount_start_argv(stem, sudo=False, timeout=1), record, fake, home)
    assert res.returncode == 1 and "fortress did not mount within 1 s" in res.stderr  # the fake never says active
    assert [c for c in calls(record) if not c.startswith(("cwd=", str(fake)))][:4] == [
        "start", "--no-block", "--", f"{stem}.mount"
    ]  # fmt: skip

    # raid.create's fstab script against a copy of fstab, blkid standing in
    fstab = work / "fstab"
    fstab.write_text("# fstab\n")
    exe(fake / "blkid", "#!/bin/sh\necho 0d6f2c4e-1f5a-4b8e-9a77-3c2b1d0e9f10\n")
    args = raid.fstab_add_args(raid.plan_from(inv), str(fstab))
    res = run(["sh", "-c", raid._FSTAB_ADD, "sh", *args], record, fake, home)
    assert res.returncode == 0, res.stderr
    assert raid.fstab_entry(fstab.read_text(), inv.raid.mount) is not None
    assert len(fstab.read_text().splitlines()) == 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@findings
@given(chosen=keys, segment=segments())
def test_rendered_scripts_never_run_a_planted_command(base: Path, chosen: set[str], segment: str) -> None:
    PWNED.unlink(missing_ok=True)
    data, _ = hostile_inventory(base, chosen, segment)
    inv = load_or_refuse(data)
    if inv is None:
        return
    work = base / "work"
    shutil.rmtree(work, ignore_errors=True)
    try:
        run_scripts(inv, render_tree(inv), work)
    finally:
        for key in KEYS.values():
            shutil.rmtree(base / key, ignore_errors=True)
    assert not PWNED.exists(), f"a planted command ran: {segment!r}"
