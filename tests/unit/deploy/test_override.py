"""The Compose override on stdin: this tool's labels on every container, image ids for a rollback."""

from __future__ import annotations

import json

from colab.deploy import override


def test_every_compose_service_gets_the_labels_and_a_rollback_pins_images() -> None:
    plain = json.loads(override.render("web", ["app", "db"]))
    labels = {"org.colab.managed": "true", "org.colab.service": "web"}
    assert plain == {"services": {"app": {"labels": labels}, "db": {"labels": labels}}}
    pinned = json.loads(override.render("web", ["app", "db"], {"app": "sha256:abc"}))
    assert pinned["services"]["app"] == {"labels": labels, "image": "sha256:abc"}
    assert pinned["services"]["db"] == {"labels": labels}  # a service not recorded keeps its own image
