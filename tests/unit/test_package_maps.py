"""Every package's `__init__.py` lists its modules (issue 13: the first file one opens answers where things are):
a module added without a line in its package's map fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = sorted((ROOT / "src" / "colab").rglob("__init__.py"))


@pytest.mark.parametrize("init", PACKAGES, ids=[str(p.parent.relative_to(ROOT / "src")) for p in PACKAGES])
def test_the_package_docstring_names_every_module(init: Path) -> None:
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    here = init.parent
    names = [p.stem for p in here.glob("*.py") if p.stem != "__init__"]
    names += [p.name for p in here.iterdir() if (p / "__init__.py").exists()]
    assert [n for n in sorted(names) if f"`{n}`" not in doc and f"`{n}." not in doc] == []
