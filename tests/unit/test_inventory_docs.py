"""docs/inventory.md is read from the model: every key with its values, default and description; a model change
shows in the page (and `inv render --check` fails until it is rendered)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field

from colab import inventory, inventory_docs
from colab.inventory import _Model
from colab.render import disk
from tests.conftest import ROOT


class Inner(_Model):
    """An inner table."""

    size: Annotated[int, Field(ge=1, le=9)] = 3
    """How big."""


class Outer(_Model):
    kind: Literal["a", "b"]
    """Which one."""
    items: dict[inventory.Name, Inner] = {}  # noqa: RUF012 (pydantic copies defaults)
    """The inner ones, by name."""
    extra: inventory.Text = ""


def test_a_model_becomes_sections_with_values_defaults_and_descriptions() -> None:
    got = inventory_docs.sections(Outer)
    assert [s.header for s in got] == ["top level", "[items.<name>]"]
    assert got[0].keys[0] == inventory_docs.Key("kind", 'one of "a", "b"', "", "Which one.")
    assert got[1].description == "The inner ones, by name. An inner table."
    assert got[1].keys == [inventory_docs.Key("size", "whole number 1 to 9", "3", "How big.")]
    assert inventory_docs.missing_descriptions(Outer) == ["top level extra"]


def test_every_field_of_the_inventory_is_on_the_page() -> None:
    def model_in(annotation: object) -> type[BaseModel] | None:
        """The table an annotation holds (itself, or inside Annotated, Optional, list or dict), if any."""
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        return next((m for arg in get_args(annotation) if (m := model_in(arg)) is not None), None)

    def leaves(model: type[BaseModel]) -> int:
        count = 0
        for name, field in model.model_fields.items():
            inner = model_in(field.annotation)
            if inner is not None:
                count += leaves(inner)
            elif name != "name" or model not in (inventory.Node, inventory.Service):
                count += 1
        return count

    listed = sum(len(s.keys) for s in inventory_docs.sections())
    assert listed == leaves(inventory.Inventory)
    page = (ROOT / "docs" / "inventory.md").read_text()
    for section in inventory_docs.sections():
        assert f"## {section.header}\n" in page
        for key in section.keys:
            assert f"| `{key.name}` | {key.value.replace('|', chr(92) + '|')} |" in page


def test_render_owns_the_page_alone_not_the_docs_folder() -> None:
    assert "docs/inventory.md" in disk.owned()
    assert "docs" not in disk.owned()  # the hand-written pages beside it are never replaced or removed


def test_every_key_of_the_inventory_says_what_it_is() -> None:
    assert inventory_docs.missing_descriptions() == []
