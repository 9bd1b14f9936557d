"""The engine probe: SCRIPT's output → engine state and one state per service, exactly; SCRIPT run by real sh."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from colab import inventory
from colab.runner import Runner
from colab.status import engine
from colab.status.model import Level

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml")

UP = """@up 20.10.24+dfsg1
gitea|db|/gitea-db-1|running|healthy|0|postgres:16-alpine
gitea|gitea|/gitea-gitea-1|running|unhealthy|0|gitea/gitea:1.22-rootless
infisical|backend|/infisical-backend-1|running|starting|0|infisical/infisical:v0.80
infisical|db|/infisical-db-1|running|healthy|0|postgres:16-alpine
infisical|migrate|/infisical-migrate-1|exited||0|infisical/infisical:v0.80
mcp-files|mcp|/mcp-files-mcp-1|exited||137|ghcr.io/example/mcp-files:1
pihole|pihole|/pihole-pihole-1|running|healthy|0|pihole/pihole:2024.07.0
headscale|headscale|/headscale-headscale-1|restarting||1|headscale/headscale:0.23.0
other|web|/other-web-1|running||0|nginx
"""


def test_parse_up() -> None:
    eng = engine.parse(UP)
    assert (eng.up, eng.detail) == (True, "20.10.24+dfsg1")
    assert [(c.project, c.service, c.name, c.state, c.health, c.exit_code) for c in eng.containers][:3] == [
        ("gitea", "db", "gitea-db-1", "running", "healthy", 0),
        ("gitea", "gitea", "gitea-gitea-1", "running", "unhealthy", 0),
        ("headscale", "headscale", "headscale-headscale-1", "restarting", "", 1),
    ]
    assert len(eng.containers) == 9


def test_each_service_placed_on_the_node_gets_exactly_one_state() -> None:
    states = engine.service_states(engine.parse(UP), INV.services_on("cooperator"))
    assert [(s.service, s.level, s.text) for s in states] == [
        ("caddy", Level.CRIT, "caddy: no container (not deployed?)"),
        ("pihole", Level.OK, "pihole: healthy"),
        ("headscale", Level.CRIT, "headscale: headscale restarting"),
        ("infisical", Level.WARN, "infisical: backend running, health check starting"),  # migrate exited(0): fine
        ("gitea", Level.CRIT, "gitea: gitea running, unhealthy"),
        ("mcp-files", Level.CRIT, "mcp-files: mcp exited(137)"),
    ]
    check = engine.services_check(states)
    assert check.level == Level.CRIT and check.text.splitlines()[1] == "pihole: healthy"
    assert states[1].containers == [
        {
            "name": "pihole-pihole-1",
            "service": "pihole",
            "state": "running",
            "health": "healthy",
            "exit_code": 0,
            "image": "pihole/pihole:2024.07.0",
            "level": "ok",
        }
    ]


def test_a_running_service_without_health_check_is_fine() -> None:
    eng = engine.parse("@up 28.2.2\nweb|web|/web-web-1|running||0|busybox\n")
    svc = INV.service("gitea").model_copy(update={"name": "web"})
    assert [(s.level, s.text) for s in engine.service_states(eng, [svc])] == [(Level.OK, "web: running")]


@pytest.mark.parametrize(
    ("text", "has_services", "level", "shown"),
    [
        ("@up 20.10.24\n", True, Level.OK, "up 20.10.24"),
        (
            "@down Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
            True,
            Level.CRIT,
            "down: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        ),
        ("@down docker: command not found\n", False, Level.WARN, "down: docker: command not found"),
        (
            "bash: line 1: sh: not found\n",
            True,
            Level.CRIT,
            "down: cannot ask the engine (bash: line 1: sh: not found)",
        ),
    ],
)
def test_docker_check(text: str, has_services: bool, level: Level, shown: str) -> None:
    check = engine.docker_check(engine.parse(text), has_services)
    assert (check.level, check.text) == (level, shown)


def fake_docker(tmp_path: Path, body: str) -> Path:
    """A `docker` on PATH answering like the real client (the engine's part is what is faked)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "docker"
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def run_script(path_dirs: str, script: str = engine.SCRIPT) -> str:
    r = Runner(node="cooperator")
    return r.run("sh", "-c", script, env={"PATH": path_dirs}, check=False, mutating=False).stdout


def test_script_with_a_stopped_engine(tmp_path: Path) -> None:
    bin_dir = fake_docker(
        tmp_path,
        'echo "Client: Docker Engine"\necho\necho "Cannot connect to the Docker daemon at unix:///x.sock." >&2\n'
        "exit 1\n",
    )
    out = run_script(f"{bin_dir}:/usr/bin:/bin")
    assert out == "@down Cannot connect to the Docker daemon at unix:///x.sock.\n"


def test_script_lists_the_labelled_containers(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    bin_dir = fake_docker(
        tmp_path,
        f'echo "$*" >> {calls}\n'
        'case "$1" in info) echo 28.2.2;; ps) echo aaa; echo bbb;; '
        "inspect) echo 'web|web|/web-web-1|running|healthy|0|busybox'; echo 'x|y|/x-y-1|exited||2|busybox';; esac\n",
    )
    out = run_script(f"{bin_dir}:/usr/bin:/bin")
    assert out == "@up 28.2.2\nweb|web|/web-web-1|running|healthy|0|busybox\nx|y|/x-y-1|exited||2|busybox\n"
    lines = calls.read_text().splitlines()
    assert lines[0] == "info --format {{.ServerVersion}}"
    assert lines[1] == "ps -aq --filter label=com.docker.compose.project"
    assert lines[2].startswith('inspect --format {{index .Config.Labels "com.docker.compose.project"}}|')
    assert lines[2].endswith(" aaa bbb")


def test_script_without_docker(tmp_path: Path) -> None:
    only_sh = tmp_path / "only-sh"
    only_sh.mkdir()
    (only_sh / "sh").symlink_to(os.path.realpath("/bin/sh"))
    # the script also looks where macOS keeps the client; on this machine that is where docker is, so look elsewhere
    script = engine.SCRIPT.replace("/usr/local/bin:/opt/homebrew/bin", str(only_sh))
    assert script != engine.SCRIPT
    out = run_script(str(only_sh), script)
    assert out == "@down docker: command not found\n"


@pytest.mark.parametrize(
    ("state", "jobs", "expected"),
    [
        ("inactive", "42 docker.service             start waiting\n",
         "@down docker.service has not started yet: its start is waiting (for fortress?)\n"),
        ("failed", "", "@down docker.service is failed\n"),
        ("inactive", "7 other.service start waiting\n", "@down docker.service is inactive\n"),
    ],
)  # fmt: skip
def test_script_asks_systemd_before_the_socket(tmp_path: Path, state: str, jobs: str, expected: str) -> None:
    """A docker.service that is not up is reported as systemd sees it; `docker` is never called (its socket would
    start the engine, or hang while the start waits for fortress)."""
    calls = tmp_path / "calls"
    bin_dir = fake_docker(tmp_path, f'echo "docker $*" >> {calls}\necho 28.2.2\n')
    (bin_dir / "systemctl").write_text(
        f'#!/bin/sh\necho "systemctl $*" >> {calls}\n'
        f'case "$1" in cat) exit 0;; is-active) echo {state}; exit 3;; list-jobs) printf "{jobs}";; esac\n'
    )
    (bin_dir / "systemctl").chmod(0o755)
    assert run_script(f"{bin_dir}:/usr/bin:/bin") == expected
    assert not any(line.startswith("docker ") for line in calls.read_text().splitlines())


def test_script_asks_the_engine_once_systemd_says_it_is_up(tmp_path: Path) -> None:
    bin_dir = fake_docker(tmp_path, 'case "$1" in info) echo 28.2.2;; esac\n')
    (bin_dir / "systemctl").write_text('#!/bin/sh\ncase "$1" in is-active) echo active;; esac\nexit 0\n')
    (bin_dir / "systemctl").chmod(0o755)
    assert run_script(f"{bin_dir}:/usr/bin:/bin") == "@up 28.2.2\n"
