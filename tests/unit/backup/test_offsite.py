"""The off-site copy's commands (exact restic argv), its inventory rules, its secrets and its record."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from colab import inventory
from colab.backup import offsite
from colab.errors import ColabError
from colab.inventory import Retention
from colab.metrics import backup_metrics
from colab.runner import Runner
from tests.conftest import CANARY, DEFAULT_INVENTORY, INVENTORIES, FakeInfisical


def with_offsite(tmp_path: Path, source: Path, **table: Any) -> inventory.Inventory:
    doc = tomlkit.parse(source.read_text())
    off = tomlkit.table()
    for key, value in table.items():
        off[key] = value
    doc["backup"]["offsite"] = off  # type: ignore[index]
    path = tmp_path / "inventory.toml"
    path.write_text(tomlkit.dumps(doc))
    return inventory.load(path)


@pytest.fixture
def loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> inventory.Inventory:
    monkeypatch.delenv("COLAB_SSH_OPTS", raising=False)
    monkeypatch.setenv("COLAB_SSH_KEY", "/keys/id_ed25519")
    from tests.conftest import INVENTORIES

    return with_offsite(tmp_path, INVENTORIES / "loopback.toml", node="director", path="/srv/offsite/restic")


def test_sftp_repository_reaches_the_node_with_the_runners_ssh_options(loop: inventory.Inventory) -> None:
    repo = offsite.repository(loop)
    director = loop.node("director")
    assert repo.url == f"sftp:crtr@{director.mesh}:/srv/offsite/restic"
    assert repo.host == f"colab-{loop.cluster.name}"
    assert repo.options == (
        "-o",
        "sftp.command=ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new "
        f"-i /keys/id_ed25519 -p {director.ssh_port} crtr@{director.mesh} -s sftp",
    )


def test_exact_restic_command_lines(loop: inventory.Inventory) -> None:
    repo = offsite.repository(loop)
    head = ["restic", "-r", repo.url, *repo.options]
    when = datetime(2024, 1, 13, 3, 15)
    assert offsite.backup_argv(repo, "fortress", "fortress-20240113", when, "ab12cd34") == [
        *head, "backup", "--parent", "ab12cd34", "--json", "--host", repo.host, "--tag", "fortress,fortress-20240113",
        "--time", "2024-01-13 03:15:00", "--ignore-ctime", ".",
    ]  # fmt: skip
    assert offsite.forget_argv(repo, Retention(daily=7, weekly=4, monthly=12), "dumps") == [
        *head, "forget", "--host", repo.host, "--tag", "dumps", "--group-by", "host",
        "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "12",
    ]  # fmt: skip
    assert offsite.check_argv(repo, "5%") == [*head, "check", "--read-data-subset=5%"]
    assert offsite.restore_argv(repo, "ff00", Path("/tmp/x"), "/data") == [
        *head, "restore", "ff00", "--target", "/tmp/x", "--include", "/data",
    ]  # fmt: skip


def test_the_default_inventory_copies_to_director_and_the_guard_refuses_it_under_test() -> None:
    inv = inventory.load(DEFAULT_INVENTORY)
    off = offsite.settings(inv)
    assert (off.node, off.path, off.password_name, off.schedule) == (
        "director", "/srv/colab-offsite/restic", "RESTIC_PASSWORD", "05:30",
    )  # fmt: skip
    assert offsite.policy(inv) == inv.backup.retention  # restic forget keeps 7/4/12 like the volume
    with pytest.raises(ColabError, match=r"100\.64\."):
        offsite.repository(inv)  # the real cluster is never contacted from tests


def test_s3_url_and_its_keys(tmp_path: Path) -> None:
    keys = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    inv = with_offsite(
        tmp_path, INVENTORIES / "loopback.toml", url="s3:https://s3.example.org/bucket/colab", secrets=keys
    )
    repo = offsite.repository(inv)
    assert (repo.url, repo.options) == ("s3:https://s3.example.org/bucket/colab", ())


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"node": "director"}, "backup.offsite: give node and path (SFTP to that node's disk), or url"),
        ({"node": "director", "path": "/x", "url": "s3:https://h/b"}, "give either node and path"),
        ({"node": "cooperator", "path": "/x"}, "backup.offsite.node: cooperator holds fortress or the backup volume"),
        ({"node": "nope", "path": "/x"}, "backup.offsite.node: 'nope' is not a node"),
        ({"node": "director", "path": "/x", "secrets": ["RESTIC_PASSWORD"]}, "list only the other secrets"),
    ],
)
def test_inventory_rules(tmp_path: Path, table: dict[str, Any], problem: str) -> None:
    with pytest.raises(inventory.InventoryError) as e:
        with_offsite(tmp_path, DEFAULT_INVENTORY, **table)
    assert problem in str(e.value)


def test_password_reaches_only_the_environment(loop: inventory.Inventory, fake_infisical: FakeInfisical) -> None:
    fake_infisical.set("/backup", RESTIC_PASSWORD=CANARY)
    runner = Runner("cooperator")
    env = offsite.environment(loop, runner)
    assert env == {"RESTIC_PASSWORD": CANARY}
    assert runner.redact(f"Fatal: {CANARY}") == "Fatal: ***"
    with pytest.raises(ColabError, match="refusing to put a secret in restic's command line"):
        offsite.run(runner, ["restic", f"--password={CANARY}"], env)
    res = offsite.run(runner, ["sh", "-c", 'printf "%s" "$RESTIC_PASSWORD" >&2; exit 3'], env)
    assert (res.returncode, res.stderr) == (3, "***")  # restic sees it; what it prints is masked


def test_missing_password_is_one_line(loop: inventory.Inventory, fake_infisical: FakeInfisical) -> None:
    fake_infisical.set("/backup", OTHER="x")
    with pytest.raises(ColabError) as e:
        offsite.environment(loop, Runner("cooperator"))
    assert str(e.value) == (
        "missing secret(s) RESTIC_PASSWORD at Infisical path /backup (env prod): the off-site repository needs "
        "them; add them in Infisical"
    )


def test_pick_latest_or_by_date() -> None:
    found = [
        {"id": "a", "tags": ["fortress", "fortress-20240101"]},
        {"id": "b", "tags": ["fortress", "fortress-20240102"]},
    ]
    assert offsite.pick(found, "latest")["id"] == "b"
    assert offsite.pick(found, "2024-01-01")["id"] == "a"
    assert offsite.pick(found, "fortress-20240102")["id"] == "b"
    with pytest.raises(
        LookupError, match="no off-site snapshot of 2023-12-31; newest: fortress-20240101, fortress-20240102"
    ):
        offsite.pick(found, "2023-12-31")


def test_offsite_age_metric_comes_from_the_record(tmp_path: Path) -> None:
    (tmp_path / ".colab-backup").mkdir(mode=0o755)
    assert backup_metrics.offsite_age(tmp_path, 1_000_000.0) is None  # no copy yet: no metric
    finished = datetime(2024, 1, 13, 5, 40)
    offsite.write_record(tmp_path, {"finished": finished.isoformat(), "snapshot": "fortress-20240113"})
    record = json.loads((tmp_path / ".colab-backup" / "meta" / "offsite.json").read_text())
    assert (
        record["snapshot"] == "fortress-20240113" and os.stat(tmp_path / ".colab-backup" / "meta").st_uid == os.getuid()
    )
    assert backup_metrics.offsite_age(tmp_path, finished.timestamp() + 3600) == 3600.0
