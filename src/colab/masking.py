"""Secret values to hide from every text this project prints, returns or raises: each becomes `***`.

A tool may print a value it was given in another form than the raw one: JSON (and Go's `%q`, the same for
printable text) escapes quotes, backslashes and newlines, and a multi-line value (a key file) is often
shown one line at a time. Every such form is masked, longest first, so a longer value is never half-masked
by a shorter one inside it.
"""

from __future__ import annotations

import json

MASK = "***"
# The shortest line of a multi-line value masked on its own: shorter lines ("", "}") are not secrets.
MIN_LINE = 8


def forms(value: str) -> set[str]:
    """The texts `value` can appear as in a tool's output."""
    if not value:
        return set()  # an empty value would mask every text
    found = {value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]}
    if "\n" in value:
        found |= {line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_LINE}
    return {f for f in found if f}


class Masks:
    """The values to hide, in all their forms."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._ordered: list[str] = []

    def add(self, value: str) -> None:
        new = forms(value) - self._forms
        if new:
            self._forms |= new
            self._ordered = sorted(self._forms, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for form in self._ordered:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def __len__(self) -> int:
        return len(self._forms)
