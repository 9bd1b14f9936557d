"""Property: any random mutation of the default inventory is either valid or clear errors, never a traceback."""

from __future__ import annotations

import copy
import datetime
import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colab import inventory
from colab.errors import InventoryError

DEFAULT = tomllib.loads((Path(__file__).resolve().parents[2] / "cluster.toml").read_text())

scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["192.168.254.99", "100.64.9.9", "10.0.0.1/8", "cooperator", "", "/mnt/x", "gpu", "Z:"]),
    st.dates(min_value=datetime.date(1970, 1, 1), max_value=datetime.date(2100, 1, 1)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


ALL_PATHS = paths(DEFAULT)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(DEFAULT)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this branch
        if not isinstance(parent, (dict, list)):
            continue  # replaced by a string: `"abc"[0]` reads, but cannot be assigned
        action = draw(st.sampled_from(["replace", "delete", "add-key"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add-key" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(min_size=1, max_size=10))] = draw(values)
    return data


def assert_valid_or_clear(run: Any) -> None:
    try:
        run()
    except InventoryError as e:
        assert e.problems, "an InventoryError must carry at least one problem"
        for problem in e.problems:
            assert problem and "\n" not in problem and "Traceback" not in problem
            assert ": " in problem  # "key.path: what is wrong"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_random_mutation_is_valid_or_one_line_errors(data: dict[str, Any]) -> None:
    assert_valid_or_clear(lambda: inventory.from_dict(data, "cluster.toml"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_round_trip_through_toml_text(data: dict[str, Any]) -> None:
    try:
        text = tomlkit.dumps(data)
    except Exception:  # tomlkit cannot write every Python value (e.g. mixed nested arrays); not our input
        return
    assert_valid_or_clear(lambda: inventory.parse(text, "cluster.toml"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_is_valid_or_clear(text: str) -> None:
    assert_valid_or_clear(lambda: inventory.parse(text, "cluster.toml"))
