"""Option values shared by several tasks (`colab.options`): the same answer and the same one line everywhere."""

from __future__ import annotations

import pytest

from colab import inventory, options
from colab.bootstrap.order import parse_steps
from colab.errors import ColabError
from colab.lifecycle.rollout import choose_nodes
from tests.conftest import ROOT

KNOWN = ["cooperator", "director", "writer"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, KNOWN), ("", KNOWN), ("  ", KNOWN), ("writer,cooperator", ["cooperator", "writer"]),
        (" director , writer,", ["director", "writer"]), ("writer,writer", ["writer"]),
    ],
)  # fmt: skip
def test_chosen_names_come_in_the_known_order(text: str | None, expected: list[str]) -> None:
    assert options.chosen("--nodes", text, KNOWN, "node") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (",,", "--nodes ',,' names no node; e.g. --nodes cooperator,director, or leave it out"),
        ("director,nope,x", "unknown node(s) nope, x in --nodes; choose from cooperator, director, writer"),
        ("Director", "unknown node(s) Director in --nodes; choose from cooperator, director, writer"),
    ],
)
def test_a_name_not_known_or_no_name_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ColabError) as e:
        options.chosen("--nodes", text, KNOWN, "node")
    assert str(e.value) == message


def test_bootstrap_steps_and_rollout_nodes_use_it() -> None:
    with pytest.raises(ColabError, match=r"^--steps ',' names no step; e\.g\. --steps mesh,install, or leave it out$"):
        parse_steps(",")
    with pytest.raises(ColabError, match=r"^--nodes ' ,' names no node; e\.g\. --nodes cooperator,director, or leave"):
        choose_nodes(inventory.load(ROOT / "cluster.toml"), " ,")
