"""Options and the safety checks that run before anything is written."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path

import pytest

from colab import inventory
from colab.backup import config
from colab.errors import ColabError
from tests.conftest import INVENTORIES


def inv_with(source: Path, target: Path) -> inventory.Inventory:
    data = tomllib.loads((INVENTORIES / "loopback.toml").read_text())
    data["backup"]["source"], data["backup"]["target"] = str(source), str(target)
    return inventory.from_dict(data)


def test_parse_now() -> None:
    assert config.parse_now("2024-01-05T03:15") == datetime(2024, 1, 5, 3, 15)
    for bad in ("2024-13-01T00:00", "yesterday", "2024-01-05 03:15"):
        with pytest.raises(ColabError, match=r"--now .* is not a date and time; use YYYY-MM-DDTHH:MM"):
            config.parse_now(bad)


def test_overrides_replace_inventory_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config.make(inventory.load(INVENTORIES / "loopback.toml"), source="src", target="/x/../backup")
    assert (cfg.source, cfg.target, cfg.overridden) == (tmp_path / "src", Path("/backup"), True)
    assert (cfg.policy.daily, cfg.policy.weekly, cfg.policy.monthly) == (7, 4, 12)


def test_unmounted_inventory_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    (tmp_path / "backup").mkdir()
    cfg = config.make(inv_with(tmp_path / "src", tmp_path / "backup"))
    with pytest.raises(ColabError, match="is not a mounted volume and holds no backups: is the RAID mounted"):
        config.check_target(cfg)
    (tmp_path / "backup" / ".colab-backup").mkdir()  # a folder this project already backs up into
    config.check_target(cfg)


def test_missing_target_and_empty_or_overlapping_source_are_refused(tmp_path: Path) -> None:
    inv = inventory.load(INVENTORIES / "loopback.toml")
    cfg = config.make(inv, source=str(tmp_path / "src"), target=str(tmp_path / "nope"))
    with pytest.raises(ColabError, match=r"backup target .*/nope is not a directory; create it \(an empty folder"):
        config.check_target(cfg)  # --target was given: never "pass --target"
    alone = config.make(inv_with(tmp_path / "src", tmp_path / "gone"), source=str(tmp_path / "src"))
    with pytest.raises(ColabError, match=r"/gone is not a directory; pass --target \(backup\.target is used with"):
        config.check_target(alone)
    (tmp_path / "src").mkdir()
    (tmp_path / "t").mkdir()
    with pytest.raises(ColabError, match="is empty: is fortress mounted"):
        config.check_source(config.make(inv, source=str(tmp_path / "src"), target=str(tmp_path / "t")))
    (tmp_path / "src" / "f").write_text("x")
    with pytest.raises(ColabError, match="overlap"):
        config.check_source(config.make(inv, source=str(tmp_path / "src"), target=str(tmp_path / "src" / "b")))


def test_vanish_threshold_comes_from_the_inventory_and_is_a_percentage(tmp_path: Path) -> None:
    data = tomllib.loads((INVENTORIES / "loopback.toml").read_text())
    assert config.make(inventory.from_dict(data)).vanish_threshold == 25  # the default
    data["backup"]["vanish_threshold"] = 60
    assert config.make(inventory.from_dict(data)).vanish_threshold == 60
    for bad in (0, 101, "50%"):
        data["backup"]["vanish_threshold"] = bad
        with pytest.raises(ColabError) as e:
            inventory.from_dict(data)
        assert len(str(e.value).splitlines()) == 1 and "backup.vanish_threshold" in str(e.value)
