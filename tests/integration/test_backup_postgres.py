"""Database dumps against a real PostgreSQL in a locally built container, through `docker compose exec -T`
under the Infisical stand-in: create tables, dump (daily), drop, restore into a new database and in place,
compare. The database password is the CANARY: it must show up in no file, argv or output of ours.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from colab import inventory
from colab.backup import snapshots
from colab.compose import compose_argv, project_dir
from colab.runner import Runner
from colab.status import backups as status_backups
from colab.status.model import Level
from tests.conftest import CANARY, ROOT, FakeInfisical, require_tool
from tests.harness import images
from tests.integration.test_backup_support import cron_inv, daily_args, make_tree, snapshot_names, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]

PG_CONTEXT = ROOT / "tests" / "docker" / "postgres"
PG_TAG = "colab-test/postgres:trixie"
SECRETS_PATH = "/bkpg"
COMPOSE = """\
services:
  db:
    image: {image}
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: appdb
      POSTGRES_PASSWORD: ${{BKTEST_DB_PASSWORD:?the database password comes from Infisical}}
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "app", "-d", "appdb"]
      interval: 1s
      timeout: 3s
      retries: 90
    stop_grace_period: 1s
"""
SEED = """
CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL, created date NOT NULL);
INSERT INTO notes SELECT n, 'note ' || n || ' grüße ✓', DATE '2024-01-01' + (n % 365) FROM generate_series(1, 5000) n;
CREATE TABLE tags (note int REFERENCES notes(id), tag text);
INSERT INTO tags SELECT n, 'tag' || (n % 7) FROM generate_series(1, 5000, 3) n;
"""
DIGEST = "SELECT md5(string_agg(id || ':' || body || ':' || created, ',' ORDER BY id)) FROM notes"


def build_postgres_image(config: pytest.Config) -> str:
    """colab-test/postgres on the debootstrap base, rebuilt only when its recipe (files, base id) changes."""
    capman = config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else _null():
        base = images.build_base_image()
        return images.context_image(PG_TAG, PG_CONTEXT, base)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


@pytest.fixture(scope="session")
def pg_image(docker_engine: str, pytestconfig: pytest.Config) -> str:
    try:
        return build_postgres_image(pytestconfig)
    except images.MissingToolError as e:
        require_tool(e.tool)
        raise


class Db:
    """The test's Compose project: one PostgreSQL service, every compose call under the stand-in injection."""

    def __init__(self, inv_path: Path, service: str) -> None:
        self.inv = inventory.load(inv_path)
        self.svc = self.inv.service(service)

    def compose(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            compose_argv(self.inv, self.svc, list(args)),
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            timeout=180,
        )

    def sql(self, query: str, database: str = "appdb") -> str:
        res = self.compose("exec", "-T", "db", "psql", "-U", "app", "-d", database, "-v", "ON_ERROR_STOP=1",
                           "-qtA", stdin=query)  # fmt: skip
        return res.stdout.strip()


@pytest.fixture
def db(
    pg_image: str, fake_infisical: FakeInfisical, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Db, Path, Path, Path]]:
    require_tool("docker")
    name = f"bkpg-{secrets.token_hex(3)}"
    fortress, src, dst = tmp_path / "fortress", tmp_path / "fortress" / "data", tmp_path / "backup"
    make_tree(src, dirs=1, files=3, size=100)
    dst.mkdir()
    service = {
        "node": "cooperator",
        "compose": "compose/bkpg",
        "secrets_path": SECRETS_PATH,
        "secrets": ["BKTEST_DB_PASSWORD"],
        "databases": [{"service": "db", "name": "appdb", "user": "app"}],
    }
    inv_path = write_inventory(
        tmp_path / "inventory.toml", source=src, target=dst, fortress=fortress, services={name: service}
    )
    fake_infisical.set(SECRETS_PATH, env="prod", BKTEST_DB_PASSWORD=CANARY)
    monkeypatch.setenv("COLAB_FAKE_INFISICAL_LOG", str(tmp_path / "infisical.log"))
    handle = Db(inv_path, name)
    project = Path(project_dir(handle.inv, handle.svc))
    project.mkdir(parents=True)
    (project / "compose.yaml").write_text(COMPOSE.format(image=pg_image))
    try:
        up = handle.compose("up", "-d", "--wait", "--wait-timeout", "120", check=False)
        assert up.returncode == 0, up.stdout + up.stderr
        handle.sql(SEED)
        yield handle, inv_path, src, dst
    finally:
        handle.compose("down", "-v", "-t", "1", check=False)


def test_dump_drop_restore_compare(db: tuple[Db, Path, Path, Path], tmp_path: Path) -> None:
    handle, inv, src, dst = db
    name = handle.svc.name
    original = handle.sql(DIGEST)
    assert len(original) == 32

    res = cron_inv(inv, *daily_args(src, dst, "2024-01-05T03:15", "--json"))
    assert res.returncode == 0, res.stdout + res.stderr
    data = json.loads(res.stdout)
    assert [d["status"] for d in data["dumps"]] == ["changed"]
    dump = dst / "dumps" / name / "appdb-20240105.dump"
    assert dump.read_bytes()[:5] == b"PGDMP"
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert sorted(p.name for p in dump.parent.iterdir()) == ["appdb-20240105.dump"]  # nothing half-written
    host_list = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True)
    if host_list.returncode == 0:  # the host's pg_restore reads it too when its version is recent enough
        assert "TABLE DATA public notes" in host_list.stdout
    assert snapshot_names(dst) == ["fortress-20240105"]

    handle.sql("DROP TABLE tags; DROP TABLE notes;")
    restore = ["backup.restore", "--source", str(src), "--target", str(dst), "--dump", f"{name}/appdb"]
    res = cron_inv(inv, *restore, "--database", "appdb_restored")
    assert res.returncode == 0, res.stdout + res.stderr
    assert handle.sql(DIGEST, database="appdb_restored") == original
    assert handle.sql("SELECT count(*) FROM tags", database="appdb_restored") == "1667"

    res = cron_inv(inv, *restore, "--database", "appdb")
    assert res.returncode == 1
    assert res.stderr.strip() == (
        f"error: appdb is the live database of {name}/appdb; restore into another name, or add --in-place"
    )
    res = cron_inv(inv, *restore, "--database", "appdb", "--in-place", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert handle.sql(DIGEST) == original

    everything = res.stdout + res.stderr
    for path in dst.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    assert CANARY not in everything
    log = (tmp_path / "infisical.log").read_text()
    assert log.count('"run"') >= 5 and CANARY not in log  # every compose call went through the injection


def test_a_failed_dump_fails_the_run_but_the_snapshot_is_taken(db: tuple[Db, Path, Path, Path]) -> None:
    handle, inv, src, dst = db
    handle.compose("stop", "-t", "1", "db")
    res = cron_inv(inv, *daily_args(src, dst, "2024-01-06T03:15", "--json"))
    assert res.returncode == 1, res.stdout + res.stderr
    steps = {s["step"]: s for s in json.loads(res.stdout)["steps"]}
    dump_step = steps[f"dump {handle.svc.name}/appdb"]
    assert dump_step["status"] == "failed"
    assert dump_step["detail"].startswith(f"pg_dump of {handle.svc.name}/appdb failed (exit ")
    assert steps["snapshot fortress-20240106"]["status"] == "changed"
    assert snapshot_names(dst) == ["fortress-20240106"]
    key = f"{handle.svc.name}/appdb"
    assert snapshots.read_meta(dst, "fortress-20240106")["dumps"] == {"failed": [key]}
    check, _ = status_backups.probe(Runner("here"), str(dst), datetime(2024, 1, 6, 9, 0), timeout=30)
    assert (check.level, check.text) == (Level.WARN, f"fortress-20240106, 6h ago, snapshot ok, dumps failed: {key}")
    folder = dst / "dumps" / handle.svc.name
    assert not folder.exists() or list(folder.iterdir()) == []
    assert CANARY not in res.stdout + res.stderr
    assert os.environ.get("COLAB_FAKE_INFISICAL_VAULT")  # the stand-in provided the secret from memory only
