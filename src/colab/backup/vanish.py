"""Did much of the source vanish while the snapshot was taken?

rsync exit 24 (files vanished) or 23 (some not transferred) normally means a few files changed under it; but a
folder tree moved away or a mount lost during the run gives the same exit codes and a snapshot missing most of
fortress. Promoted to `fortress-latest` and counted by retention, such a tree would push complete snapshots
out. So after rsync 23/24 the new tree's files are counted against the newest complete snapshot's; when it
lost at least `backup.vanish_threshold` percent of them, the snapshot is held back (`fortress-partial-…`):
kept, not promoted, not counted by retention, and the run ends with a warning saying how much vanished.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from colab.backup import space

CODES = (23, 24)


@dataclass(frozen=True)
class Loss:
    previous: str  # the complete snapshot compared with
    before: int  # its files (everything that is not a folder)
    after: int  # the new tree's

    @property
    def percent(self) -> float:
        return 100.0 * (self.before - self.after) / self.before if self.before else 0.0


def judge(before: int, after: int, threshold: int) -> bool:
    """True when `after` lost at least `threshold` percent of `before` (an empty `before` loses nothing)."""
    return before > 0 and (before - after) * 100 >= threshold * before


def measure(previous: Path, new: Path) -> Loss:
    return Loss(previous.name, space.files(previous), space.files(new))


def message(loss: Loss, threshold: int, partial: str) -> str:
    return (
        f"{loss.percent:.0f}% of the files of {loss.previous} are missing ({loss.after:,} of {loss.before:,}), at "
        f"least backup.vanish_threshold ({threshold}%): a folder moved away or a mount lost during the run? "
        f"The snapshot is kept as {partial}, not made fortress-latest and not counted by retention; check the "
        "source, then run the backup again"
    )
