"""A reboot and a power cut: the node comes back by itself, and nothing is written beside fortress.

director is a Debian 13 container booting systemd as PID 1 (colab-test/systemd-node) with its own Docker
engine, sshd on its mesh address (127.0.20.2) and the rendered files installed the way a node gets them: the
real chezmoi, `chezmoi init --apply --source <checkout>` as crtr, whose script installs the boot mount (the
password unit and its script, the mount unit, Docker's drop-in) with sudo. What this kernel and machine cannot
run is stood in for, and only that: mount.cifs (no CIFS client) checks the password it reads from the
credentials file and mounts an overlay named like the share over a volume (the share's files survive reboots);
the Infisical CLI speaks HTTP to a stand-in server on another container, `cooperator`, which the test starts
and stops (Infisical is a service on the fortress server, so at a cluster's boot it is not up yet). The
password is the CANARY; the node's machine identity is in /etc/colab/infisical, root-only.

In order (one site, the tests build on each other):
1. chezmoi installs the boot mount; the mount comes up; `inv fortress.mount` over SSH finds everything in
   place (the same files, byte for byte); status says "mounted by hand" (it was mounted after boot).
2. `inv deploy` puts a service (restart: unless-stopped, a health check, its data on fortress) on director's
   engine over SSH; the test adds a payload file to its data.
3. A reboot (`docker restart`) with Infisical down: the password unit waits and says why, the mount and Docker
   wait, `inv status` is critical for director with "waiting for the password" (and Docker "not started yet",
   asked of systemd), `inv deploy` refuses in one line; then Infisical
   comes up and everything follows in order: password unit, mount, Docker, the container, healthy, its data
   intact. The underlying mount point was never written. The CANARY is in no argv (sampled every 2 ms during
   the reboot), no `systemctl show-environment`, no unit's environment, no journal line, no file outside
   tmpfs. Timed: reboot to healthy.
4. A power cut (`docker kill`, then start) with Infisical up: the same, timed.
5. `inv fortress.unmount` stops Docker with fortress (it requires it); `inv fortress.mount` takes the boot path
   (a new password fetch) and Docker comes back with the service; status says "mounted by hand".
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import tomlkit

from colab import inventory
from colab.render import disk
from colab.render.tree import render_tree
from colab.runner import ENV_SSH_KEY, ENV_SSH_OPTS
from colab.storage import boot, mounts
from tests.conftest import CANARY, FakeInfisical, require_tool
from tests.harness import containers, images
from tests.harness.containers import KeyPair
from tests.harness.inv import run_inv
from tests.integration.conftest import _build
from tests.integration.deploy_support import ArgvWatch, TestCluster, web_compose, write_cluster

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]

NODE, ADDRESS, USER = "director", "127.0.20.2", "crtr"  # director's mesh address in loopback.toml
API_ALIAS = "infisical-standin"
MOUNT, UNIT = "/mnt/fortress", "mnt-fortress.mount"
SERVER = "/opt/colab-test/infisical-server.py"
# What boots systemd as PID 1 on this engine (--privileged fails here: it cannot grant CAP_SYS_RESOURCE).
SYSTEMD_FLAGS = [
    *(f"--cap-add={cap}" for cap in ("SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "MKNOD", "SYS_CHROOT", "AUDIT_WRITE",
                                     "DAC_READ_SEARCH", "IPC_LOCK", "SYS_NICE", "SYS_TIME", "LINUX_IMMUTABLE")),
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns=host",
]  # fmt: skip
TEST_SECRET = "service-secret-not-the-canary"  # the service's own secret: Docker keeps a container's env on disk


@dataclass
class Site:
    director: str
    cooperator: str
    cluster: TestCluster
    service: str
    inv: inventory.Inventory
    port: int
    key: Path
    known_hosts: Path
    ssh_env: dict[str, str]  # COLAB_SSH_KEY / COLAB_SSH_OPTS for the runner's SSH
    shim: Path  # an `ssh` for the Docker CLI's ssh helper (it takes no options): the test key and host key
    identity_secret: str
    server: subprocess.Popen[str] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def exec(self, *argv: str, user: str | None = None, check: bool = True, input: bytes | None = None) -> str:
        res = containers.docker_exec(self.director, *argv, user=user, check=check, input=input, timeout=120)
        return res.stdout.decode()

    def show(self, unit: str, *props: str, check: bool = True) -> dict[str, str]:
        """systemctl show; with check=False, {} while systemd cannot answer yet (early in a boot)."""
        out = self.exec("systemctl", "show", "--timestamp=us+utc", "-p", ",".join(props), "--", unit, check=check)
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def start_infisical(self) -> float:
        """The stand-in server on cooperator, its vault (the CANARY) on stdin: in no file, no argv, no env."""
        vault = {
            "project": self.inv.infisical.project_id,
            "identities": {"id-director": self.identity_secret},
            "envs": {
                "prod": {
                    self.inv.fortress.password_path: {
                        self.inv.fortress_login(self.inv.node(NODE)).password_name: CANARY
                    }
                }
            },
        }
        self.server = subprocess.Popen(
            ["docker", "exec", "-i", self.cooperator, "python3", SERVER],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.server.stdin and self.server.stdout
        self.server.stdin.write(json.dumps(vault))
        self.server.stdin.close()
        assert self.server.stdout.readline().startswith("listening on 0.0.0.0:8080")
        return time.monotonic()

    def stop_infisical(self) -> None:
        containers.docker_exec(self.cooperator, "pkill", "-f", SERVER, check=False)
        if self.server is not None:
            self.server.wait(timeout=30)
            self.server = None

    def task(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        """The real `inv`, run as if on cooperator: director is reached over SSH (and its engine over ssh://)."""
        env = {**self.ssh_env, "PATH": f"{self.shim}{os.pathsep}{os.environ['PATH']}"}
        return run_inv(*args, node="cooperator", inventory=self.cluster.inventory, env=env, timeout=timeout)

    def wait(self, what: str, ok: Callable[[], bool], timeout: float = 120) -> float:
        started = time.monotonic()
        while not ok():
            if time.monotonic() - started > timeout:
                journal = self.exec("journalctl", "-b", "--no-pager", "-n", "40", check=False)
                pytest.fail(f"{what}: not within {timeout:.0f}s\n{journal}")
            time.sleep(0.2)
        return time.monotonic()

    def active(self, unit: str) -> bool:
        res = containers.docker_exec(self.director, "systemctl", "is-active", "--quiet", "--", unit, check=False)
        return res.returncode == 0

    def container_health(self) -> str:
        res = containers.docker_exec(
            self.director, "docker", "inspect", "-f", "{{.State.Health.Status}}", f"{self.service}-app-1", check=False
        )
        return res.stdout.decode().strip()

    def healthy(self) -> bool:
        return self.active("docker.service") and self.container_health() == "healthy"


def _docker(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[bytes]:
    return containers.docker(*args, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def site(
    docker_engine: str,
    busybox_image: str,
    ssh_keypair: KeyPair,
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    require_tool("ssh", "chezmoi")
    image = _build(pytestconfig, images.build_systemd_node_image)
    tag = f"colab-reboot-{os.getpid()}"
    director, cooperator, network = f"{tag}-director", f"{tag}-cooperator", tag
    volumes_ = (f"{tag}-docker", f"{tag}-share")
    tmp = tmp_path_factory.mktemp("reboot")
    keys = tmp / "authorized_keys"
    keys.write_text(ssh_keypair.public_text + "\n")
    keys.chmod(0o644)
    identity_secret = secrets.token_hex(16)
    chezmoi_bin = Path(shutil.which("chezmoi") or "").resolve()
    with socket.socket() as probe:  # a fixed host port: a random one would change at every restart
        probe.bind((ADDRESS, 0))
        port = int(probe.getsockname()[1])
    try:
        _docker("network", "create", network)
        for volume in volumes_:
            _docker("volume", "create", volume)
        _docker("run", "-d", "--name", cooperator, "--network", network, "--network-alias", API_ALIAS,
                "--entrypoint", "sleep", image, "infinity")  # fmt: skip
        _docker("run", "-d", "--name", director, "--hostname", NODE, "--network", network, *SYSTEMD_FLAGS,
                "-v", f"{volumes_[0]}:/var/lib/docker", "-v", f"{volumes_[1]}:/srv/share",
                "-v", f"{chezmoi_bin}:/usr/local/bin/chezmoi:ro", "-v", f"{keys}:/etc/colab-test/authorized_keys:ro",
                "-p", f"{ADDRESS}:{port}:22", image)  # fmt: skip

        # the inventory: loopback's, director at that port, fortress at /mnt/fortress there, Infisical's API on
        # cooperator, one service placed on director
        service = f"web-{os.getpid()}"
        cluster = write_cluster(
            tmp, f"rb{os.getpid()}", {service: {"node": NODE, "secrets": ["TEST_SECRET"]}}, "10.223.0.0/24",
            client_fortress=MOUNT, nodes={NODE: {"ssh_port": port}},
        )  # fmt: skip
        doc = tomlkit.parse(cluster.inventory.read_text())
        doc["infisical"]["api_url"] = f"http://{API_ALIAS}:8080/api"  # type: ignore[index]
        cluster.inventory.write_text(tomlkit.dumps(doc))
        cluster.compose_dir(service).joinpath("compose.yaml").write_text(web_compose())
        inv = inventory.load(cluster.inventory)
        tree = tmp / "tree"
        disk.write_tree(render_tree(inv), tree)
        _docker("cp", f"{tree}/.", f"{director}:/src")

        known_hosts = tmp / "known_hosts"
        site = Site(
            director,
            cooperator,
            cluster,
            service,
            inv,
            port,
            ssh_keypair.private,
            known_hosts,
            {},
            tmp / "bin",
            identity_secret,
        )
        site.wait("systemd up", lambda: site.exec("systemctl", "is-system-running", check=False).strip()
                  in ("running", "degraded"), timeout=90)  # fmt: skip
        setup = (
            "install -d -o crtr -g crtr /srv/share/upper /srv/share/upper/docker /srv/share/upper/data "
            '/srv/share/upper/cache && printf "%s\\n" "$1" > /etc/colab-test/share-password.sha256 && '
            "install -d -m 0700 /etc/colab/infisical && (umask 077 && echo id-director > /etc/colab/infisical/client-id"
            ' && printf "%s\\n" "$2" > /etc/colab/infisical/client-secret) && chmod -R a+rX /src'
        )
        site.exec("sh", "-c", setup, "sh", hashlib.sha256(CANARY.encode()).hexdigest(), identity_secret)
        saved = _docker("save", busybox_image).stdout  # no registry: hand the image to director's engine
        site.exec("docker", "load", input=saved)

        # SSH: the runner's (COLAB_SSH_KEY/OPTS) and the Docker CLI's ssh helper (a config through an `ssh` shim)
        site.wait("a host key", lambda: containers.docker_exec(
            director, "test", "-s", "/etc/ssh/ssh_host_ed25519_key.pub", check=False).returncode == 0)  # fmt: skip
        known_hosts.write_text(containers.known_hosts_line(director, ADDRESS, port))
        containers.wait_for_ssh(ADDRESS, port, USER, ssh_keypair.private, known_hosts, timeout=60)
        options = containers.ssh_options(known_hosts)
        site.ssh_env = {ENV_SSH_KEY: str(ssh_keypair.private), ENV_SSH_OPTS: shlex.join(options)}
        config = tmp / "ssh_config"
        lines = [f"Host {ADDRESS}", f"  IdentityFile {ssh_keypair.private}", "  BatchMode yes"]
        lines += [f"  {options[i + 1].replace('=', ' ', 1)}" for i in range(0, len(options), 2)]
        config.write_text("\n".join(lines) + "\n")
        site.shim.mkdir()
        (site.shim / "ssh").write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F "{config}" "$@"\n')
        (site.shim / "ssh").chmod(0o755)

        site.start_infisical()
        # the way a node gets its files: chezmoi, as the node's user, from its checkout (sudo for /etc)
        out = site.exec("sh", "-c", "cp -a /src /home/crtr/colab && chezmoi init --apply --no-tty --source "
                        "/home/crtr/colab </dev/null 2>&1", user=USER)  # fmt: skip
        assert f"colab: installed and enabled {UNIT.removesuffix('.mount')}.mount" in out, out
        with pytest.MonkeyPatch.context() as mp:
            for key, value in site.ssh_env.items():
                mp.setenv(key, value)
            yield site
    finally:
        containers.docker_exec(cooperator, "pkill", "-f", SERVER, check=False)
        _docker("rm", "-f", "-v", director, cooperator, check=False)
        _docker("volume", "rm", *volumes_, check=False)
        _docker("network", "rm", network, check=False)


def status_json(site: Site) -> tuple[int, dict[str, object]]:
    res = site.task("fortress.status", "--node", NODE, "--no-read", "--json")
    return res.returncode, json.loads(res.stdout)


def utc(stamp: str) -> float:
    """systemd's `--timestamp=us+utc` form ("Mon 2026-11-30 18:05:46.703994 UTC") as seconds since the epoch."""
    return datetime.strptime(
        stamp.removesuffix(" UTC").split(" ", 1)[1] + " +0000", "%Y-%m-%d %H:%M:%S.%f %z"
    ).timestamp()


def journal(site: Site, since: float, *units: str) -> str:
    """The journal since `since` (seconds since the epoch). A container shares the kernel's boot id, so
    `journalctl -b` would show every boot of the container: the time is what tells this boot's lines."""
    argv = ["journalctl", "--no-pager", "-o", "cat", f"--since=@{since:.6f}"]
    for unit in units:
        argv += ["-u", unit]
    return site.exec(*argv)


def waits(site: Site, since: float) -> list[tuple[float, int]]:
    """The password unit's "waiting" lines of this boot: (when, in seconds since the epoch; the delay it announced)."""
    out = journal_json(site, since, boot.PASSWORD_UNIT)
    tries = []
    for entry in out:
        msg = str(entry.get("MESSAGE", ""))
        if msg.startswith("waiting for the password:") and "trying again in " in msg:
            delay = int(msg.rsplit("trying again in ", 1)[1].split("s", 1)[0])
            tries.append((int(str(entry["__REALTIME_TIMESTAMP"])) / 1e6, delay))
    return tries


def journal_json(site: Site, since: float, unit: str) -> list[dict[str, object]]:
    out = site.exec("journalctl", "--no-pager", "-o", "json", f"--since=@{since:.6f}", "-u", unit)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def boot_order(site: Site, since: float) -> dict[str, float]:
    """When each link of the chain happened in this boot, from systemd's own records (monotonic µs and UTC)."""
    pw = site.show(boot.PASSWORD_UNIT, "ActiveEnterTimestampMonotonic", "ExecMainExitTimestampMonotonic")
    mount = site.show(UNIT, "InactiveExitTimestampMonotonic", "ActiveEnterTimestampMonotonic", "ActiveEnterTimestamp")
    docker = site.show("docker.service", "InactiveExitTimestampMonotonic", "ActiveEnterTimestampMonotonic")
    started = site.exec("docker", "inspect", "-f", "{{.State.StartedAt}}", f"{site.service}-app-1").strip()
    container = datetime.fromisoformat(started.replace("Z", "+00:00")[:26] + "+00:00").timestamp()
    order = {
        "password ready": int(pw["ActiveEnterTimestampMonotonic"]) / 1e6,
        "mount started": int(mount["InactiveExitTimestampMonotonic"]) / 1e6,
        "mounted": int(mount["ActiveEnterTimestampMonotonic"]) / 1e6,
        "docker started": int(docker["InactiveExitTimestampMonotonic"]) / 1e6,
        "docker up": int(docker["ActiveEnterTimestampMonotonic"]) / 1e6,
    }
    assert list(order.values()) == sorted(order.values()), order  # password unit → mount → Docker
    assert container >= utc(mount["ActiveEnterTimestamp"]), (started, mount)  # → the containers
    # the same order in the journal
    lines = journal(site, since, boot.PASSWORD_UNIT, UNIT, "docker.service").splitlines()
    marks = [
        "Started colab-fortress-password.service",
        f"Mounted {UNIT}",
        "Started docker.service",
    ]
    found = [next(i for i, line in enumerate(lines) if line.startswith(m)) for m in marks]
    assert found == sorted(found), lines
    return order


def assert_nothing_beside_fortress(site: Site) -> None:
    """The bare mount point, seen under the mount (a bind of / shows the folder as it is on the node's disk)."""
    under = (
        "mkdir -p /run/under && mount --bind / /run/under && find /run/under/mnt/fortress -mindepth 1; "
        "umount /run/under"
    )
    assert site.exec("sh", "-c", under) == ""


def assert_canary_nowhere(site: Site, watch: ArgvWatch) -> None:
    assert watch.samples > 100 and watch.hits == []  # no process's argv, on this machine or in the containers
    assert CANARY not in site.exec("systemctl", "show-environment")
    envs = site.exec("sh", "-c", "systemctl show -p Id,Environment --all -- $(systemctl list-units --all --plain "
                     "--no-legend | awk '{print $1}')")  # fmt: skip
    assert "colab-fortress-password.service" in envs and CANARY not in envs
    assert CANARY not in site.exec("journalctl", "--no-pager", "-o", "verbose")  # every boot, every field
    # every file on director outside tmpfs (/run): its disk, its Docker volume, the share (the pattern on stdin)
    found = site.exec(
        "sh", "-c", "grep -rlsF --devices=skip -f /dev/stdin / --exclude-dir=proc --exclude-dir=sys "
        "--exclude-dir=dev --exclude-dir=run || true", input=CANARY.encode(),
    )  # fmt: skip
    assert found == ""
    assert site.exec("sh", "-c", "ls -A /run/colab-fortress 2>/dev/null || true") == ""  # the file went with the unit


# ------------------------------------------------------------------------------------------------- tests


def test_chezmoi_installs_the_boot_mount_that_inv_fortress_mount_installs(site: Site) -> None:
    site.wait("the first mount", lambda: site.active(UNIT))
    for path, text, mode in mounts.boot_files(site.inv, site.inv.node(NODE)):  # byte for byte, with their modes
        assert site.exec("cat", path) == text, path
        assert site.exec("stat", "-c", "%U %a", path).strip() == f"root {mode}"
    assert site.exec("stat", "-c", "%U %a", "/etc/colab/infisical", "/etc/colab/infisical/client-secret").split("\n")[
        :2
    ] == ["root 700", "root 600"]
    assert site.exec("cat", "/var/log/colab-test/mount.cifs.log").splitlines()[-1] == (
        f"mount.cifs //127.0.20.1/fortress {MOUNT} password=match uid=0"
    )
    # `inv fortress.mount` over SSH: the same files, enabled, mounted: nothing to do
    res = site.task("fortress.mount", "--node", NODE, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert {s["status"] for s in json.loads(res.stdout)["steps"]} == {"ok"}, res.stdout
    code, st = status_json(site)
    assert (code, st["mounted"], st["boot"], st["boot_detail"]) == (
        0,
        True,
        "by hand",
        "after boot; the boot mount is enabled",
    )


def test_a_service_is_deployed_onto_fortress(
    site: Site, fake_infisical: FakeInfisical, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_infisical.set("/web", TEST_SECRET=TEST_SECRET)
    res = site.task("deploy", "--service", site.service)
    assert res.returncode == 0, res.stdout + res.stderr
    assert site.container_health() == "healthy"
    data = f"{MOUNT}/data/{site.service}"
    site.exec("sh", "-c", f"head -c 65536 /dev/urandom > {data}/payload", user=USER)
    assert site.exec("cat", f"/srv/share/upper/data/{site.service}/written") == "written\n"  # on the share
    site.timings["payload"] = 0.0


def test_a_reboot_waits_for_infisical_then_everything_comes_back_in_order(
    site: Site, fake_infisical: FakeInfisical, capsys: pytest.CaptureFixture[str]
) -> None:
    data = f"{MOUNT}/data/{site.service}"
    payload = site.exec("sha256sum", f"{data}/payload").split()[0]
    site.exec("rm", f"{data}/written")  # the service writes it at every start: after the reboot, on the share
    site.stop_infisical()
    with ArgvWatch(CANARY) as watch:
        since, t0 = time.time(), time.monotonic()
        _docker("restart", "-t", "30", site.director)
        t_restarted = time.monotonic()
        site.wait("the password unit waiting", lambda: "waiting for the password" in site.show(
            boot.PASSWORD_UNIT, "StatusText", check=False).get("StatusText", ""))  # fmt: skip
        containers.wait_for_ssh(ADDRESS, site.port, USER, site.key, site.known_hosts)
        t_ssh = time.monotonic()
        # while Infisical is down: nothing mounted, Docker waits (so no container starts on the bare mount point)
        assert not site.active(UNIT) and not site.active("docker.service")
        waiting = site.show(boot.PASSWORD_UNIT, "ActiveState", "StatusText")
        assert waiting["ActiveState"] == "activating"
        assert waiting["StatusText"].startswith("waiting for the password: login: Infisical is not reachable; trying")
        code, st = status_json(site)
        assert (code, st["mounted"], st["boot"]) == (1, False, "waiting")
        assert st["problems"] == [f"fortress is not mounted at {MOUNT} on {NODE}: {st['boot_detail']}"]
        res = site.task("status", "--json", "--timeout", "20")  # the whole cluster; director's row matters here
        assert res.returncode == 1, res.stdout + res.stderr
        row = next(n for n in json.loads(res.stdout)["nodes"] if n["node"] == NODE)
        fortress, docker = row["checks"]["fortress"], row["checks"]["docker"]
        assert fortress["level"] == "critical", fortress  # a node that came back without fortress, and why
        assert fortress["text"].startswith(f"not mounted at {MOUNT}: waiting for the password: login: Infisical is")
        assert (docker["level"], docker["text"]) == (
            "critical",
            "down: docker.service has not started yet: its start is waiting (for fortress?)",
        )  # asked of systemd: `docker info` on its socket would hang while the start waits
        fake_infisical.set("/web", TEST_SECRET=TEST_SECRET)
        t_deploy = time.monotonic()
        refused = site.task("deploy", "--service", site.service)
        assert (refused.returncode, refused.stdout) == (1, "")
        assert refused.stderr == (
            f"error: fortress is not mounted on {NODE}: {MOUNT}/docker, {MOUNT}/data, {MOUNT}/cache missing, and "
            f"{site.service} would be written onto the bare mount point; mount it (`inv fortress.mount --node "
            f"{NODE}`), then deploy again (nothing was changed)\n"
        )
        assert_nothing_beside_fortress(site)
        t_up = site.start_infisical()
        t1 = site.wait("the service healthy again", site.healthy, timeout=180)
    order = boot_order(site, since)
    assert site.exec("sha256sum", f"{data}/payload").split()[0] == payload  # its data intact
    assert site.exec("cat", f"/srv/share/upper/data/{site.service}/written") == "written\n"  # written on the share
    assert_nothing_beside_fortress(site)
    assert_canary_nowhere(site, watch)
    code, st = status_json(site)
    assert (code, st["mounted"], st["boot"], st["boot_detail"]) == (0, True, "since boot", "")
    lines = journal(site, since, boot.PASSWORD_UNIT)
    assert "waiting for the password: login: Infisical is not reachable; trying again in 1s (attempt 1)" in lines
    tries = waits(site, since)  # the back-off as it happened: each try at least the announced delay after the last
    assert [d for _, d in tries] == [min(2**i, boot.MAX_DELAY) for i in range(len(tries))]
    # (0.5 s of slack: journald stamps a line when it reads it, which a loaded machine may delay)
    assert all(b - a >= d - 0.5 for (a, d), (b, _) in itertools.pairwise(tries))
    site.timings.update(reboot_to_healthy=t1 - t0, infisical_to_healthy=t1 - t_up)
    with capsys.disabled():
        print(
            f"\n[reboot] docker restart {t_restarted - t0:.1f}s, ssh up {t_ssh - t0:.1f}s, deploy refused in "
            f"{t_up - t_deploy:.1f}s"
        )
        print(f"[reboot] restart → all healthy {t1 - t0:.1f}s (Infisical up after {t_up - t0:.1f}s, then "
              f"{t1 - t_up:.1f}s); password ready → mounted {order['mounted'] - order['password ready']:.2f}s, "
              f"mounted → docker up {order['docker up'] - order['mounted']:.2f}s")  # fmt: skip
        print("[reboot] tries while Infisical was down (s after the first, delay announced): "
              + ", ".join(f"{t - tries[0][0]:.1f} ({d}s)" for t, d in tries))  # fmt: skip


def test_a_power_cut_comes_back_too(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert site.server is not None  # Infisical is up this time
    with ArgvWatch(CANARY) as watch:
        since, t0 = time.time(), time.monotonic()
        _docker("kill", site.director)
        _docker("start", site.director)
        t1 = site.wait("the service healthy after the power cut", site.healthy, timeout=180)
    boot_order(site, since)
    assert_nothing_beside_fortress(site)
    assert_canary_nowhere(site, watch)
    code, st = status_json(site)
    assert (code, st["boot"]) == (0, "since boot")
    with capsys.disabled():
        print(f"\n[power cut] kill + start → all healthy {t1 - t0:.1f}s")


def test_unmount_stops_docker_and_mount_takes_the_boot_path(site: Site) -> None:
    since = time.time()
    res = site.task("fortress.unmount", "--node", NODE)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not site.active(UNIT) and not site.active("docker.service")  # Docker requires fortress: it stopped
    assert_nothing_beside_fortress(site)
    res = site.task("fortress.mount", "--node", NODE, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    changed = {s["step"] for s in json.loads(res.stdout)["steps"] if s["status"] == "changed"}
    assert changed == {f"{UNIT} enabled at boot", f"mounted //127.0.20.1/fortress at {MOUNT}"}
    # a new fetch, by the boot unit: it is "Started" once it had the password (READY=1)
    assert journal(site, since, boot.PASSWORD_UNIT).count("Started colab-fortress-password.service") == 1
    site.wait("the service healthy after mounting by hand", site.healthy, timeout=120)  # Docker started with it
    code, st = status_json(site)
    assert (code, st["boot"], st["boot_detail"]) == (0, "by hand", "after boot; the boot mount is enabled")
