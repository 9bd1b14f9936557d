"""A snapshot that lost much of the previous one's files is held back (issue 12 #7): the threshold, the count
(files, symlinks — not the folders rsync keeps empty) and the one-line message."""

from __future__ import annotations

from pathlib import Path

import pytest

from colab.backup import vanish


@pytest.mark.parametrize(
    ("before", "after", "threshold", "held"),
    [
        (100, 75, 25, True),  # exactly the threshold
        (100, 76, 25, False),
        (100, 0, 100, True),
        (100, 1, 100, False),
        (3, 2, 25, True),  # 33%
        (0, 0, 25, False),  # nothing to lose
        (100, 150, 25, False),  # grew
    ],
)
def test_judge(before: int, after: int, threshold: int, held: bool) -> None:
    assert vanish.judge(before, after, threshold) is held


def test_measure_counts_everything_but_folders(tmp_path: Path) -> None:
    old, new = tmp_path / "fortress-20240101", tmp_path / "tmp"
    for root, n in ((old, 4), (new, 1)):
        for i in range(n):
            (root / f"d{i}").mkdir(parents=True)
            (root / f"d{i}" / "f").write_text("x")
            (root / f"d{i}" / "l").symlink_to("f")
    (new / "d1").mkdir()  # a vanished folder stays, empty
    loss = vanish.measure(old, new)
    assert (loss.previous, loss.before, loss.after, loss.percent) == ("fortress-20240101", 8, 2, 75.0)
    assert vanish.message(loss, 25, "fortress-partial-20240102") == (
        "75% of the files of fortress-20240101 are missing (2 of 8), at least backup.vanish_threshold (25%): a "
        "folder moved away or a mount lost during the run? The snapshot is kept as fortress-partial-20240102, not "
        "made fortress-latest and not counted by retention; check the source, then run the backup again"
    )
