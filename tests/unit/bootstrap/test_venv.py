"""The venv group's check, run for real by a local Runner against a checkout in a temporary folder (the real
scripts/venv and lock code, copied in) whose .venv holds fakes: each state it must find (no checkout, no
virtualenv, inv broken, colab not importable or another checkout's, uv.lock changed since the install) and the
state it must leave alone. Installing for real from the lock is tested in tests/integration/test_checkout_venv.py
(this machine's python) and in a Debian container (tests/integration/test_bootstrap.py)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from colab import checkout_venv, inventory
from colab.bootstrap import order, venv
from colab.bootstrap.context import Ctx
from colab.errors import ColabError
from colab.runner import Runner
from colab.steps import Status, run_step

ROOT = Path(__file__).resolve().parents[3]
PYTHON = shutil.which("python3") or sys.executable
# What `scripts/venv --check` needs of a checkout: the script, its standard-library modules, the lock.
CHECKOUT_FILES = ("pyproject.toml", "uv.lock", "scripts/venv", "src/colab/__init__.py", "src/colab/errors.py",
                  "src/colab/lockfile.py", "src/colab/checkout_venv.py")  # fmt: skip


def exe(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)


def fake_python(colab_at: Path) -> str:
    """A virtualenv python: `import colab` prints where colab is (fails when IMPORT_FAILS is next to it), the
    listing of what is installed prints installed.json next to it; anything else is the real python's."""
    return (
        '#!/bin/sh\ncase "$2" in\n'
        f'  *"import colab"*) [ -e "$(dirname "$0")/IMPORT_FAILS" ] && exit 1; echo "{colab_at}"; exit 0;;\n'
        '  *importlib.metadata*) cat "$(dirname "$0")/installed.json"; exit 0;;\n'
        f'esac\nexec {PYTHON} "$@"\n'
    )


def set_installed(repo: Path, packages: dict[str, str]) -> None:
    (repo / ".venv/bin/installed.json").write_text(json.dumps(sorted(packages.items())))


def lock_pins(repo: Path) -> dict[str, str]:
    return {p.name: p.version for p in checkout_venv.Target(repo, repo / ".venv", dev=False).pins()}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "colab"
    for rel in CHECKOUT_FILES:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, repo / rel)
    return repo


def ctx_for(repo: Path) -> tuple[Ctx, Runner]:
    inv = inventory.load(ROOT / "cluster.toml")
    node = inv.nodes["director"].model_copy(update={"repo": str(repo)})
    inv = inv.model_copy(update={"nodes": {**inv.nodes, "director": node}})
    return Ctx(inv, node, False, Runner("local")), Runner("director")


def good_venv(repo: Path) -> None:
    exe(repo / ".venv/bin/python", fake_python(repo / "src/colab/__init__.py"))
    exe(repo / ".venv/bin/inv", "#!/bin/sh\necho 'Invoke 2.2.0'\n")
    t = checkout_venv.Target(repo, repo / ".venv", dev=False)
    (repo / ".venv" / checkout_venv.STAMP).write_text(t.stamp())
    set_installed(repo, {**lock_pins(repo), "pip": "25.0", "colab": "0.1.0"})


def check(repo: Path) -> str | None:
    ctx, r = ctx_for(repo)
    return venv.project_venv(ctx).check(r)


def test_a_ready_virtualenv_is_ok(checkout: Path) -> None:
    good_venv(checkout)
    ctx, r = ctx_for(checkout)
    assert run_step(venv.project_venv(ctx), r).status == Status.OK


def test_each_missing_piece_is_found(checkout: Path, tmp_path: Path) -> None:
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
    exe(v / "bin/python", fake_python(tmp_path / "elsewhere/src/colab/__init__.py"))  # a moved checkout
    assert check(checkout) == (
        f"{v} runs colab from {tmp_path}/elsewhere/src/colab/__init__.py, not from this checkout ({checkout}/src)"
    )
    good_venv(checkout)
    with (checkout / "uv.lock").open("a") as f:  # a `chezmoi update` pulled new pins
        f.write("\n# changed\n")
    stale = f"uv.lock or pyproject.toml changed since {v} was installed (runtime + build)"
    assert check(checkout) == stale
    (v / checkout_venv.STAMP).unlink()  # an install that was interrupted before the stamp
    assert check(checkout) == stale
    good_venv(checkout)
    assert check(checkout) is None


def test_a_package_changed_by_hand_is_found(checkout: Path) -> None:
    good_venv(checkout)
    v = checkout / ".venv"
    pins = lock_pins(checkout)
    set_installed(checkout, {**pins, "rich": "13.0.0"})
    assert check(checkout) == f"rich is 13.0.0 in {v}; uv.lock pins {pins['rich']}"
    set_installed(checkout, {k: ver for k, ver in pins.items() if k != "tomlkit"})
    assert check(checkout) == f"tomlkit {pins['tomlkit']} is missing from {v}"
    set_installed(checkout, {**pins, "requests": "2.0"})
    assert check(checkout) == f"{v} has packages uv.lock does not pin: requests"


def test_a_dev_install_is_not_a_node_install(checkout: Path) -> None:
    good_venv(checkout)
    dev = checkout_venv.Target(checkout, checkout / ".venv", dev=True)
    (checkout / ".venv" / checkout_venv.STAMP).write_text(dev.stamp())
    assert check(checkout) == f"{checkout}/.venv holds runtime + build + dev, not runtime + build"


def test_without_a_checkout_it_fails_saying_to_run_the_chezmoi_step(tmp_path: Path) -> None:
    ctx, r = ctx_for(tmp_path / "nothing-here")
    with pytest.raises(ColabError) as e:
        venv.project_venv(ctx).check(r)
    assert str(e.value) == (
        f"there is no checkout at {tmp_path}/nothing-here on director (no pyproject.toml): run the chezmoi step "
        "first (`inv bootstrap --node director --steps chezmoi,venv`)"
    )


def test_the_venv_group_comes_after_the_checkout_and_before_verify() -> None:
    assert order.GROUPS.index("chezmoi") < order.GROUPS.index("venv") < order.GROUPS.index("verify")


def test_verify_runs_the_checkouts_inv(checkout: Path) -> None:
    ctx, r = ctx_for(checkout)
    step = venv.inv_lists_tasks(ctx)
    with pytest.raises(ColabError, match=r"--steps venv` \(or on the node: python3 \S+/scripts/venv\)"):
        step.check(r)
    exe(checkout / ".venv/bin/inv", '#!/bin/sh\n[ "$1" = --list ] && [ "$(pwd)" = "$REPO" ] && echo "  bootstrap"\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REPO", str(checkout))
        assert step.check(r) is None
