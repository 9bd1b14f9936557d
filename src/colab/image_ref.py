"""Image references as Docker reads them (the distribution project's reference grammar), checked before a
reference goes into a compose file: a space, a quote or a newline there would be YAML, not an image name."""

from __future__ import annotations

import re

from colab.errors import ColabError

# A lowercase path component: letters and digits, joined by '.', '_', '__' or dashes.
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?"
_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"(?:{_HOST}/)?{COMPONENT}(?:/{COMPONENT})*(?::{TAG})?(?:@{_DIGEST})?")


def is_reference(image: str) -> bool:
    return len(image) <= 255 and _REFERENCE.fullmatch(image) is not None


def check(image: str, option: str = "--image") -> str:
    """`image` when Docker would read it as a reference; else one line with an example."""
    if not is_reference(image):
        raise ColabError(
            f"{option} {image!r} is not an image reference: [registry/]name[:tag] with a lowercase name, "
            f"e.g. {option} nginx:1.27 or {option} git.example.org/owner/app:1.0"
        )
    return image
