"""Image references: what Docker accepts passes, what would break or change a compose file is one line."""

from __future__ import annotations

import re

import pytest

from colab import image_ref
from colab.errors import ColabError
from tests.conftest import ROOT

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "image",
    [
        "nginx", "nginx:1.27", "library/nginx:1.27-alpine", "docker.io/library/nginx:1.27", "localhost:5000/app",
        "127.0.0.1:5000/a/b:1", "[::1]:5000/app:1", "git.ism.la/rtr/app:1.0", "gitea/gitea:1.26.0-rootless",
        f"postgres@{DIGEST}", f"postgres:16.4@{DIGEST}", "my_app__x/sub-part:v1_A", "Registry.Example.ORG/app",
    ],
)  # fmt: skip
def test_references_docker_accepts(image: str) -> None:
    assert image_ref.check(image) == image


@pytest.mark.parametrize(
    "image",
    [
        "", "bad image", "app:1\n    privileged: true", "Nginx", "nginx:", ":1", "nginx:-1", "a//b", "-nginx",
        "nginx'", "app:1 # comment", "app@sha256:xyz", "a" * 256, "app/", "app:" + "1" * 129,
    ],
)  # fmt: skip
def test_anything_else_is_one_line(image: str) -> None:
    with pytest.raises(ColabError) as e:
        image_ref.check(image)
    assert str(e.value).startswith(f"--image {image!r} is not an image reference")
    assert len(str(e.value).splitlines()) == 1


def test_every_image_in_compose_passes() -> None:
    images = [
        m[1]
        for path in sorted((ROOT / "compose").glob("*/compose.yaml"))
        for m in re.finditer(r"^ +image: *(\S+) *$", path.read_text(), re.M)
    ]
    assert len(images) >= 10
    assert [i for i in images if not image_ref.is_reference(i)] == []
