"""Dump command lines (exact argv under Infisical), dump files on the volume and their retention."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from colab import inventory
from colab.backup import dumps
from colab.backup.retention import Policy
from colab.errors import ColabError
from tests.conftest import DEFAULT_INVENTORY

INV = inventory.load(DEFAULT_INVENTORY)
PROJECT = INV.infisical.project_id
GITEA = ["infisical", "run", "--env", "prod", "--path", "/gitea", "--projectId", PROJECT, "--silent", "--",
         "docker", "compose", "--project-directory", "/srv/fortress/docker/gitea", "-p", "gitea",
         "exec", "-T", "db"]  # fmt: skip


def test_specs_follow_the_inventory() -> None:
    assert [s.key for s in dumps.specs(INV)] == ["gitea/gitea", "infisical/infisical"]


def test_dump_and_check_argv() -> None:
    spec = dumps.find_spec(INV, "gitea/gitea")
    assert dumps.dump_argv(INV, spec) == [*GITEA, "pg_dump", "-Fc", "-U", "gitea", "gitea"]
    assert dumps.list_argv(INV, spec) == [*GITEA, "pg_restore", "--list"]


def test_restore_argv() -> None:
    spec = dumps.find_spec(INV, "gitea/gitea")
    assert dumps.restore_argv(INV, spec, "gitea_restored") == [
        *GITEA, "pg_restore", "-U", "gitea", "-d", "gitea_restored", "--no-owner", "--clean", "--if-exists",
        "--single-transaction",
    ]  # fmt: skip
    assert dumps.create_argv(INV, spec, "gitea_restored") == [*GITEA, "createdb", "-U", "gitea", "gitea_restored"]
    assert dumps.exists_argv(INV, spec, "g2")[-1] == "SELECT 1 FROM pg_database WHERE datname = 'g2'"


def test_database_names_are_checked() -> None:
    spec = dumps.find_spec(INV, "gitea/gitea")
    with pytest.raises(ColabError, match='database name "x\'; DROP DATABASE gitea; --" is not valid'):
        dumps.restore_argv(INV, spec, "x'; DROP DATABASE gitea; --")
    with pytest.raises(ColabError, match=r"no database 'gitea/nope' in the inventory; .*gitea/gitea"):
        dumps.find_spec(INV, "gitea/nope")


def test_existing_dumps_and_retention_per_database(tmp_path: Path) -> None:
    spec = dumps.find_spec(INV, "gitea/gitea")
    for day in range(1, 10):
        p = dumps.final_path(tmp_path, spec, date(2024, 1, day))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"PGDMP")
    other = tmp_path / "dumps" / "infisical" / "infisical-20240101.dump"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"PGDMP")
    (other.parent / ".infisical-20240102.dump.tmp").write_bytes(b"partial")  # never listed
    found = dumps.existing(tmp_path)
    assert [f"{f.key}@{f.date:%d}" for f in found][:3] == ["gitea/gitea@01", "infisical/infisical@01", "gitea/gitea@02"]
    assert len(found) == 10
    got = dumps.decisions(tmp_path, Policy(7, 4, 12))
    gitea_pruned = [f.date.day for f, d in got["gitea/gitea"] if not d.keep]
    assert gitea_pruned == [2]  # 3-9 daily; the 1st is kept by the monthly rule, short of 12 (borg >= 1.2)
    assert [d.reason for f, d in got["gitea/gitea"] if f.date.day == 1] == ["monthly[oldest] 1/12 (2024-01)"]
    assert [d.keep for _f, d in got["infisical/infisical"]] == [True]
