"""Build the test images locally and cache them by tag; no registry is ever contacted.

- `colab-test/debian:trixie`: a minbase Debian 13 root (what the nodes run) from `debootstrap`, imported with
  `docker import`.
- `colab-test/node:trixie`: that base plus sshd, rsync, python3, sudo and a user `crtr` (tests/docker/node/).
- `colab-test/systemd-node:trixie`: the node image booting systemd as PID 1, with Docker and the stand-ins the
  reboot tests need (tests/docker/systemd-node/).
- `colab-test/busybox:latest`: `FROM scratch` with the host's static busybox (tests/docker/busybox/).
- `colab-test/gitea:1.26.0-rootless`: Gitea built here from the Go module proxy, in the official rootless image's
  layout on the debootstrap base (tests/docker/gitea/; see `build_gitea_image` and docs/gitea.md).

An image is reused when `docker image inspect TAG` succeeds and its recipe label matches what would be
built now (the Dockerfile folder's content, the base image's id): editing a Dockerfile rebuilds by itself.
Builds print their output lines as they go (see `Echo`) and a failure raises `ImageBuildError` ending with
the last lines of output. A file lock per tag keeps concurrent test runs from building the same image twice.

From a shell, at the repository root:
`python -m tests.harness.images [--force] [base|node|systemd-node|busybox|gitea ...]`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

DOCKER_DIR = Path(__file__).resolve().parents[1] / "docker"
NODE_CONTEXT = DOCKER_DIR / "node"
SYSTEMD_NODE_CONTEXT = DOCKER_DIR / "systemd-node"
BUSYBOX_CONTEXT = DOCKER_DIR / "busybox"
GITEA_CONTEXT = DOCKER_DIR / "gitea"

SUITE = "trixie"
BASE_TAG = f"colab-test/debian:{SUITE}"
NODE_TAG = f"colab-test/node:{SUITE}"
SYSTEMD_NODE_TAG = f"colab-test/systemd-node:{SUITE}"
BUSYBOX_TAG = "colab-test/busybox:latest"
GITEA_VERSION = "1.26.0"  # compose/gitea pins gitea/gitea:<this>-rootless: the version the tests run
GITEA_TAG = f"colab-test/gitea:{GITEA_VERSION}-rootless"
GITEA_MODULE = "code.gitea.io/gitea"
GITEA_STATIC_ROOT = "/app/gitea"  # where the image keeps options/, templates/, public/ (no bindata)
GO_CACHE_ENV = "COLAB_TEST_GO_CACHE"  # the Go module and build cache of the gitea build (default: go_cache_dir())

DEFAULT_MIRROR = "http://deb.debian.org/debian"
ENV_MIRROR = "COLAB_TEST_DEBIAN_MIRROR"  # overrides the mirror found in the apt sources
RECIPE_LABEL = "org.colab.test.recipe"
BUSYBOX_BINARY = Path("/bin/busybox")
TAIL_LINES = 40
IMPORT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Echo = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """An image could not be built; the message ends with the last lines of the build's output."""

    def __init__(self, what: str, detail: str, tail: Iterable[str] = ()) -> None:
        lines = list(tail)
        text = f"{what}: {detail}"
        if lines:
            text += f"\n--- last {len(lines)} line(s) of output ---\n" + "\n".join(lines)
        super().__init__(text)


class MissingToolError(ImageBuildError):
    """A host tool the build needs is not installed (scripts/ci-setup installs it)."""

    def __init__(self, tool: str, what: str) -> None:
        self.tool = tool
        super().__init__(what, f"needs `{tool}`, which is not installed (scripts/ci-setup installs it)")


def stderr_echo(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- docker queries


def image_labels(tag: str) -> dict[str, str] | None:
    """The image's labels, or None when there is no image with that tag."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    labels = json.loads(proc.stdout.strip() or "null")
    return dict(labels or {})


def image_exists(tag: str) -> bool:
    return image_labels(tag) is not None


def image_id(tag: str) -> str:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ImageBuildError(tag, "image not found", proc.stderr.strip().splitlines()[-TAIL_LINES:])
    return proc.stdout.strip()


def _is_current(tag: str, recipe: str, echo: Echo) -> bool:
    labels = image_labels(tag)
    if labels is None:
        return False
    if labels.get(RECIPE_LABEL) == recipe:
        return True
    echo(f"[{tag}] exists but was built from another recipe; rebuilding")
    return False


# --------------------------------------------------------------------------------------------- processes


def _pump(stream: IO[bytes], prefix: str, echo: Echo, tail: collections.deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip()
        if not line:
            continue
        tail.append(line)
        echo(f"{prefix} {line}")


def run_logged(
    argv: Sequence[str],
    *,
    what: str,
    echo: Echo,
    stdin: IO[bytes] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run argv with stdout+stderr merged, echoing each line; raise ImageBuildError on a non-zero exit."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    except FileNotFoundError:
        raise MissingToolError(argv[0], what) from None
    assert proc.stdout is not None
    with proc:
        _pump(proc.stdout, f"[{what}]", echo, tail)
    if proc.returncode != 0:
        raise ImageBuildError(what, f"`{' '.join(argv[:3])} …` exited with {proc.returncode}", tail)


@contextlib.contextmanager
def _build_lock(tag: str) -> Iterator[None]:
    """One builder per tag on this machine; others wait, then find the image built."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", tag)
    path = Path(tempfile.gettempdir()) / f"colab-test-image-{name}.lock"
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _cached(tag: str, recipe: str, echo: Echo, force: bool, build: Callable[[], None]) -> str:
    """`tag` when its image is current for `recipe`; else `build()` it, once per machine (others wait on the lock and
    then find it current), and say how long it took. Returns the tag."""
    if not force and _is_current(tag, recipe, echo):
        return tag
    with _build_lock(tag):
        if not force and _is_current(tag, recipe, echo):
            return tag
        started = time.monotonic()
        build()
        echo(f"[{tag}] built in {time.monotonic() - started:.0f}s")
    return tag


def _recipe(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:32]


def _tree_digest(root: Path) -> str:
    """Digest of every file's relative path, mode and content under root."""
    parts: list[str | bytes] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts += [str(path.relative_to(root)), oct(path.stat().st_mode & 0o777), path.read_bytes()]
    return _recipe(*parts)


# ---------------------------------------------------------------------------------------------- mirror


def _apt_source_entries(apt_dir: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) for every enabled `deb` source, one-line and deb822 formats alike."""
    files = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(parts.iterdir())
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.suffix == ".sources":
            yield from _deb822_entries(text)
        elif path.suffix == ".list" or path.name == "sources.list":
            for line in text.splitlines():
                words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    yield words[1], [words[2]], words[3:]


def _deb822_entries(text: str) -> Iterator[tuple[str, list[str], list[str]]]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1].isspace() and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            yield uri, fields.get("suites", "").split(), fields.get("components", "").split()


def debian_mirror(suite: str = SUITE, apt_dir: Path = Path("/etc/apt")) -> str:
    """The mirror this machine's apt uses for `suite` main ($COLAB_TEST_DEBIAN_MIRROR wins)."""
    override = os.environ.get(ENV_MIRROR, "").strip()
    if override:
        return override.rstrip("/")
    for uri, suites, components in _apt_source_entries(apt_dir):
        if suite in suites and "main" in components and uri.startswith(("http://", "https://")):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


# ------------------------------------------------------------------------------------------------ builds


def build_base_image(
    tag: str = BASE_TAG,
    *,
    suite: str = SUITE,
    mirror: str | None = None,
    echo: Echo = stderr_echo,
    force: bool = False,
) -> str:
    """A minbase Debian root made with debootstrap and `docker import`ed as `tag`; returns the tag."""
    recipe = _recipe("debootstrap", "minbase", suite, "v1")

    def build() -> None:
        if shutil.which("debootstrap") is None:
            raise MissingToolError("debootstrap", tag)
        if os.geteuid() != 0:
            raise ImageBuildError(tag, "debootstrap needs root; run the tests as root or build the image as root")
        source = mirror or debian_mirror(suite)
        echo(f"[{tag}] building: debootstrap --variant=minbase {suite} from {source} (a few minutes, once)")
        workdir = Path(tempfile.mkdtemp(prefix="colab-debootstrap-", dir="/var/tmp"))
        rootfs = workdir / "rootfs"
        try:
            run_logged(
                ["debootstrap", "--variant=minbase", suite, str(rootfs), source], what=f"{tag} debootstrap", echo=echo
            )
            _trim_rootfs(rootfs)
            _import_rootfs(rootfs, tag, recipe, echo)
        finally:
            _remove_tree(workdir, echo)

    return _cached(tag, recipe, echo, force, build)


def _trim_rootfs(rootfs: Path) -> None:
    """Drop downloaded packages and package lists: images fetch fresh lists when they install."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for path in rootfs.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()


def _import_rootfs(rootfs: Path, tag: str, recipe: str, echo: Echo) -> None:
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tar.stdout is not None
    try:
        run_logged(
            [
                "docker",
                "import",
                "--change",
                f"ENV PATH={IMPORT_PATH}",
                "--change",
                'CMD ["/bin/bash"]',
                "--change",
                f"LABEL {RECIPE_LABEL}={recipe}",
                "-",
                tag,
            ],
            what=f"{tag} import",
            echo=echo,
            stdin=tar.stdout,
        )
    finally:
        tar.stdout.close()
        _, err = tar.communicate()
    if tar.returncode != 0:
        raise ImageBuildError(f"{tag} import", f"tar exited with {tar.returncode}", err.decode().splitlines())


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        for line in fh:
            target = line.split()[1].encode().decode("unicode_escape")  # \040 and friends
            if target == prefix or target.startswith(prefix + "/"):
                found.append(target)
    return found


def _remove_tree(path: Path, echo: Echo) -> None:
    """rm -rf a debootstrap dir, unmounting anything a failed debootstrap left mounted in it first."""
    if not path.exists():
        return
    for target in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    remaining = _mounts_under(path)
    if remaining:  # never recurse into a mounted /proc, /sys or /dev
        echo(f"[cleanup] left {path} in place: still mounted: {', '.join(remaining)}")
        return
    shutil.rmtree(path, ignore_errors=True)


def _docker_build(context: Path, tag: str, recipe: str, echo: Echo, build_args: Mapping[str, str]) -> None:
    argv = ["docker", "build", "--rm", "--force-rm", "--pull=false", "-t", tag, "--label", f"{RECIPE_LABEL}={recipe}"]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    # The classic builder: works with any engine and needs no buildx plugin.
    run_logged([*argv, str(context)], what=f"{tag} build", echo=echo, env={"DOCKER_BUILDKIT": "0"})


def context_image(tag: str, context: Path, base: str, *, echo: Echo = stderr_echo, force: bool = False) -> str:
    """`tag` built from the Dockerfile folder `context` with `--build-arg BASE=<base>` (an image already built),
    reused while the folder's content and the base's id are the same; returns the tag."""
    recipe = _recipe(_tree_digest(context), image_id(base))

    def build() -> None:
        echo(f"[{tag}] building from {context} on {base}")
        _docker_build(context, tag, recipe, echo, {"BASE": base})

    return _cached(tag, recipe, echo, force, build)


def build_node_image(
    tag: str = NODE_TAG, *, base: str = BASE_TAG, echo: Echo = stderr_echo, force: bool = False
) -> str:
    """The SSH-reachable node image (tests/docker/node/) on top of the debootstrap base; returns the tag."""
    build_base_image(base, echo=echo)
    return context_image(tag, NODE_CONTEXT, base, echo=echo, force=force)


def build_systemd_node_image(
    tag: str = SYSTEMD_NODE_TAG, *, base: str = NODE_TAG, echo: Echo = stderr_echo, force: bool = False
) -> str:
    """The node image booting systemd, with Docker (tests/docker/systemd-node/) on the node image; returns the tag."""
    build_node_image(base, echo=echo)
    return context_image(tag, SYSTEMD_NODE_CONTEXT, base, echo=echo, force=force)


def _is_static_elf(path: Path) -> bool:
    head = path.read_bytes()[:8192]
    return head[:4] == b"\x7fELF" and b"ld-linux" not in head and b"ld-musl" not in head


def build_busybox_image(
    tag: str = BUSYBOX_TAG, *, binary: Path = BUSYBOX_BINARY, echo: Echo = stderr_echo, force: bool = False
) -> str:
    """A `FROM scratch` image holding a static busybox and its applet links; returns the tag."""
    if not binary.is_file():
        raise MissingToolError("busybox", tag)
    if not _is_static_elf(binary):
        raise ImageBuildError(tag, f"{binary} is not a static binary; install Debian's busybox-static")
    recipe = _recipe(_tree_digest(BUSYBOX_CONTEXT), binary.read_bytes())

    def build() -> None:
        echo(f"[{tag}] building from {BUSYBOX_CONTEXT} with {binary}")
        with tempfile.TemporaryDirectory(prefix="colab-busybox-") as tmp:
            context = Path(tmp)
            shutil.copytree(BUSYBOX_CONTEXT, context, dirs_exist_ok=True)
            shutil.copy2(binary, context / "busybox")
            _docker_build(context, tag, recipe, echo, {})

    return _cached(tag, recipe, echo, force, build)


# ------------------------------------------------------------------------------------------------ gitea


def go_cache_dir() -> Path:
    """Where the gitea build keeps Go's module cache (`mod/`, 1.3 GB), its build cache (`build/`, 1.2 GB) and the
    built binaries (`bin/`): `$COLAB_TEST_GO_CACHE`; else `$XDG_CACHE_HOME/colab-test/go` when XDG_CACHE_HOME is set
    (.ci/run sets it to a fresh folder: CI builds from nothing, once per image recipe, since the image itself stays
    cached); else /var/cache/colab-test/go as root, ~/.cache/colab-test/go otherwise, so that a rebuild on a
    developer's machine (a new base image, an edited Dockerfile) takes seconds instead of minutes. Both Go caches
    are content-addressed and checked against go.sum: a leftover cannot change what is built."""
    if os.environ.get(GO_CACHE_ENV):
        return Path(os.environ[GO_CACHE_ENV])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "colab-test" / "go"
    if os.geteuid() == 0:
        return Path("/var/cache/colab-test/go")
    return Path.home() / ".cache" / "colab-test" / "go"


def _go_binary() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None)
    if found is None:
        raise MissingToolError("go", GITEA_TAG)
    return found


def _go_env(cache: Path) -> dict[str, str]:
    # CGO off: a static binary with no C toolchain; Gitea then has no SQLite, which the cluster does not use
    # (PostgreSQL). GOTOOLCHAIN=local: build with the installed Go, never download another one.
    return {
        "GOMODCACHE": str(cache / "mod"),
        "GOCACHE": str(cache / "build"),
        "GOFLAGS": "-modcacherw",
        "GOTOOLCHAIN": "local",
        "GOPROXY": os.environ.get("GOPROXY") or "https://proxy.golang.org",
        "CGO_ENABLED": "0",
    }


def gitea_ldflags(version: str = GITEA_VERSION) -> str:
    """The version `gitea --version` reports and the static root compiled in (what distributions do)."""
    return f"-s -w -X main.Version={version} -X code.gitea.io/gitea/modules/setting.StaticRootPath={GITEA_STATIC_ROOT}"


def _every(n: int, echo: Echo) -> Echo:
    """An echo that passes on every n-th line with a count: `go build -v` names each of ~1,500 packages."""
    count = 0

    def throttled(line: str) -> None:
        nonlocal count
        count += 1
        if count % n == 0:
            echo(f"{line} ({count} packages so far)")

    return throttled


def build_gitea_binary(version: str = GITEA_VERSION, *, echo: Echo = stderr_echo) -> tuple[Path, Path]:
    """Gitea `version` from the Go module proxy, built in its own module folder (so its `replace` lines apply).

    Returns (binary, source folder). The binary is kept in the Go cache by what built it (version, flags, Go
    version): a second image build (a new base, an edited Dockerfile) reuses it instead of linking again.
    """
    go = _go_binary()
    cache = go_cache_dir()
    env = _go_env(cache)
    goversion = subprocess.run([go, "version"], capture_output=True, text=True, check=False).stdout.strip()
    what = f"{GITEA_TAG} go"
    cache.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{GITEA_MODULE}@v{version}"],
        capture_output=True, text=True, check=False, env={**os.environ, **env}, cwd=cache,
    )  # fmt: skip
    if proc.returncode != 0:
        raise ImageBuildError(what, f"`go mod download {GITEA_MODULE}@v{version}` failed", proc.stderr.splitlines())
    source = Path(json.loads(proc.stdout)["Dir"])
    key = _recipe(version, gitea_ldflags(version), json.dumps(env, sort_keys=True), goversion, "v1")
    binary = cache / "bin" / f"gitea-{version}-{key}"
    if binary.is_file():
        echo(f"[{what}] reusing {binary}")
        return binary, source
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="colab-gitea-src-", dir=cache))
    try:
        # The module cache is read-only and `go build` must run inside the module for its replace lines to apply.
        shutil.copytree(source, work / "src", symlinks=True)
        for path in [work / "src", *(work / "src").rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        echo(f"[{what}] go mod download (once per Go cache: about 1.3 GB into {cache / 'mod'})")
        run_logged([go, "mod", "download"], what=what, echo=echo, env=env, cwd=work / "src")
        echo(f"[{what}] go build {version} with {goversion} (about 5 min on 2 cores the first time)")
        out = work / "gitea"
        argv = [go, "build", "-v", "-trimpath", "-ldflags", gitea_ldflags(version), "-o", str(out), "."]
        run_logged(argv, what=what, echo=_every(100, echo), env=env, cwd=work / "src")
        binary.parent.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_name(binary.name + ".tmp")
        shutil.move(str(out), tmp)
        tmp.rename(binary)  # complete or absent
    finally:
        shutil.rmtree(work, ignore_errors=True)
    echo(f"[{what}] built {binary.name} ({binary.stat().st_size // 2**20} MiB) in {time.monotonic() - started:.0f}s")
    return binary, source


def build_gitea_image(
    tag: str = GITEA_TAG,
    *,
    version: str = GITEA_VERSION,
    base: str = BASE_TAG,
    echo: Echo = stderr_echo,
    force: bool = False,
) -> str:
    """Gitea built from source in the rootless image's layout (tests/docker/gitea/) on the debootstrap base."""
    build_base_image(base, echo=echo)
    recipe = _recipe(_tree_digest(GITEA_CONTEXT), image_id(base), version, gitea_ldflags(version), "v1")

    def build() -> None:
        binary, source = build_gitea_binary(version, echo=echo)
        echo(f"[{tag}] building from {GITEA_CONTEXT} on {base}")
        with tempfile.TemporaryDirectory(prefix="colab-gitea-", dir="/var/tmp") as tmp:
            context = Path(tmp)
            shutil.copytree(GITEA_CONTEXT, context, dirs_exist_ok=True)
            shutil.copy2(binary, context / "gitea")
            # The official rootless image's own entrypoint scripts and app.ini template, from the same release.
            shutil.copytree(source / "docker" / "rootless", context / "rootless")
            for folder in ("options", "templates", "public"):
                shutil.copytree(source / folder, context / "static" / folder)
            for path in context.rglob("*"):
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | 0o200)
            _docker_build(context, tag, recipe, echo, {"BASE": base})

    return _cached(tag, recipe, echo, force, build)


BUILDERS: dict[str, Callable[..., str]] = {
    "base": build_base_image,
    "node": build_node_image,
    "systemd-node": build_systemd_node_image,
    "busybox": build_busybox_image,
    "gitea": build_gitea_image,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build (or reuse) the colab test images.")
    parser.add_argument("images", nargs="*", metavar="|".join(BUILDERS), help="default: all of them")
    parser.add_argument("--force", action="store_true", help="rebuild even when the image is current")
    args = parser.parse_args(argv)
    unknown = [name for name in args.images if name not in BUILDERS]
    if unknown:
        parser.error(f"unknown image(s): {', '.join(unknown)}; choose from {', '.join(BUILDERS)}")
    try:
        for name in args.images or list(BUILDERS):
            print(BUILDERS[name](force=args.force))
    except ImageBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
