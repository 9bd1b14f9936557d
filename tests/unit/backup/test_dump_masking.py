"""Error paths of the database dumps with a Compose client that quotes the injected password when it fails.

`docker` is a fake on PATH (the real image and database are exercised by tests/integration/test_backup_postgres.py);
the Infisical stand-in injects the CANARY. It must reach the fake (sha256 recorded, never the value) and appear in
no exception text; a dump that fails leaves no file holding it.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path

import pytest

from colab import inventory
from colab.backup import dumps
from colab.errors import ColabError
from tests.conftest import CANARY, DEFAULT_INVENTORY, FakeInfisical

INV = inventory.load(DEFAULT_INVENTORY)
SPEC = dumps.find_spec(INV, "gitea/gitea")
DOCKER = """#!/bin/sh
v=$(printf %s "${GITEA_DB_PASSWORD:-}" | sha256sum | cut -d" " -f1)
[ "$v" = "$EXPECT_SHA" ] && echo "docker match" >> "$LOG" || echo "docker other" >> "$LOG"
echo "FATAL: password authentication failed (password \\"$GITEA_DB_PASSWORD\\")" >&2
exit 1
"""


@pytest.fixture
def leaky_docker(tmp_path: Path, fake_infisical: FakeInfisical, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(DOCKER)
    (bin_dir / "docker").chmod(0o755)
    fake_infisical.set("/gitea", GITEA_DB_PASSWORD=CANARY)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("LOG", str(tmp_path / "seen.log"))
    monkeypatch.setenv("EXPECT_SHA", hashlib.sha256(CANARY.encode()).hexdigest())
    return tmp_path / "seen.log"


def test_a_failed_dump_masks_what_compose_printed(leaky_docker: Path, tmp_path: Path) -> None:
    target = tmp_path / "backup"
    target.mkdir()  # the backup volume (a run checks it is there first)
    with pytest.raises(ColabError) as info:
        dumps.take(INV, SPEC, target, date(2024, 1, 5))
    assert str(info.value) == (
        'pg_dump of gitea/gitea failed (exit 1): FATAL: password authentication failed (password "***")'
    )
    assert leaky_docker.read_text() == "docker match\n"
    for path in target.rglob("*"):
        assert not path.is_file() or CANARY.encode() not in path.read_bytes()


def test_a_failed_restore_masks_what_compose_printed(leaky_docker: Path, tmp_path: Path) -> None:
    dump = tmp_path / "gitea-20240105.dump"
    dump.write_bytes(b"PGDMP")
    with pytest.raises(ColabError) as info:
        dumps.restore(INV, SPEC, dump, "gitea_restored")
    assert str(info.value) == (
        'cannot reach the database of gitea/gitea: FATAL: password authentication failed (password "***")'
    )
    assert CANARY not in repr(info.value) and leaky_docker.read_text() == "docker match\n"


def test_a_short_required_secret_is_masked_too(
    leaky_docker: Path, tmp_path: Path, fake_infisical: FakeInfisical, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_infisical.set("/gitea", GITEA_DB_PASSWORD="pw42")  # the service's own secret, however short
    monkeypatch.setenv("EXPECT_SHA", hashlib.sha256(b"pw42").hexdigest())
    (tmp_path / "backup").mkdir()
    with pytest.raises(ColabError) as info:
        dumps.take(INV, SPEC, tmp_path / "backup", date(2024, 1, 5))
    assert str(info.value).endswith('(password "***")') and "pw42" not in str(info.value)
