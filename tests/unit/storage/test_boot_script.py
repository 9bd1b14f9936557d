"""The boot mount's password script (rendered `fortress-password.sh`), run for real with `sh`.

Around it: the Infisical CLI stand-in of the systemd test node (tests/docker/systemd-node/infisical) against the
stand-in server (infisical-server.py) on a free loopback port, started late or not at all; fakes for
`systemd-notify` (records the status texts and READY) and `systemctl` (its `start` plays the mount: it reads the
credentials file as mount.cifs would and records whether the password matched, never the value). The script's
identity folder is pointed at a temporary one (the only change to the rendered text).

What it shows: it waits, saying why ("waiting for the password: login: Infisical is not reachable …"), with a
growing delay, until Infisical answers; then writes the credentials file (0600, in the runtime folder), is
ready, starts the mount, and removes the file and its HOME; a refused identity, a missing secret, a missing
identity and a failed mount are each named; a stop (SIGTERM) while waiting leaves nothing behind. The CANARY
password reaches the mount and appears in no argv any tool saw, no status text, no output.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from colab import inventory
from colab.render import chezmoi_source
from colab.render.tree import render_tree
from colab.storage import boot
from tests.conftest import CANARY

ROOT = Path(__file__).resolve().parents[3]
STANDINS = ROOT / "tests" / "docker" / "systemd-node"
PROJECT = "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
ID, SECRET = "id-director", "secret-of-director"

NOTIFY = """#!/bin/sh
echo "notify $*" >> "$LOG"
"""
# `start` plays the mount unit: mount.cifs reads the credentials file; FAIL_FIRST=1 fails the first mount.
SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >> "$LOG"
state="$FAKE/state"
case "$1" in
  start)
    [ "$2" = --no-block ] || exit 2
    shift 3
    case "$1" in *.mount) ;; *) exit 0 ;; esac
    pw=$(sed -n 's/^password=//p' "$RUNTIME_DIRECTORY/credentials" 2>/dev/null)
    if [ "$(printf %s "$pw" | sha256sum | cut -d' ' -f1)" = "$EXPECT_SHA" ]; then seen=match; else seen=other; fi
    echo "mount password=$seen mode=$(stat -c %a "$RUNTIME_DIRECTORY/credentials")" >> "$LOG"
    if [ -n "${FAIL_FIRST:-}" ] && [ ! -e "$FAKE/failed-once" ]; then : > "$FAKE/failed-once"; echo failed > "$state"
    elif [ "$seen" = match ]; then echo active > "$state"; else echo failed > "$state"; fi ;;
  show) cat "$state" 2>/dev/null || echo inactive ;;
  is-enabled) [ "$3" = docker.service ] ;;
  is-active) exit 1 ;;
esac
exit 0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def node(tmp_path: Path) -> dict[str, object]:
    """The rendered script for a loopback inventory whose Infisical is this machine's stand-in, and its world."""
    port = free_port()
    text = (ROOT / "tests/fixtures/inventories/loopback.toml").read_text()
    text = text.replace('environment = "prod"\n', f'environment = "prod"\napi_url = "http://127.0.0.1:{port}/api"\n', 1)
    inv = inventory.parse(text)
    script = chezmoi_source.node_files(render_tree(inv), "director")["dot_config/colab/fortress/fortress-password.sh"]
    identity, run_dir, fake = tmp_path / "identity", tmp_path / "run", tmp_path / "bin"
    for d in (identity, run_dir, fake):
        d.mkdir(mode=0o700)
    body = script.decode().replace(f"identity={boot.IDENTITY_DIR}\n", f"identity={identity}\n")
    assert body != script.decode()
    (tmp_path / "fortress-password").write_text(body)
    for name, content in (("systemd-notify", NOTIFY), ("systemctl", SYSTEMCTL)):
        (fake / name).write_text(content)
        (fake / name).chmod(0o755)
    (fake / "infisical").symlink_to(STANDINS / "infisical")
    (identity / "client-id").write_text(f"{ID}\n")
    (identity / "client-secret").write_text(f"{SECRET}\n")
    env = {
        "PATH": f"{fake}:/usr/bin:/bin",
        "RUNTIME_DIRECTORY": str(run_dir),
        "LOG": str(tmp_path / "log"),
        "FAKE": str(fake),
        "EXPECT_SHA": hashlib.sha256(CANARY.encode()).hexdigest(),
        "COLAB_TEST_INFISICAL_LOG": str(tmp_path / "infisical.log"),
    }
    return {"tmp": tmp_path, "port": port, "env": env, "run_dir": run_dir, "identity": identity}


@pytest.fixture
def server(node: dict[str, object]) -> Iterator[dict[str, object]]:
    """Starts the Infisical stand-in on demand (`start(vault)`); stops it at the end."""
    procs: list[subprocess.Popen[str]] = []

    def start(secrets: dict[str, str] | None = None, identities: dict[str, str] | None = None) -> None:
        vault = {
            "project": PROJECT,
            "identities": identities if identities is not None else {ID: SECRET},
            "envs": {"prod": {"/samba": secrets if secrets is not None else {"COLAB_NAS_SAMBA_PASSWORD": CANARY}}},
        }
        env = {**os.environ, "BIND": "127.0.0.1", "PORT": str(node["port"])}
        proc = subprocess.Popen(
            [sys.executable, str(STANDINS / "infisical-server.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert proc.stdin and proc.stdout
        proc.stdin.write(json.dumps(vault))
        proc.stdin.close()
        assert proc.stdout.readline().startswith("listening on 127.0.0.1:")
        procs.append(proc)

    yield {"start": start}
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def launch(node: dict[str, object]) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts the script (it loops until it has mounted); whatever still runs at the end is killed."""
    procs: list[subprocess.Popen[str]] = []

    def start(**extra: str) -> subprocess.Popen[str]:
        env = {**node["env"], **extra}  # type: ignore[dict-item]
        proc = subprocess.Popen(
            ["sh", str(Path(str(node["tmp"])) / "fortress-password")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def log(node: dict[str, object]) -> list[str]:
    path = Path(str(node["env"]["LOG"]))  # type: ignore[index]
    return path.read_text().splitlines() if path.exists() else []


def wait_for(node: dict[str, object], text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in log(node)):
        assert time.monotonic() < deadline, f"{text!r} not in {log(node)}"
        time.sleep(0.1)


def assert_clean(node: dict[str, object], out: str) -> None:
    """The password in no output, no tool's argv (the fakes' and the CLI's logs), nothing left in the run dir."""
    tmp = Path(str(node["tmp"]))
    texts = [out, *log(node), (tmp / "infisical.log").read_text() if (tmp / "infisical.log").exists() else ""]
    assert not any(CANARY in t or SECRET in t for t in texts)
    assert list(Path(str(node["run_dir"])).iterdir()) == []  # no credentials file, no CLI home, no error file
    for line in texts[-1].splitlines():
        call = json.loads(line)
        assert call["uid"] == os.getuid() and not any(CANARY in a or SECRET in a for a in call["argv"])


def test_waits_for_infisical_then_mounts_and_forgets_the_password(
    node: dict[str, object], server: dict[str, object], launch: Callable[..., subprocess.Popen[str]]
) -> None:
    proc = launch()
    wait_for(node, "--status=waiting for the password: login: Infisical is not reachable; trying again in 1s "
                   "(attempt 1)")  # fmt: skip
    wait_for(node, "trying again in 2s (attempt 2)")
    server["start"]()  # type: ignore[operator]
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = log(node)
    ready = lines.index("notify --ready --status=password ready; mounting mnt-fortress.mount")
    assert lines[ready + 1 :] == [
        "systemctl reset-failed -- mnt-fortress.mount",
        "systemctl start --no-block -- mnt-fortress.mount",
        "mount password=match mode=600",  # the file mount.cifs read: root-only (umask 077)
        "systemctl show -p ActiveState --value -- mnt-fortress.mount",
        "systemctl is-enabled --quiet -- docker.service",  # what waits for fortress starts if it is not running
        "systemctl is-active --quiet -- docker.service",
        "systemctl start --no-block -- docker.service",
        f"notify --status=mounted mnt-fortress.mount (attempt {out.count('waiting for the password') + 1})",
    ]
    assert out.splitlines()[-1].startswith("mounted mnt-fortress.mount (attempt ")  # the journal line
    assert err == ""
    calls = [json.loads(line) for line in (Path(str(node["tmp"])) / "infisical.log").read_text().splitlines()]
    logins = [c for c in calls if c["argv"][0] == "login"]
    assert logins[-1] == {  # the identity reached the CLI in its environment, never its argv
        "argv": ["login", "--method=universal-auth", "--silent", "--plain"],
        "env": ["INFISICAL_API_URL", "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET"],
        "uid": os.getuid(),
    }
    run = calls[-1]
    assert run["argv"][:8] == ["run", "--env", "prod", "--path", "/samba", "--projectId", PROJECT, "--silent"]
    assert run["env"] == ["INFISICAL_API_URL", "INFISICAL_TOKEN"]
    assert_clean(node, out + err)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("refused", "waiting for the password: login: Infisical refused this node's machine identity (check "),
        ("no secret", "waiting for the password: Infisical has no COLAB_NAS_SAMBA_PASSWORD at /samba (env prod)"),
        ("no identity", "waiting for the password: no machine identity in "),
    ],
)
def test_says_why_it_waits_and_a_stop_leaves_nothing(
    node: dict[str, object],
    server: dict[str, object],
    launch: Callable[..., subprocess.Popen[str]],
    case: str,
    status: str,
) -> None:
    if case == "refused":
        server["start"](identities={ID: "another secret"})  # type: ignore[operator]
    elif case == "no secret":
        server["start"](secrets={"OTHER": "x"})  # type: ignore[operator]
    else:
        server["start"]()  # type: ignore[operator]
        for f in Path(str(node["identity"])).iterdir():
            f.unlink()
    proc = launch()
    wait_for(node, f"--status={status}")
    assert not any("systemctl start" in line for line in log(node))  # nothing mounts without the password
    proc.send_signal(signal.SIGTERM)  # systemd stopping the unit, e.g. at shutdown
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143
    assert_clean(node, out + err)


def test_a_failed_mount_is_tried_again(
    node: dict[str, object], server: dict[str, object], launch: Callable[..., subprocess.Popen[str]]
) -> None:
    server["start"]()  # type: ignore[operator]
    proc = launch(FAIL_FIRST="1")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = log(node)
    assert (
        "notify --status=the mount failed: mnt-fortress.mount is failed (journalctl -u mnt-fortress.mount); "
        "trying again in 1s (attempt 1)"
    ) in lines
    assert [line for line in lines if line.startswith("mount ")] == ["mount password=match mode=600"] * 2
    # Docker required the mount that failed, so its start failed too: it is started now
    assert lines[-2:] == ["systemctl start --no-block -- docker.service", "notify --status=mounted mnt-fortress.mount "
                          "(attempt 2)"]  # fmt: skip
    assert_clean(node, out + err)


def test_the_back_off_doubles_from_one_second_and_stays_at_the_bound(
    node: dict[str, object], launch: Callable[..., subprocess.Popen[str]]
) -> None:
    # Infisical never comes up; a fake `sleep` records each delay and returns at once, so ten tries take no time.
    fake = Path(str(node["env"]["FAKE"]))  # type: ignore[index]
    (fake / "sleep").write_text('#!/bin/sh\necho "sleep $*" >> "$LOG"\n')
    (fake / "sleep").chmod(0o755)
    proc = launch()
    wait_for(node, "(attempt 10)")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143
    sleeps = [int(line.split()[1]) for line in log(node) if line.startswith("sleep ")][:9]
    assert sleeps == [1, 2, 4, 8, 16, boot.MAX_DELAY, boot.MAX_DELAY, boot.MAX_DELAY, boot.MAX_DELAY]
    said = [line for line in log(node) if line.startswith("notify --status=waiting")]
    assert said[5] == (
        f"notify --status=waiting for the password: login: Infisical is not reachable; trying again in "
        f"{boot.MAX_DELAY}s (attempt 6)"
    )  # what `inv status` shows is the delay actually slept
    assert_clean(node, out + err)
