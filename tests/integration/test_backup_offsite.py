"""The off-site copy with real restic over SFTP to an SSH node container (director), the password from the
Infisical stand-in: copy, nothing changed on a second run, an incremental copy that reads only what changed,
restic's retention, `--check`, `backup.restore --from offsite`, and the password (the CANARY) in no file, argv or
output. `--dry-run` prints the commands with `RESTIC_PASSWORD=***` and contacts nothing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from colab import inventory
from tests.conftest import CANARY, FakeInfisical, require_tool
from tests.harness.containers import NodeContainer
from tests.integration.conftest import _live_output
from tests.integration.deploy_support import ArgvWatch, files_containing
from tests.integration.test_backup_support import cron_inv, daily_args, differences, make_tree, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.tools]

REPO = "/home/crtr/offsite/restic"


def offsite_inventory(tmp_path: Path, node: NodeContainer, src: Path, dst: Path, **offsite: Any) -> Path:
    path = write_inventory(tmp_path / "inventory.toml", source=src, target=dst)
    doc = tomlkit.parse(path.read_text())
    director: Any = doc["nodes"][node.node]  # type: ignore[index]
    director["ssh_port"], director["ssh_user"] = node.port, node.user
    table = tomlkit.table()
    for key, value in {"node": node.node, "path": REPO, "password_path": "/backup", **offsite}.items():
        table[key] = value
    doc["backup"]["offsite"] = table  # type: ignore[index]
    path.write_text(tomlkit.dumps(doc))
    inventory.load(path)
    return path


def ok(res: Any, code: int = 0) -> None:
    assert res.returncode == code, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"


def steps(res: Any) -> dict[str, tuple[str, str]]:
    data = json.loads(res.stdout)
    return {s["step"]: (s["status"], s["detail"]) for s in data["steps"]}


@pytest.fixture
def setup(
    tmp_path: Path, node_container: NodeContainer, fake_infisical: FakeInfisical
) -> tuple[Path, Path, Path, dict[str, str]]:
    require_tool("restic", "rsync")
    src, dst = tmp_path / "fortress", tmp_path / "backup"
    make_tree(src, dirs=4, files=25, size=3000)
    dst.mkdir()
    (dst / ".colab-backup").mkdir()
    inv = offsite_inventory(tmp_path, node_container, src, dst, retention={"daily": 1, "weekly": 1, "monthly": 1})
    fake_infisical.set("/backup", RESTIC_PASSWORD=CANARY)
    node_container.exec("rm", "-rf", "/home/crtr/offsite", check=False)
    extra = {"RESTIC_CACHE_DIR": str(tmp_path / "restic-cache")}
    return src, dst, inv, extra


def restic_snapshots(node: NodeContainer, extra: dict[str, str]) -> list[str]:
    """The tags of the repository's snapshots, read with restic itself over SFTP (the password in its env)."""
    import subprocess

    ssh = f"ssh {node.ssh_opts} -i {node.key} -p {node.port} {node.user}@{node.host} -s sftp"
    res = subprocess.run(
        ["restic", "-r", f"sftp:{node.user}@{node.host}:{REPO}", "-o", f"sftp.command={ssh}", "snapshots", "--json"],
        env={**os.environ, **extra, "RESTIC_PASSWORD": CANARY},
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(next(t for t in s["tags"] if "-" in t) for s in json.loads(res.stdout))


def test_offsite_copy_is_incremental_idempotent_checked_and_restorable(
    setup: tuple[Path, Path, Path, dict[str, str]],
    node_container: NodeContainer,
    tmp_path: Path,
    pytestconfig: pytest.Config,
) -> None:
    src, dst, inv, extra = setup
    started = time.time()
    took: dict[str, float] = {}

    def offsite(label: str, *args: str) -> Any:
        """`inv backup.offsite ARGS`, timed (the whole process: Python, restic, SFTP to the node)."""
        t0 = time.monotonic()
        res = cron_inv(inv, "backup.offsite", "--target", str(dst), *args, "--json", **extra)
        took[label] = round(time.monotonic() - t0, 1)
        return res

    with ArgvWatch(CANARY) as watch:
        ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
        dump = dst / "dumps" / "gitea" / "gitea-20240101.dump"
        dump.parent.mkdir(parents=True, mode=0o700)
        dump.write_bytes(b"PGDMP fake dump for the off-site copy\n" * 100)
        first = offsite("first copy", "--now", "2024-01-01T05:30")
        ok(first)
        got = steps(first)
        assert got["repository"][0] == "changed"
        assert got["copy fortress-20240101"][0] == "changed" and "100 new" in got["copy fortress-20240101"][1]
        assert got["copy dumps-20240101"][0] == "changed"
        # a second run: the snapshot is off-site already, nothing changes
        again = offsite("second run, nothing new", "--now", "2024-01-01T06:00")
        ok(again)
        assert {k: v[0] for k, v in steps(again).items()} == {
            "copy fortress-20240101": "ok",
            "copy dumps-20240101": "ok",
            "retention": "ok",
        }
        # day 2: one file changed; restic reads only that one (parent found, hard links' ctime ignored)
        changed = sorted(src.rglob("*.bin"))[7]
        changed.write_bytes(b"changed on day 2")
        ok(cron_inv(inv, *daily_args(src, dst, "2024-01-02T03:15")))
        second = offsite("next day, 1 file changed", "--now", "2024-01-02T05:30")
        ok(second)
        detail = steps(second)["copy fortress-20240102"][1]
        assert "0 new, 1 changed, 99 unchanged files" in detail, detail
        # retention 1/1/1 (restic forget): day 1's fortress copy goes, the only dump copy stays
        assert steps(second)["retention"] == ("changed", "1 off-site snapshot(s) expired")
        assert restic_snapshots(node_container, extra) == ["dumps-20240101", "fortress-20240102"]
        check = offsite("check", "--check")
        ok(check)
        assert steps(check)["check"][0] == "ok"
        # restore from the off-site copy: a folder, and the dumps
        into = tmp_path / "from-offsite"
        rel = changed.parent.relative_to(src)
        ok(cron_inv(inv, "backup.restore", "--from", "offsite", "--target", str(dst), "--path", str(rel), "--into",
                   str(into), **extra))  # fmt: skip
        assert differences(src / rel, into / rel) == []
        assert (into / rel / changed.name).read_bytes() == b"changed on day 2"
        dumps_into = tmp_path / "dumps-from-offsite"
        ok(cron_inv(inv, "backup.restore", "--from", "offsite", "--target", str(dst), "--path", "dumps", "--into",
                   str(dumps_into), **extra))  # fmt: skip
        assert (dumps_into / "gitea" / dump.name).read_bytes() == dump.read_bytes()
        # the record feeds the off-site age metric
        record = json.loads((dst / ".colab-backup" / "meta" / "offsite.json").read_text())
        assert record["snapshot"] == "fortress-20240102"
        outputs = [first, again, second, check]
    assert watch.samples > 50 and watch.hits == [], watch.hits
    for res in outputs:
        assert CANARY not in res.stdout + res.stderr
    assert list(files_containing(CANARY, [tmp_path], started)) == []
    leaked = node_container.exec("grep", "-rl", CANARY, "/home/crtr", check=False)
    assert leaked.returncode == 1 and leaked.stdout == b"", leaked.stdout  # grep: 1 = not found
    with _live_output(pytestconfig) as say:
        say(f"off-site copy of 100 files (300 KB) and a dump, seconds: {took}")


def test_dry_run_contacts_nothing_and_shows_the_password_as_stars(
    setup: tuple[Path, Path, Path, dict[str, str]], node_container: NodeContainer
) -> None:
    src, dst, inv, extra = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    res = cron_inv(inv, "backup.offsite", "--target", str(dst), "--dry-run", **extra)
    ok(res)
    assert "RESTIC_PASSWORD=*** restic -r sftp:crtr@" in res.stderr
    assert f"cd {dst}/fortress-20240101 && RESTIC_PASSWORD=*** restic" in res.stderr
    assert (
        "backup --parent '<parent>' --json --host colab-" in res.stderr
        and "--tag fortress,fortress-20240101" in res.stderr
    )
    assert CANARY not in res.stdout + res.stderr
    assert node_container.exec("test", "-e", "/home/crtr/offsite", check=False).returncode == 1


def test_wrong_or_missing_password_is_one_line(
    setup: tuple[Path, Path, Path, dict[str, str]], fake_infisical: FakeInfisical
) -> None:
    src, dst, inv, extra = setup
    ok(cron_inv(inv, *daily_args(src, dst, "2024-01-01T03:15")))
    ok(cron_inv(inv, "backup.offsite", "--target", str(dst), **extra))
    fake_infisical.set("/backup", RESTIC_PASSWORD="not-the-password")
    res = cron_inv(inv, "backup.offsite", "--target", str(dst), **extra)
    ok(res, 1)
    assert res.stderr.strip().startswith("error: the off-site repository sftp:crtr@"), res.stderr
    assert "does not open with the password from Infisical" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    fake_infisical.envs["prod"]["/backup"].pop("RESTIC_PASSWORD")
    fake_infisical.set("/backup", OTHER="x")
    res = cron_inv(inv, "backup.offsite", "--target", str(dst), **extra)
    ok(res, 1)
    assert res.stderr.strip() == (
        "error: missing secret(s) RESTIC_PASSWORD at Infisical path /backup (env prod): the off-site repository "
        "needs them; add them in Infisical"
    )
