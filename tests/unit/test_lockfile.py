"""uv.lock → hashed requirements: small locks in, exact requirement lines out; every refusal one line; and the
project's own uv.lock exported exactly as the real `uv export` does (same pins, same hashes, same markers under
the platforms the cluster runs)."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker

from colab import lockfile
from tests.conftest import ROOT, unavailable

H = "sha256:" + "a" * 64


def pkg(name: str, version: str = "1.0", deps: str = "", extra: str = "", hashes: int = 1) -> str:
    files = ", ".join(
        f'{{ url = "https://x/{name}-{i}.whl", hash = "sha256:{name[0] * 63}{i}" }}' for i in range(hashes)
    )
    return textwrap.dedent(
        f"""
        [[package]]
        name = "{name}"
        version = "{version}"
        source = {{ registry = "https://pypi.org/simple" }}
        dependencies = [{deps}]
        wheels = [{files}]
        """
    ) + (f"[package.optional-dependencies]\n{extra}\n" if extra else "")


def root(deps: str, extras: str = "", groups: str = "") -> str:
    text = f'[[package]]\nname = "colab"\nversion = "0.1.0"\nsource = {{ editable = "." }}\ndependencies = [{deps}]\n'
    if extras:
        text += f"[package.optional-dependencies]\n{extras}\n"
    if groups:
        text += f"[package.dev-dependencies]\n{groups}\n"
    return text


def pins(text: str, extras: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> dict[str, str]:
    """name==version -> the marker it is written with ("" = always)."""
    lock = lockfile.Lock(tomllib.loads("version = 1\n" + text))
    return {f"{p.name}=={p.version}": p.marker for p in lock.pins(extras, groups)}


CASES = {
    "markers along a path are and-ed": (
        root('{ name = "a", marker = "sys_platform == \'linux\'" }')
        + pkg("a", deps='{ name = "b", marker = "python_full_version < \'3.13\'" }')
        + pkg("b"),
        {"a==1.0": "sys_platform == 'linux'", "b==1.0": "(sys_platform == 'linux') and (python_full_version < '3.13')"},
    ),
    "two paths are or-ed; an unconditional one wins": (
        root('{ name = "a" }, { name = "c", marker = "sys_platform == \'win32\'" }')
        + pkg("a", deps='{ name = "b", marker = "sys_platform == \'darwin\'" }, { name = "d" }')
        + pkg("b")
        + pkg("c", deps='{ name = "b" }, { name = "d", marker = "os_name == \'nt\'" }')
        + pkg("d"),
        {
            "a==1.0": "",
            "b==1.0": "(sys_platform == 'darwin') or (sys_platform == 'win32')",
            "c==1.0": "sys_platform == 'win32'",
            "d==1.0": "",
        },
    ),
    "a cycle ends": (
        root('{ name = "a" }') + pkg("a", deps='{ name = "b" }') + pkg("b", deps='{ name = "a" }'),
        {"a==1.0": "", "b==1.0": ""},
    ),
    "a dependency's extra brings that extra's packages": (
        root('{ name = "a", extra = ["fast"] }') + pkg("a", extra='fast = [{ name = "b" }]') + pkg("b") + pkg("c"),
        {"a==1.0": "", "b==1.0": ""},
    ),
    "forked versions are told apart by the edge's version": (
        root(
            '{ name = "a", version = "1.0", source = { registry = "https://pypi.org/simple" }, '
            "marker = \"python_full_version < '3.12'\" }, "
            '{ name = "a", version = "2.0", source = { registry = "https://pypi.org/simple" }, '
            "marker = \"python_full_version >= '3.12'\" }"
        )
        + pkg("a", "1.0")
        + pkg("a", "2.0"),
        # both versions are pinned, each under its marker (pip takes the one whose marker holds)
        {"a==1.0": "python_full_version < '3.12'", "a==2.0": "python_full_version >= '3.12'"},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_pins(case: str) -> None:
    text, expected = CASES[case]
    assert pins(text) == expected


def test_extras_and_groups_add_their_packages() -> None:
    text = (
        root('{ name = "a" }', extras='dev = [{ name = "t" }]', groups='build = [{ name = "s" }]')
        + pkg("a")
        + pkg("t", deps='{ name = "u" }')
        + pkg("u")
        + pkg("s")
    )
    assert set(pins(text)) == {"a==1.0"}
    assert set(pins(text, extras=("dev",))) == {"a==1.0", "t==1.0", "u==1.0"}
    assert set(pins(text, groups=("build",))) == {"a==1.0", "s==1.0"}


def test_requirements_text_has_every_hash_sorted() -> None:
    lock = lockfile.Lock(tomllib.loads(root('{ name = "a" }') + pkg("a", "2.1", hashes=3)))
    assert lockfile.requirements(lock.pins(), "node") == (
        "# node: generated from uv.lock by colab.lockfile; do not edit\n"
        "a==2.1 \\\n"
        f"    --hash=sha256:{'a' * 63}0 \\\n"
        f"    --hash=sha256:{'a' * 63}1 \\\n"
        f"    --hash=sha256:{'a' * 63}2\n"
    )


REFUSALS = {
    "no project": (pkg("a"), (), (), "uv.lock: expected one project of the checkout in the lock, found 0"),
    "unknown extra": (
        root('{ name = "a" }') + pkg("a"), ("docs",), (),
        "uv.lock: no extra 'docs' in the lock (known: none): run `uv lock`",
    ),
    "unknown group": (
        root('{ name = "a" }', groups='build = [{ name = "a" }]') + pkg("a"), (), ("lint",),
        "uv.lock: no group 'lint' in the lock (known: build): run `uv lock`",
    ),
    "a git source": (
        root('{ name = "a" }') + pkg("a").replace('registry = "https://pypi.org/simple"', 'git = "https://x/a.git"'),
        (), (), "uv.lock: a comes from a git source; pip installs only registry pins",
    ),
    "no hashes": (
        root('{ name = "a" }') + pkg("a", hashes=0), (), (), "uv.lock: a 1.0 has no file hashes: run `uv lock`",
    ),
    "a name listed twice with nothing to tell them apart": (
        root('{ name = "a" }') + pkg("a", "1.0") + pkg("a", "2.0"), (), (),
        "uv.lock: a is listed 2 times where one was expected",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_are_one_line(case: str) -> None:
    text, extras, groups, message = REFUSALS[case]
    with pytest.raises(lockfile.LockError) as e:
        lockfile.Lock(tomllib.loads(text)).pins(extras, groups)
    assert str(e.value) == message


def test_a_missing_or_broken_lock_says_to_run_uv_lock(tmp_path: Path) -> None:
    with pytest.raises(lockfile.LockError, match=r"uv.lock is missing: run `uv lock` in the checkout"):
        lockfile.Lock.read(tmp_path / "uv.lock")
    (tmp_path / "uv.lock").write_text("version = \n")
    with pytest.raises(lockfile.LockError, match=r"uv.lock is not valid TOML \(.*\): run `uv lock` again$"):
        lockfile.Lock.read(tmp_path / "uv.lock")


# ------------------------------------------------------------------ the project's lock, against the real uv

ENVIRONMENTS = {  # the cluster's platforms: Debian amd64/arm64 (3.11, 3.13), macOS arm64 (3.13), and Windows
    "debian12-amd64": {"sys_platform": "linux", "platform_machine": "x86_64", "python_full_version": "3.11.2"},
    "debian13-arm64": {"sys_platform": "linux", "platform_machine": "aarch64", "python_full_version": "3.13.5"},
    "macos-arm64": {"sys_platform": "darwin", "platform_machine": "arm64", "python_full_version": "3.13.7"},
    "windows": {"sys_platform": "win32", "platform_machine": "AMD64", "python_full_version": "3.12.1", "os_name": "nt"},
}


def parse_requirements(text: str) -> dict[tuple[str, str], tuple[str, frozenset[str]]]:
    out = {}
    for entry in text.replace("\\\n", " ").splitlines():
        if not entry.strip() or entry.startswith("#"):
            continue
        parts = entry.split()
        spec = entry.split("--hash=")[0].strip()
        head, _, marker = spec.partition(";")
        name, version = head.strip().split("==")
        hashes = frozenset(p.removeprefix("--hash=") for p in parts if p.startswith("--hash="))
        out[(name, version)] = (marker.strip(), hashes)
    return out


def selected(reqs: dict[tuple[str, str], tuple[str, frozenset[str]]], env: dict[str, str]) -> set[tuple[str, str]]:
    full = {"python_version": ".".join(env["python_full_version"].split(".")[:2]), "os_name": "posix", **env}
    full.setdefault("platform_python_implementation", "CPython")
    full.setdefault("implementation_name", "cpython")
    return {key for key, (marker, _) in reqs.items() if not marker or Marker(marker).evaluate(full)}


@pytest.mark.parametrize(("extras", "groups"), [((), ("build",)), (("dev",), ("build",)), (("dev",), ())])
def test_the_projects_lock_exports_as_uv_export_does(extras: tuple[str, ...], groups: tuple[str, ...]) -> None:
    uv = shutil.which("uv")
    if uv is None:
        unavailable("uv is not on PATH (it is in the dev extra: `python3 scripts/venv --dev`)")
    flags = [a for e in extras for a in ("--extra", e)] + [a for g in groups for a in ("--group", g)]
    real = subprocess.run(
        [uv, "export", "--frozen", "--no-emit-project", "--no-header", "--no-annotate", *flags],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ours = lockfile.requirements(lockfile.Lock.read(ROOT / "uv.lock").pins(extras, groups), "test")
    theirs, mine = parse_requirements(real), parse_requirements(ours)
    assert mine.keys() == theirs.keys()
    assert {k: v[1] for k, v in mine.items()} == {k: v[1] for k, v in theirs.items()}
    for env in ENVIRONMENTS.values():
        assert selected(mine, env) == selected(theirs, env), env
