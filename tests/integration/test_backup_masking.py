"""`inv backup.daily` (what cron runs and logs) when a database dump fails and the Compose client quotes the
injected password: real rsync snapshot, the Infisical stand-in, a fake `docker` that prints the value it got.
The CANARY must reach the fake and appear in neither the table nor the JSON output (cron's log) nor a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import CANARY, FakeInfisical, require_tool
from tests.integration.test_backup_support import cron_inv, daily_args, make_tree, write_inventory
from tests.unit.backup.test_dump_masking import DOCKER

pytestmark = [pytest.mark.integration, pytest.mark.tools]


def test_a_failed_dump_in_the_daily_run_shows_no_injected_value(tmp_path: Path, fake_infisical: FakeInfisical) -> None:
    require_tool("rsync")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(DOCKER)
    (bin_dir / "docker").chmod(0o755)
    src, dst = tmp_path / "fortress" / "data", tmp_path / "backup"
    make_tree(src, dirs=1, files=3, size=100)
    dst.mkdir()
    inv = write_inventory(tmp_path / "inventory.toml", source=src, target=dst, keep_databases=True)
    fake_infisical.set("/gitea", GITEA_DB_PASSWORD=CANARY)
    fake_infisical.set("/infisical", INFISICAL_DB_PASSWORD=CANARY + "-2")
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "LOG": str(tmp_path / "seen.log"),
        "EXPECT_SHA": hashlib.sha256(CANARY.encode()).hexdigest(),
    }
    runs = [cron_inv(inv, *daily_args(src, dst, "2024-01-05T03:15", "--json"), **env),
            cron_inv(inv, *daily_args(src, dst, "2024-01-06T03:15"), **env)]  # fmt: skip
    assert [r.returncode for r in runs] == [1, 1], runs[0].stdout + runs[0].stderr
    steps = {s["step"]: s for s in json.loads(runs[0].stdout)["steps"]}
    dump = steps["dump gitea/gitea"]
    assert dump["status"] == "failed" and dump["detail"].endswith('(password "***")'), dump
    assert '(password "***")' in runs[1].stdout
    assert all(CANARY not in r.stdout + r.stderr for r in runs)
    seen = (tmp_path / "seen.log").read_text().split()
    assert seen.count("match") == 2  # gitea's dump got its password, on each run
    for path in dst.rglob("*"):
        assert not path.is_file() or CANARY.encode() not in path.read_bytes(), path
