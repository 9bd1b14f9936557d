"""The project on the engine: whose it is, and what a cut-off recreate left (decisions, with a recording runner)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.deploy import project
from colab.deploy.project import ProjectContainer
from colab.deploy.target import Target, resolve
from colab.errors import ColabError
from colab.runner import Result, Runner

ROOT = Path(__file__).resolve().parents[3]
INV = inventory.load(ROOT / "cluster.toml")


class Recording:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, argv: Sequence[str], env: object, stdin: object, cwd: object, timeout: object) -> Result:
        self.calls.append(list(argv))
        return Result(0)

    def close(self) -> None:
        pass


def target() -> Target:
    return resolve(INV, "gitea", here="cooperator")


def container(name: str, **labels: str) -> ProjectContainer:
    base = {"com.docker.compose.project": "gitea", "com.docker.compose.service": name.split("-")[-2]}
    return ProjectContainer("f" * 64, name, "exited", "sha256:1", "x:1", {**base, **labels})


OURS = {"org.colab.service": "gitea"}


def test_a_leftover_is_removed_when_its_name_exists_else_renamed_back() -> None:
    rec = Recording()
    r = Runner("cooperator", transport_factory=lambda: rec, console=Console(file=io.StringIO()))
    found = [
        container("gitea-app-1", **OURS),
        container("0123456789ab_gitea-app-1", **OURS),  # new container created aside, old still there
        container("ba9876543210_gitea-db-1", **OURS),  # the old one already removed
        container("gitea-web-1", **OURS),
    ]
    done = project.recover(r, target(), found)
    assert rec.calls == [
        ["docker", "rm", "-f", "f" * 64],
        ["docker", "rename", "f" * 64, "gitea-db-1"],
    ]
    assert done == [
        "removed leftover container 0123456789ab_gitea-app-1",
        "renamed leftover container ba9876543210_gitea-db-1 back to gitea-db-1",
    ]
    assert project.recover(r, target(), [container("gitea-app-1", **OURS)]) == []


def test_a_project_without_our_label_is_refused_in_one_line() -> None:
    t = target()
    project.refuse_foreign([container("gitea-app-1", **OURS)], t)
    # made by an earlier version of this tool: no label, but our folder as its working directory
    project.refuse_foreign([container("gitea-app-1", **{"com.docker.compose.project.working_dir": t.project_dir})], t)
    other = container("gitea-app-1", **{"com.docker.compose.project.working_dir": "/srv/other"})
    with pytest.raises(ColabError) as e:
        project.refuse_foreign([container("gitea-db-1", **OURS), other], t)
    assert str(e.value) == (
        "the Compose project gitea on cooperator was not created by this tool (gitea-app-1, from /srv/other, have no "
        "org.colab.service label); stop it yourself or rename the service (nothing was changed)"
    )


def test_images_maps_each_compose_service_to_the_image_id_it_runs() -> None:
    a = ProjectContainer("1", "gitea-app-1", "running", "sha256:a", "x:1", {"com.docker.compose.service": "app"})
    b = ProjectContainer("2", "gitea-db-1", "running", "sha256:b", "y:1", {"com.docker.compose.service": "db"})
    assert project.images([b, a]) == {"app": "sha256:a", "db": "sha256:b"}
