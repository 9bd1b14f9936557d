"""Option values shared by several tasks, checked the same way everywhere: one line naming the option on error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from colab.errors import ColabError

NOW_FORMAT = "%Y-%m-%dT%H:%M"


def parse_now(text: str | None) -> datetime:
    """`--now` (drills and tests judge ages as if it were then); none: this minute."""
    if not text:
        return datetime.now().replace(second=0, microsecond=0)
    try:
        return datetime.strptime(text.strip(), NOW_FORMAT)
    except ValueError:
        raise ColabError(
            f"--now {text!r} is not a date and time; use YYYY-MM-DDTHH:MM, e.g. 2024-01-05T03:15"
        ) from None


def seconds(option: str, text: str | None, default: float, most: float = 3600) -> float:
    """A positive number of seconds up to `most`, e.g. `--timeout 5`; none: the default."""
    if text in (None, ""):
        return default
    try:
        value = float(str(text))
    except ValueError:
        raise ColabError(f"{option} {text!r} is not a number of seconds; use e.g. {option} 5") from None
    if not 0 < value <= most:
        raise ColabError(f"{option} {text}: use a number of seconds between 0 and {most:g}, e.g. {option} 5")
    return value


def chosen(option: str, text: str | None, known: Sequence[str], kind: str) -> list[str]:
    """`--nodes b,a`: the names given, in `known`'s order; none given: all of `known`. A name not known, or a value
    naming nothing (`--nodes ,`), is one line."""
    if not text or not text.strip():
        return list(known)
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    if not wanted:
        raise ColabError(f"{option} {text!r} names no {kind}; e.g. {option} {','.join(known[:2])}, or leave it out")
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ColabError(f"unknown {kind}(s) {', '.join(unknown)} in {option}; choose from {', '.join(known)}")
    return [name for name in known if name in wanted]
