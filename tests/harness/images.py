"""Build the test images locally and cache them by tag; no registry is ever contacted.

- `colab-test/debian:trixie`: a minbase Debian 13 root (what the nodes run) from `debootstrap`, imported with
  `docker import`.
- `colab-test/node:trixie`: that base plus sshd, rsync, python3, sudo and a user `crtr` (tests/docker/node/).
- `colab-test/systemd-node:trixie`: the node image booting systemd as PID 1, with Docker and the stand-ins the
  reboot tests need (tests/docker/systemd-node/).
- `colab-test/busybox:latest`: `FROM scratch` with the host's static busybox (tests/docker/busybox/).

An image is reused when `docker image inspect TAG` succeeds and its recipe label matches what would be
built now (the Dockerfile folder's content, the base image's id): editing a Dockerfile rebuilds by itself.
Builds print their output lines as they go (see `Echo`) and a failure raises `ImageBuildError` ending with
the last lines of output. A file lock per tag keeps concurrent test runs from building the same image twice.

From a shell, at the repository root: `python -m tests.harness.images [--force] [base|node|systemd-node|busybox ...]`.
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

SUITE = "trixie"
BASE_TAG = f"colab-test/debian:{SUITE}"
NODE_TAG = f"colab-test/node:{SUITE}"
SYSTEMD_NODE_TAG = f"colab-test/systemd-node:{SUITE}"
BUSYBOX_TAG = "colab-test/busybox:latest"

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
    if not force and _is_current(tag, recipe, echo):
        return tag
    with _build_lock(tag):
        if not force and _is_current(tag, recipe, echo):
            return tag
        if shutil.which("debootstrap") is None:
            raise MissingToolError("debootstrap", tag)
        if os.geteuid() != 0:
            raise ImageBuildError(tag, "debootstrap needs root; run the tests as root or build the image as root")
        mirror = mirror or debian_mirror(suite)
        started = time.monotonic()
        echo(f"[{tag}] building: debootstrap --variant=minbase {suite} from {mirror} (a few minutes, once)")
        workdir = Path(tempfile.mkdtemp(prefix="colab-debootstrap-", dir="/var/tmp"))
        rootfs = workdir / "rootfs"
        try:
            run_logged(
                ["debootstrap", "--variant=minbase", suite, str(rootfs), mirror], what=f"{tag} debootstrap", echo=echo
            )
            _trim_rootfs(rootfs)
            _import_rootfs(rootfs, tag, recipe, echo)
        finally:
            _remove_tree(workdir, echo)
        echo(f"[{tag}] built in {time.monotonic() - started:.0f}s")
    return tag


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


def build_node_image(
    tag: str = NODE_TAG, *, base: str = BASE_TAG, echo: Echo = stderr_echo, force: bool = False
) -> str:
    """The SSH-reachable node image (tests/docker/node/) on top of the debootstrap base; returns the tag."""
    build_base_image(base, echo=echo)
    recipe = _recipe(_tree_digest(NODE_CONTEXT), image_id(base))
    if not force and _is_current(tag, recipe, echo):
        return tag
    with _build_lock(tag):
        if not force and _is_current(tag, recipe, echo):
            return tag
        started = time.monotonic()
        echo(f"[{tag}] building from {NODE_CONTEXT} on {base}")
        _docker_build(NODE_CONTEXT, tag, recipe, echo, {"BASE": base})
        echo(f"[{tag}] built in {time.monotonic() - started:.0f}s")
    return tag


def build_systemd_node_image(
    tag: str = SYSTEMD_NODE_TAG, *, base: str = NODE_TAG, echo: Echo = stderr_echo, force: bool = False
) -> str:
    """The node image booting systemd, with Docker (tests/docker/systemd-node/) on the node image; returns the tag."""
    build_node_image(base, echo=echo)
    recipe = _recipe(_tree_digest(SYSTEMD_NODE_CONTEXT), image_id(base))
    if not force and _is_current(tag, recipe, echo):
        return tag
    with _build_lock(tag):
        if not force and _is_current(tag, recipe, echo):
            return tag
        started = time.monotonic()
        echo(f"[{tag}] building from {SYSTEMD_NODE_CONTEXT} on {base}")
        _docker_build(SYSTEMD_NODE_CONTEXT, tag, recipe, echo, {"BASE": base})
        echo(f"[{tag}] built in {time.monotonic() - started:.0f}s")
    return tag


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
    if not force and _is_current(tag, recipe, echo):
        return tag
    with _build_lock(tag):
        if not force and _is_current(tag, recipe, echo):
            return tag
        started = time.monotonic()
        echo(f"[{tag}] building from {BUSYBOX_CONTEXT} with {binary}")
        with tempfile.TemporaryDirectory(prefix="colab-busybox-") as tmp:
            context = Path(tmp)
            shutil.copytree(BUSYBOX_CONTEXT, context, dirs_exist_ok=True)
            shutil.copy2(binary, context / "busybox")
            _docker_build(context, tag, recipe, echo, {})
        echo(f"[{tag}] built in {time.monotonic() - started:.0f}s")
    return tag


BUILDERS: dict[str, Callable[..., str]] = {
    "base": build_base_image,
    "node": build_node_image,
    "systemd-node": build_systemd_node_image,
    "busybox": build_busybox_image,
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
