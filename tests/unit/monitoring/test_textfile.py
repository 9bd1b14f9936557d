"""The textfile writer: exact Prometheus text format, and an atomic replace that leaves the old file whole."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from colab.errors import ColabError
from colab.metrics import textfile
from colab.metrics.textfile import Family


def test_exposition_is_exactly_the_text_format() -> None:
    up = Family("colab_node_up", "1 when up.\nSecond line \\ backslash")
    up.add(1, node="cooperator", availability="always")
    up.add(0, node='odd "name"\\x\n')
    big = Family("colab_bytes", "Bytes.")
    big.add(1953382464 * 1024)
    ratio = Family("colab_ratio", "A ratio.")
    ratio.add(0.125)
    ratio.add(float("nan"), case="nan")
    ratio.add(float("inf"), case="inf")
    empty = Family("colab_nothing", "Left out: no samples.")
    assert textfile.exposition([up, big, ratio, empty]) == (
        "# HELP colab_node_up 1 when up.\\nSecond line \\\\ backslash\n"
        "# TYPE colab_node_up gauge\n"
        'colab_node_up{node="cooperator",availability="always"} 1\n'
        'colab_node_up{node="odd \\"name\\"\\\\x\\n"} 0\n'
        "# HELP colab_bytes Bytes.\n"
        "# TYPE colab_bytes gauge\n"
        "colab_bytes 2000263643136\n"
        "# HELP colab_ratio A ratio.\n"
        "# TYPE colab_ratio gauge\n"
        "colab_ratio 0.125\n"
        'colab_ratio{case="nan"} NaN\n'
        'colab_ratio{case="inf"} +Inf\n'
    )
    assert textfile.exposition([empty]) == ""


@pytest.mark.parametrize(
    "family",
    [
        Family("bad-name", "x", [({}, 1)]),
        Family("ok", "x", [({"bad-label": "v"}, 1)]),
        Family("ok", "x", [({"__x": "v"}, 1)]),
    ],
)
def test_bad_names_are_refused(family: Family) -> None:
    with pytest.raises(ValueError):
        textfile.exposition([family])


def test_write_replaces_the_file_atomically_and_readable_by_all(tmp_path: Path) -> None:
    old = tmp_path / "colab-x.prom"
    old.write_text("old\n")
    os.chmod(old, 0o600)
    inode = old.stat().st_ino
    path = textfile.write(tmp_path, "colab-x.prom", "new 1\n")
    assert path == old and old.read_text() == "new 1\n"
    assert old.stat().st_ino != inode  # a new file renamed over the old one, not the old one rewritten
    assert stat.S_IMODE(old.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colab-x.prom"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "colab-x.prom"
    target.mkdir()  # os.replace cannot put a file over a directory
    (target / "keep").write_text("x")
    with pytest.raises(ColabError, match=r"^cannot write .*colab-x.prom: Is a directory$"):
        textfile.write(tmp_path, "colab-x.prom", "new\n")
    assert (target / "keep").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colab-x.prom"]


def test_the_temporary_file_is_never_a_prom_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """node-exporter reads every *.prom file: the half-written one must not be one."""
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    textfile.write(tmp_path, "colab-x.prom", "a 1\n")
    (name,) = seen
    assert name.startswith(".colab-x.prom.") and name.endswith(".tmp")


def test_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ColabError) as info:
        textfile.write(tmp_path / "none", "colab-x.prom", "a 1\n")
    assert str(info.value) == (
        f"metrics directory {tmp_path / 'none'} does not exist; create it (chezmoi does, see docs/monitoring.md) "
        "or pass another --metrics DIR"
    )


def test_only_plain_prom_names(tmp_path: Path) -> None:
    for name in ("x.txt", "../x.prom", "a/b.prom"):
        with pytest.raises(ValueError):
            textfile.write(tmp_path, name, "")
