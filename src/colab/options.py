"""Option values shared by several tasks, checked the same way everywhere: one line naming the option on error."""

from __future__ import annotations

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
