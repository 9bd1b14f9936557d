"""The venv group's check, run for real by a local Runner against a checkout in a temporary folder whose
.venv holds fakes: each state it must find (no checkout, no virtualenv, inv broken, colab not importable,
pyproject.toml changed since the install) and the state it must leave alone. Creating the virtualenv for
real (python3 -m venv, pip install -e) is tested in a Debian container: tests/integration/test_bootstrap.py."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

from colab import inventory
from colab.bootstrap import plan, venv
from colab.bootstrap.common import Ctx
from colab.errors import ColabError
from colab.runner import Runner
from colab.steps import Status, run_step

ROOT = Path(__file__).resolve().parents[3]
PYTHON = shutil.which("python3") or sys.executable
# A fake virtualenv python: `-c "import colab"` fails when IMPORT_FAILS exists next to it; anything else
# (the stamp's hash) is the real python's.
FAKE_PYTHON = (
    f'#!/bin/sh\n[ "$2" = "import colab" ] && [ -e "$(dirname "$0")/IMPORT_FAILS" ] && exit 1\nexec {PYTHON} "$@"\n'
)


def exe(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "colab"
    repo.mkdir()
    (repo / "pyproject.toml").write_text('[project]\nname = "colab"\n')
    return repo


def ctx_for(repo: Path) -> tuple[Ctx, Runner]:
    inv = inventory.load(ROOT / "cluster.toml")
    node = inv.nodes["director"].model_copy(update={"repo": str(repo)})
    inv = inv.model_copy(update={"nodes": {**inv.nodes, "director": node}})
    return Ctx(inv, node, False, Runner("local")), Runner("director")


def good_venv(repo: Path) -> None:
    exe(repo / ".venv/bin/python", FAKE_PYTHON)
    exe(repo / ".venv/bin/inv", "#!/bin/sh\necho 'Invoke 2.2.0'\n")
    digest = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()
    (repo / ".venv" / venv.STAMP).write_text(digest + "\n")


def check(repo: Path) -> str | None:
    ctx, r = ctx_for(repo)
    return venv.project_venv(ctx).check(r)


def test_a_ready_virtualenv_is_ok(checkout: Path) -> None:
    good_venv(checkout)
    ctx, r = ctx_for(checkout)
    assert run_step(venv.project_venv(ctx), r).status == Status.OK


def test_each_missing_piece_is_found(checkout: Path) -> None:
    v = checkout / ".venv"
    assert check(checkout) == f"no virtualenv at {v}"
    good_venv(checkout)
    (v / "bin/inv").write_text("#!/bin/sh\nexit 1\n")
    assert check(checkout) == f"{v}/bin/inv does not run"
    good_venv(checkout)
    (v / "bin/IMPORT_FAILS").touch()
    assert check(checkout) == f"colab does not import in {v}"
    (v / "bin/IMPORT_FAILS").unlink()
    assert check(checkout) is None
    (checkout / "pyproject.toml").write_text('[project]\nname = "colab"\ndependencies = ["httpx"]\n')
    assert check(checkout) == f"pyproject.toml changed since {v} was installed"
    (v / venv.STAMP).unlink()  # an install that was interrupted before the stamp
    assert check(checkout) == f"pyproject.toml changed since {v} was installed"


def test_the_stamp_the_act_writes_is_the_one_the_check_reads(checkout: Path) -> None:
    good_venv(checkout)
    (checkout / "pyproject.toml").write_text('[project]\nname = "colab"\nversion = "2"\n')
    assert check(checkout) is not None
    _, r = ctx_for(checkout)
    v = checkout / ".venv"
    r.run(f"{v}/bin/python", "-c", venv.STAMP_PY, f"{checkout}/pyproject.toml", f"{v}/{venv.STAMP}")
    assert check(checkout) is None


def test_without_a_checkout_it_fails_saying_to_run_the_chezmoi_step(tmp_path: Path) -> None:
    ctx, r = ctx_for(tmp_path / "nothing-here")
    with pytest.raises(ColabError) as e:
        venv.project_venv(ctx).check(r)
    assert str(e.value) == (
        f"there is no checkout at {tmp_path}/nothing-here on director (no pyproject.toml): run the chezmoi step "
        "first (`inv bootstrap --node director --steps chezmoi,venv`)"
    )


def test_the_venv_group_comes_after_the_checkout_and_before_verify() -> None:
    assert plan.GROUPS.index("chezmoi") < plan.GROUPS.index("venv") < plan.GROUPS.index("verify")


def test_verify_runs_the_checkouts_inv(checkout: Path) -> None:
    ctx, r = ctx_for(checkout)
    step = venv.inv_lists_tasks(ctx)
    with pytest.raises(ColabError, match=r"--steps venv` \(or on the node: python3 -m venv "):
        step.check(r)
    exe(checkout / ".venv/bin/inv", '#!/bin/sh\n[ "$1" = --list ] && [ "$(pwd)" = "$REPO" ] && echo "  bootstrap"\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REPO", str(checkout))
        assert step.check(r) is None
