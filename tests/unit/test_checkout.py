"""inv acts on the checkout whose tasks/ it loaded: tasks from another checkout than the installed package's stop
with one line naming both, before anything is read or written; a reader that stops early ends the run quietly."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from colab import checkout
from tests.conftest import ROOT
from tests.harness.inv import run_inv, start_inv


def test_the_same_checkout_passes() -> None:
    assert checkout.mismatch(ROOT / "tasks", ROOT) is None


def test_another_checkout_is_named_with_its_fix(tmp_path: Path) -> None:
    line = checkout.mismatch(tmp_path / "tasks", ROOT)
    assert line is not None and "\n" not in line
    assert f"the tasks in {tmp_path} would run with the colab package of {ROOT}" in line
    assert f"python3 {tmp_path}/scripts/venv" in line  # no .venv of its own yet
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "inv").touch()
    assert f"run {tmp_path}/.venv/bin/inv" in (checkout.mismatch(tmp_path / "tasks", ROOT) or "")


def test_inv_in_another_checkout_stops_before_touching_anything(tmp_path: Path) -> None:
    other = tmp_path / "b"
    shutil.copytree(ROOT / "tasks", other / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "cluster.toml", other / "cluster.toml")
    before = sorted(p.name for p in ROOT.iterdir())
    for args in (["--list"], ["render"], ["inventory.check"]):
        proc = run_inv(*args, cwd=other, timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr.strip().splitlines() == [
            f"error: the tasks in {other} would run with the colab package of {ROOT} (installed in {sys.prefix}) and "
            f"act on that checkout: make its own with `python3 {other}/scripts/venv`"
        ]
    assert sorted(p.name for p in other.iterdir()) == ["cluster.toml", "tasks"]  # render wrote nothing in b
    assert sorted(p.name for p in ROOT.iterdir()) == before  # nor in the package's checkout


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    inv = start_inv("--list")
    assert inv.stdout is not None and inv.stderr is not None
    inv.stdout.read(10)
    inv.stdout.close()  # like `| head -c 10`
    assert inv.wait(timeout=60) in (0, 141)  # 0 when --list was written before the close
    assert "Traceback" not in inv.stderr.read()
