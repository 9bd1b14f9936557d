"""The disaster drill of docs/recovery.md, end to end: "Cooperator hardware failure: rebuild node, restore fortress
from RAID" (architecture, *Recovery*).

Before: the backup node (this host, as `cooperator`) runs a PostgreSQL service deployed with `inv deploy`, holds
files on fortress, and takes `inv backup.daily` (snapshot + dump) onto the backup volume. The disaster: the
service, its database volume and fortress are gone; only the backup volume (the RAID pair) survives. The
replacement cooperator is a fresh node container (colab-test/bootstrap-node, hostname cooperator, sshd on
cooperator's mesh address) with the surviving volume and an empty new disk mounted at the same paths, and the
engine's socket (the container cannot run an engine of its own; compose paths are the same on both sides).
Then the runbook, the same commands as docs/recovery.md: `inv bootstrap --node cooperator` (the steps a container
can take: chezmoi and the checkout's virtualenv; the others are tested with stand-ins in test_bootstrap.py), and
as root on the new node, from its checkout: restore fortress from the newest snapshot, redeploy the service,
restore the database from its dump, full check. Verified: SHA-256 of every file of fortress, the rows' md5 of the
database, as recorded before the disaster. RTO (the runbook's wall time) and RPO (the restored data's age at the
disaster) are measured and printed.

What the old cooperator ran is a list of `Workload`s (WORKLOADS): each names its service's inventory entry,
compose file, secrets and Docker volumes, fills itself before the backup and gives a fingerprint of its data.
The runbook's per-service steps loop over the inventory's services on cooperator (deploy) and over the dumps
`backup.list` shows (restore), as docs/recovery.md says; the check compares every workload's fingerprint. A new
service in the drill is one more Workload, nothing else: Gitea is one (issue 20), deployed from compose/gitea as
test_gitea.py deploys it, its repositories and PostgreSQL on fortress as in production; a repository pushed before
the backup must clone back byte-identical, a commit pushed after it must be gone. Its folder on fortress is
compared through that clone, not file by file: the running Gitea and PostgreSQL keep changing it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shlex
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import tomlkit

from colab import inventory
from colab.compose import compose_argv
from colab.render.tree import render_tree
from tests.conftest import STANDINS, FakeInfisical, require_tool
from tests.harness import containers
from tests.harness import images as test_images
from tests.harness.containers import KeyPair
from tests.harness.inv import run_inv
from tests.integration import test_gitea as gitea_test
from tests.integration.conftest import _build, _live_output
from tests.integration.deploy_support import project_containers, remove_project, write_cluster
from tests.integration.test_backup_postgres import DIGEST, SEED, build_postgres_image
from tests.integration.test_backup_support import make_tree
from tests.integration.test_bootstrap import _git_repo, build_image, wheels_for

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]

ROOT = Path(__file__).resolve().parents[2]
NODE = "cooperator"
USER = "crtr"
CHECKOUT = f"/home/{USER}/colab"
REPO_URL = "file:///srv/colab.git"
NOTES_DB_PASSWORD = f"drill-db-{secrets.token_hex(6)}"
POSTGRES_COMPOSE = """\
services:
  db:
    image: {image}
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: appdb
      POSTGRES_PASSWORD: ${{NOTES_DB_PASSWORD:?the database password comes from Infisical}}
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "app", "-d", "appdb"]
      interval: 1s
      timeout: 3s
      retries: 90
    stop_grace_period: 1s
volumes:
  pgdata:
"""


def tree_sums(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """SHA-256 of every file (and the target of every symlink) under root, by relative path; folders in `skip`
    (relative to root) are left out: a running service keeps changing them, its fingerprint stands for them."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if str((Path(dirpath) / d).relative_to(root)) not in skip]
        for name in files:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            out[rel] = "link:" + os.readlink(p) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass
class Drill:
    root: Path
    inventory: Path
    fortress: Path
    backup: Path
    network: str
    images: dict[str, str]  # what the workloads' compose files need, built before the cluster is written

    def inv(self) -> inventory.Inventory:
        return inventory.load(self.inventory)

    def sql(self, service: str, query: str) -> str:
        inv = self.inv()
        argv = compose_argv(inv, inv.service(service), ["exec", "-T", "db", "psql", "-U", "app", "-d", "appdb",
                                                        "-v", "ON_ERROR_STOP=1", "-qtA"])  # fmt: skip
        res = subprocess.run(argv, input=query, capture_output=True, text=True, timeout=120, check=True)
        return res.stdout.strip()


@dataclass(frozen=True)
class Workload:
    """A service the old cooperator ran, as the drill needs it: its inventory entry, compose file (formatted with
    the drill's images), secrets, Docker volumes (lost with the box), how to fill it before the backup, what a
    write after the backup is (lost: the RPO window), and a fingerprint of its data to compare after recovery."""

    service: str
    entry: dict[str, object]
    compose: str
    secrets: dict[str, str]
    volumes: tuple[str, ...]
    fill: Callable[[Drill], None]
    write_late: Callable[[Drill], None]
    fingerprint: Callable[[Drill], str]
    live: tuple[str, ...] = ()  # its folders on fortress (relative): compared by fingerprint, not file by file

    @property
    def secrets_path(self) -> str:
        return str(self.entry["secrets_path"])

    @property
    def dumps(self) -> list[str]:
        """`service/database` of each database the nightly dumps (as `backup.list` names them)."""
        dbs = self.entry.get("databases", [])
        return [f"{self.service}/{db['name']}" for db in dbs] if isinstance(dbs, list) else []


def _notes_fill(d: Drill) -> None:
    d.sql("notes", SEED)


def _notes_late(d: Drill) -> None:
    d.sql("notes", "INSERT INTO notes VALUES (99999, 'written after the backup', DATE '2025-01-01')")


NOTES = Workload(
    service="notes",
    entry={"node": NODE, "secrets_path": "/notes", "secrets": ["NOTES_DB_PASSWORD"],
           "databases": [{"service": "db", "name": "appdb", "user": "app"}]},
    compose=POSTGRES_COMPOSE,
    secrets={"NOTES_DB_PASSWORD": NOTES_DB_PASSWORD},
    volumes=("notes_pgdata",),
    fill=_notes_fill,
    write_late=_notes_late,
    fingerprint=lambda d: d.sql("notes", DIGEST),
)  # fmt: skip


def _gitea_compose() -> str:
    """compose/gitea/compose.yaml as test_gitea.py deploys it, with the drill's images as format fields."""
    marks = {"prepare": "@BUSYBOX@", "db": "@PG@", "gitea": "@GITEA@"}
    text = gitea_test.compose_for_tests(marks, GITEA_PORT).replace("{", "{{").replace("}", "}}")
    return text.replace("@BUSYBOX@", "{busybox}").replace("@PG@", "{image}").replace("@GITEA@", "{gitea}")


GITEA_PORT = gitea_test.free_port()
GITEA_URL = f"http://127.0.0.1:{GITEA_PORT}"
GITEA_REPO = f"{GITEA_URL}/{gitea_test.ADMIN}/drill.git"
GITEA_STATE: dict[str, str] = {}  # the admin's access token, made by the fill (it lives in Gitea's database)


def _gitea_commit(d: Drill, name: str, data: bytes) -> None:
    work = d.root / "gitea-work"
    if not work.exists():
        work.mkdir()
        assert gitea_test.git("init", "-q", "-b", "main", cwd=work).returncode == 0
    (work / name).write_bytes(data)
    for args in (["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", name],
                 ["push", "-q", GITEA_REPO, "main"]):  # fmt: skip
        res = gitea_test.git(*args, cwd=work, token=GITEA_STATE.get("token", ""))
        assert res.returncode == 0, res.stderr


def _gitea_fill(d: Drill) -> None:
    """An admin and its token (in the database), a private repository with a commit (on fortress)."""
    GITEA_STATE.clear()
    ((cid, *_),) = [c for n, c in project_containers("gitea").items() if n.startswith("gitea-gitea-")]
    password = secrets.token_urlsafe(18)
    made = subprocess.run(
        ["docker", "exec", "-i", cid, "sh", "-c",
         'read -r p; exec gitea admin user create --admin --username "$1" --email "$1@example.invalid" '
         '--password "$p" --must-change-password=false', "sh", gitea_test.ADMIN],
        input=password + "\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    basic = base64.b64encode(f"{gitea_test.ADMIN}:{password}".encode()).decode()
    scopes = ["write:repository", "write:user"]
    for path, body in ((f"/users/{gitea_test.ADMIN}/tokens", {"name": "drill", "scopes": scopes}),
                       ("/user/repos", {"name": "drill", "private": True})):  # fmt: skip
        req = urllib.request.Request(f"{GITEA_URL}/api/v1{path}", json.dumps(body).encode(), method="POST")
        req.add_header("Authorization", f"token {GITEA_STATE['token']}" if "token" in GITEA_STATE else f"Basic {basic}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as res:
            answer = json.loads(res.read())
        GITEA_STATE.setdefault("token", answer.get("sha1", ""))
    _gitea_commit(d, "data.bin", secrets.token_bytes(200_000))


def _gitea_fingerprint(d: Drill) -> str:
    """The commit and the bytes of a fresh clone over git HTTP (with the token the fill made)."""
    clone = d.root / f"gitea-clone-{time.monotonic_ns()}"
    res = gitea_test.git("clone", "-q", GITEA_REPO, str(clone), cwd=d.root, token=GITEA_STATE["token"])
    assert res.returncode == 0, res.stderr
    head = gitea_test.git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    files = hashlib.sha256(json.dumps(gitea_test.tree_digest(clone), sort_keys=True).encode()).hexdigest()
    shutil.rmtree(clone)
    return f"{head} {files}"


GITEA = Workload(
    service="gitea",
    entry={"node": NODE, "secrets_path": "/gitea", "secrets": list(gitea_test.GITEA_SECRETS),
           "domains": ["git.ism.la"], "port": GITEA_PORT, "databases": [{"service": "db", "name": "gitea",
           "user": "gitea"}], "env": {"GITEA__actions__ENABLED": "true", "GITEA__packages__ENABLED": "true"}},
    compose=_gitea_compose(),
    secrets={"GITEA_DB_PASSWORD": f"drill-gitea-{secrets.token_hex(6)}", "GITEA_SECRET_KEY": secrets.token_urlsafe(48),
             "GITEA_INTERNAL_TOKEN": secrets.token_urlsafe(48),
             "GITEA_JWT_SECRET": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()},
    volumes=(),
    fill=_gitea_fill,
    write_late=lambda d: _gitea_commit(d, "late.txt", b"pushed after the backup\n"),
    fingerprint=_gitea_fingerprint,
    live=("data/gitea",),  # Gitea's repositories and PostgreSQL's cluster, as in production
)  # fmt: skip

WORKLOADS: tuple[Workload, ...] = (NOTES, GITEA)
LIVE = tuple(path for w in WORKLOADS for path in w.live)


def ok(res: subprocess.CompletedProcess[str], code: int = 0) -> subprocess.CompletedProcess[str]:
    assert res.returncode == code, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    return res


@pytest.fixture
def drill(
    tmp_path: Path, docker_engine: str, pytestconfig: pytest.Config, fake_infisical: FakeInfisical
) -> Iterator[Drill]:
    require_tool("docker", "rsync")
    images = {
        "image": build_postgres_image(pytestconfig),
        "gitea": _build(pytestconfig, test_images.build_gitea_image),
        "busybox": _build(pytestconfig, test_images.build_busybox_image),
    }
    tag = f"drill-{os.getpid()}"
    subnet = f"10.221.{os.getpid() % 250}.0/24"
    cluster = write_cluster(tmp_path, tag, {w.service: w.entry for w in WORKLOADS}, subnet)
    for w in WORKLOADS:
        (cluster.compose_dir(w.service) / "compose.yaml").write_text(w.compose.format(**images))
        fake_infisical.set(w.secrets_path, **w.secrets)
    backup = tmp_path / "backup"
    (backup / ".colab-backup").mkdir(parents=True)
    doc = tomlkit.parse(cluster.inventory.read_text())
    doc["backup"]["source"], doc["backup"]["target"] = str(cluster.server_fortress), str(backup)  # type: ignore[index]
    doc["cluster"]["repo_url"] = REPO_URL  # type: ignore[index]
    cluster.inventory.write_text(tomlkit.dumps(doc))
    inventory.load(cluster.inventory)
    d = Drill(tmp_path, cluster.inventory, cluster.server_fortress, backup, cluster.network, images)
    try:
        yield d
    finally:
        lose_workloads(cluster.network)


def lose_workloads(network: str) -> None:
    """What the dead box takes with it: every workload's containers and Docker volumes."""
    for w in WORKLOADS:
        remove_project(w.service, network)
        subprocess.run(["docker", "volume", "rm", "-f", *w.volumes], capture_output=True)


@dataclass(frozen=True)
class Replacement:
    name: str

    def root(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A command as root on the new node, in its checkout (what `sudo -i` there is in the runbook)."""
        res = containers.docker_exec(self.name, "sh", "-c", f"cd {CHECKOUT} && {command}", check=False, timeout=timeout)
        return subprocess.CompletedProcess(res.args, res.returncode, res.stdout.decode(), res.stderr.decode())


def start_replacement(drill: Drill, keypair: KeyPair, image: str, wheels: Path) -> Replacement:
    """The new cooperator: a fresh node container; the surviving backup volume and the new (empty) fortress disk
    at their own paths, the engine's socket; chezmoi, mise, the Infisical stand-in (its vault: the database
    password), the docker CLI and compose plugin, and the repository chezmoi clones (the rendered inventory plus
    the project)."""
    inv = drill.inv()
    address = str(inv.node(NODE).mesh)
    name = f"colab-test-drill-{os.getpid()}"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    plugin = Path("/usr/local/lib/docker/cli-plugins/docker-compose")
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--hostname", NODE,
         "-e", f"COLAB_AUTHORIZED_KEYS={keypair.public_text}", "-p", f"{address}::22",
         "-v", f"{drill.root}:{drill.root}", "-v", "/var/run/docker.sock:/var/run/docker.sock", image],
        check=True, capture_output=True,
    )  # fmt: skip
    port = int(containers.docker("port", name, "22/tcp").stdout.decode().split(":")[-1])
    doc = tomlkit.parse(drill.inventory.read_text())
    doc["nodes"][NODE]["ssh_port"], doc["nodes"][NODE]["ssh_user"] = port, USER  # type: ignore[index]
    drill.inventory.write_text(tomlkit.dumps(doc))
    repo = drill.root / "repo"
    _git_repo(render_tree(inventory.load(drill.inventory)), repo)
    for src, dest in (
        (Path(shutil.which("chezmoi") or "").resolve(), "/usr/local/bin/chezmoi"),
        (Path(shutil.which("mise") or "").resolve(), "/usr/local/bin/mise"),
        (Path(shutil.which("docker") or "").resolve(), "/usr/bin/docker"),
        (STANDINS / "infisical", "/opt/colab-standins/infisical"),
        (repo, "/srv/colab.git"),
    ):
        containers.docker("cp", str(src), f"{name}:{dest}")
    containers.docker_exec(name, "mkdir", "-p", str(plugin.parent))
    containers.docker("cp", str(plugin.resolve()), f"{name}:{plugin}")
    containers.docker("cp", f"{wheels}/.", f"{name}:/opt/wheelhouse")
    vault = {"project": inv.infisical.project_id,
             "envs": {inv.infisical.environment: {w.secrets_path: w.secrets for w in WORKLOADS}}}  # fmt: skip
    setup = (
        'printf "%s" "$1" > /etc/colab-test/vault.json && chmod 0600 /etc/colab-test/vault.json && '
        "chown -R crtr:crtr /srv/colab.git && chmod -R a+rX /opt/wheelhouse && "
        "chmod 0755 /usr/local/bin/chezmoi /usr/local/bin/mise /usr/bin/docker /opt/colab-standins/infisical"
    )
    containers.docker_exec(name, "sh", "-c", setup, "sh", json.dumps(vault))
    known_hosts = drill.root / "known_hosts"
    deadline = time.monotonic() + 60
    while containers.docker_exec(name, "test", "-s", "/etc/ssh/ssh_host_ed25519_key.pub", check=False).returncode:
        assert time.monotonic() < deadline, "the node made no host key"
        time.sleep(0.2)
    known_hosts.write_text(containers.known_hosts_line(name, address, port))
    containers.wait_for_ssh(address, port, USER, keypair.private, known_hosts, timeout=60)
    os.environ["COLAB_SSH_KEY"] = str(keypair.private)
    os.environ["COLAB_SSH_OPTS"] = shlex.join(containers.ssh_options(known_hosts))
    return Replacement(name)


def test_disaster_drill_rebuilds_cooperator_from_the_backup_volume(
    drill: Drill,
    ssh_keypair: KeyPair,
    node_image: str,
    pytestconfig: pytest.Config,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_tool("ssh", "git", "chezmoi", "mise")
    with _live_output(pytestconfig) as echo:
        image = build_image(node_image, echo)
    wheels = wheels_for(image)
    monkeypatch.setenv("COLAB_SSH_KEY", "")  # restored after the test (start_replacement sets both)
    monkeypatch.setenv("COLAB_SSH_OPTS", "")

    # Before: the services deployed and filled, files on fortress; the nightly backup.
    for w in WORKLOADS:
        ok(run_inv("deploy", "--service", w.service, node=NODE, inventory=drill.inventory, timeout=300))
        w.fill(drill)
    make_tree(drill.fortress / "data" / "photos", dirs=5, files=40, size=4096)
    (drill.fortress / "data" / "notes.txt").write_text("written before the disaster\n")
    ok(run_inv("backup.daily", node=NODE, inventory=drill.inventory, timeout=300))
    prints = {w.service: w.fingerprint(drill) for w in WORKLOADS}
    files = tree_sums(drill.fortress, LIVE)
    assert all(prints.values()) and len(files) > 200
    listed = json.loads(ok(run_inv("backup.list", "--json", node=NODE, inventory=drill.inventory, timeout=300)).stdout)[
        "backups"
    ]
    # Work after the backup is what a disaster loses (the RPO window): it must not come back.
    (drill.fortress / "data" / "after-the-backup.txt").write_text("lost with the box\n")
    for w in WORKLOADS:
        w.write_late(drill)
        assert w.fingerprint(drill) != prints[w.service], f"{w.service}: the late write changed nothing"
    disaster_at = time.time()

    # The disaster: the box is gone — services, their volumes, fortress. The backup volume survives.
    lose_workloads(drill.network)
    shutil.rmtree(drill.fortress)
    drill.fortress.mkdir()  # the new, empty disk

    node = start_replacement(drill, ssh_keypair, image, wheels)
    try:
        as_root = f"COLAB_NODE={NODE} COLAB_INVENTORY={drill.inventory} .venv/bin/inv"
        started = time.monotonic()
        timings: dict[str, float] = {}

        def step(name: str, res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
            timings[name] = round(time.monotonic() - started - sum(timings.values()), 1)
            return ok(res)

        # the runbook (docs/recovery.md), step by step; steps 3 and 4 once per service and per dump
        step("bootstrap", run_inv("bootstrap", "--node", NODE, "--steps", "chezmoi,venv", node="terminator",
                                  inventory=drill.inventory, timeout=900))  # fmt: skip
        step("restore fortress", node.root(f"{as_root} backup.restore --in-place --yes"))
        on_node = [name for name, svc in drill.inv().services.items() if svc.node == NODE]
        assert sorted(on_node) == sorted(w.service for w in WORKLOADS)
        for service in on_node:
            step(f"redeploy {service}", node.root(f"{as_root} deploy --service {service}"))
        dumps = sorted({e["name"].rsplit("-", 1)[0] for e in listed if e["kind"] == "dump"})
        assert dumps == sorted(key for w in WORKLOADS for key in w.dumps)
        for key in dumps:
            database = key.split("/", 1)[1]
            step(f"restore {key}", node.root(f"{as_root} backup.restore --dump {key} --database {database} "
                                             "--in-place --yes"))  # fmt: skip
        check = step("check", node.root(f"{as_root} backup.check --full --json"))
        rto = time.monotonic() - started

        # Verified against what was backed up (and nothing written after it)
        assert tree_sums(drill.fortress, LIVE) == files
        assert {w.service: w.fingerprint(drill) for w in WORKLOADS} == prints
        assert json.loads(check.stdout)["exit_code"] == 0
        # RPO: the restored data is what rsync read when the newest snapshot started
        snap = next(b for b in listed if b["kind"] == "daily" and b["latest"])
        meta = json.loads((drill.backup / ".colab-backup" / "meta" / f"{snap['name']}.json").read_text())
        rpo = disaster_at - datetime.fromisoformat(meta["started"]).timestamp()
        report = {"rto_seconds": round(rto, 1), "rpo_seconds": round(rpo, 1), "steps": timings}
        (drill.root / "drill.json").write_text(json.dumps(report))
        with _live_output(pytestconfig) as say:
            say(f"disaster drill: RTO {rto:.1f} s, RPO {rpo:.0f} s; steps {timings}")
        assert rto < 900
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", node.name], capture_output=True)
