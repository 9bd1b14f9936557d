"""The inventory's reference, read from the model itself: every table and key of cluster.toml, what values it
takes, its default, and the description the field carries in colab.inventory.

`inv render` writes it to docs/inventory.md (templates/docs/inventory.md.j2) and `inv render --check` fails when
a field changed and the page did not, so the reference cannot drift from the code that validates the file.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import types
from dataclasses import dataclass
from functools import cache
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from colab import inventory

# Where a table's key is a name the owner chooses, the reference shows it in angle brackets.
_NAMED = {"nodes": "<node>", "services": "<service>"}


@dataclass(frozen=True)
class Key:
    name: str
    value: str  # what it takes, in words
    default: str  # "" when required
    description: str


@dataclass(frozen=True)
class Section:
    header: str  # as in the TOML file: [backup.schedule], [nodes.<node>], [[routes]]
    description: str
    keys: list[Key]


def sections(model: type[BaseModel] = inventory.Inventory) -> list[Section]:
    """Every table of the inventory, in the model's order, the top-level keys of scalar value first."""
    top = Section("top level", _doc(model), [])
    found: list[Section] = []
    _walk(model, "", top, found)
    return ([top] if top.keys else []) + found


def missing_descriptions(model: type[BaseModel] = inventory.Inventory) -> list[str]:
    """Dotted names of the fields without a description (none allowed: tests check it)."""
    return [
        f"{section.header} {key.name}" for section in sections(model) for key in section.keys if not key.description
    ]


def _doc(model: type[BaseModel]) -> str:
    text = model.__doc__ or ""
    return "" if text.startswith(f"{model.__name__}(") else " ".join(text.split())  # pydantic's own signature doc


@cache
def _docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The string under each field in the model's source (its description), read here rather than by pydantic
    (`use_attribute_docstrings` would parse the source at every start-up, for every task)."""
    tree = ast.parse(inspect.getsource(model))
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    found: dict[str, str] = {}
    for field, after in itertools.pairwise(body):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            found[field.target.id] = " ".join(after.value.value.split())
    return found


def _walk(model: type[BaseModel], prefix: str, section: Section, found: list[Section]) -> None:
    described = _docstrings(model)
    for name, field in model.model_fields.items():
        if name == "name" and prefix.endswith(tuple(_NAMED.values())):
            continue  # filled from the table key
        path = f"{prefix}.{name}" if prefix else name
        inner, many, mapping = _unwrap(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            if mapping:
                path = f"{path}.{_NAMED.get(name, '<name>')}"
            header = f"[[{path}]]" if many else f"[{path}]"
            child = Section(header, " ".join(filter(None, [described.get(name, ""), _doc(inner)])), [])
            found.append(child)
            _walk(inner, path, child, found)
            continue
        section.keys.append(Key(name, _value(field), _default(field), described.get(name, "")))


def _unwrap(annotation: Any) -> tuple[Any, bool, bool]:
    """(the model or type inside, a list of it, a table of it by name) for list[...], dict[..., ...], X | None."""
    annotation = _strip(annotation)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return _unwrap(rest[0])
    if origin is list:
        inner, _, _ = _unwrap(get_args(annotation)[0])
        return inner, True, False
    if origin is dict:
        inner, _, _ = _unwrap(get_args(annotation)[1])
        return inner, False, True
    return annotation, False, False


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _value(field: FieldInfo) -> str:
    return _words(field.annotation, _flat(list(field.metadata)))


def _words(annotation: Any, metadata: list[Any]) -> str:
    """A type and its constraints in words: `whole number 1 to 65535`, `one of "always", "on-demand"`."""
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return _words(base, [*_flat(extra), *metadata])
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        return " or ".join(_words(a, metadata) for a in rest)
    if origin is Literal:
        return "one of " + ", ".join(_toml(a) for a in get_args(annotation))
    if origin is list:
        return "list of: " + _words(get_args(annotation)[0], []) + _sizes(metadata)
    if origin is dict:
        key, value = get_args(annotation)
        return f"table: {_words(key, [])} = {_words(value, [])}" + _sizes(metadata)
    return _scalar(annotation, metadata)


def _flat(metadata: list[Any]) -> list[Any]:
    """Field(...) inside Annotated carries its constraints in its own metadata."""
    return [inner for m in metadata for inner in (m.metadata if isinstance(m, FieldInfo) else [m])]


def _scalar(annotation: Any, metadata: list[Any]) -> str:
    names = {bool: "true or false", int: "whole number", str: "text", IPv4Address: "IPv4 address",
             IPv4Network: "IPv4 network (CIDR)"}  # fmt: skip
    base = names.get(annotation, getattr(annotation, "__name__", str(annotation)))
    low: Any = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
    if low is None:  # gt=0 on a whole number: at least 1
        low = next((int(m.gt) + 1 for m in metadata if isinstance(m, annotated_types.Gt)), None)  # type: ignore[call-overload]
    high: Any = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    if low is not None and high is not None:
        base += f" {low} to {high}"
    elif low is not None:
        base += f" ≥ {low}"
    metadata = _flat(metadata)
    hints = [inventory.pattern_hint(m) for m in metadata]  # a pattern says more than the rule it refines
    hints += [inventory.rule_hint(m.func) for m in metadata if callable(getattr(m, "func", None))]
    return next((hint for hint in hints if hint), base)


def _sizes(metadata: list[Any]) -> str:
    least = next((m.min_length for m in metadata if isinstance(m, annotated_types.MinLen)), None)
    return f" (at least {least})" if least else ""


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return ""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(none)"
    if isinstance(value, (list, dict)) and not value:
        return "[]" if isinstance(value, list) else "{}"
    if isinstance(value, BaseModel):
        return "(table)"
    return _toml(value)
