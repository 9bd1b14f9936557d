"""Output for people at 80 columns (a default terminal), at 200, and through a pipe: values that identify a row
are never cut, header words never split, a problem's long detail stays out of the table's cells, and a pipe
gets whole lines. The cases are in cases.py; the real `inv` runs in the pipe test."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from tests.conftest import ROOT
from tests.harness.inv import run_inv
from tests.unit.output.cases import CASES, IDENTIFYING

HEADERS = {
    "inventory.show": ["node", "arch", "roles", "availability", "fortress", "compose", "secrets", "databases"],
    "status": ["node", "mesh", "docker", "fortress", "services", "backup"],
    "steps": ["node", "step", "status", "detail"],
}


def printed(name: str, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(CASES[name])
    return [line.rstrip() for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("name", list(CASES))
def test_nothing_is_cut_or_split(name: str, width: int) -> None:
    lines = printed(name, width)
    assert max(map(len, lines)) <= width
    assert not [line for line in lines if "…" in line]  # rich's mark of a cut cell
    words = {w for line in lines for w in re.split(r"[\s│┃]+", line)}
    missing = [value for value in IDENTIFYING[name] if value not in words]
    assert not missing, f"cut or split at {width} columns: {missing}"
    headers = HEADERS[name] if any("┃" in line for line in lines) else HEADERS[name][1:]  # per row: heading = value
    split = [h for h in headers if h not in words]
    assert not split, f"header words split at {width} columns: {split}"


def test_a_long_detail_leaves_the_status_cells() -> None:
    for width in (80, 200):
        lines = printed("status", width)
        refused = [line for line in lines if "connection refused" in line or "connection" in line.split()]
        assert refused and all(
            line.startswith("✗ director reach:") or not line.startswith(("│", "  ")) for line in refused
        )
        assert any(re.search(r"\bdown ↓", line) for line in lines)  # the cell points at the list below


def test_200_columns_keep_one_line_per_row() -> None:
    lines = printed("inventory.show", 200)
    row = next(line for line in lines if "cooperator" in line and "192.168.254.10" in line)
    assert "100.64.0.1" in row and "/srv/fortress" in row
    assert "│ director " in "\n".join(lines)


def test_80_columns_lay_a_wide_table_out_per_row() -> None:
    lines = printed("inventory.show", 80)
    at = lines.index("cooperator")
    assert [line.split()[:2] for line in lines[at + 1 : at + 3]] == [["arch", "arm64"], ["os", "debian"]]


def test_a_pipe_gets_whole_lines() -> None:
    proc = run_inv(
        "inventory.show", columns=None, inherit=False, env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) > 80 and "…" not in proc.stdout
    row = next(line for line in lines if "│ cooperator " in line)
    assert "192.168.254.10" in row and "/srv/fortress" in row


def test_every_table_is_one_that_fits_itself() -> None:
    plain = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src" / "colab").rglob("*.py")
        if path.name != "tables.py" and re.search(r"from rich\.table import .*\bTable\b", path.read_text())
    ]
    assert not plain, f"use colab.tables.Table (fits 80 columns and pipes) in {plain}"
