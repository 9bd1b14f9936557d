"""`chezmoi init --apply` inside a container whose hostname is the node name, with no COLAB_NODE override.

The container (colab-test/debian, no network) gets the host's chezmoi binary and the rendered tree, both
read-only; the tree is copied to the node's checkout (`nodes.<node>.repo`), which is chezmoi's source
(`--source`), and the later verify and apply are plain ones (the config's sourceDir). As root the
run_onchange_ scripts install the system files into /etc; as a user without sudo they say what to run and
exit 0.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import subprocess
from pathlib import Path

import pytest

from colab import inventory
from colab.render import chezmoi_source, disk
from colab.render.tree import render_tree
from colab.storage import boot
from tests.conftest import RENDER_CASES as CASES
from tests.conftest import RENDER_INVENTORIES as INVENTORIES
from tests.conftest import require_tool
from tests.harness import images

SYSTEM = {  # file chezmoi places in the home -> where its script installs it (Docker: Debian nodes only)
    "dot_config/colab/docker/daemon.json": "/etc/docker/daemon.json",
    "dot_config/colab/backup/colab-backup.cron": "/etc/cron.d/colab-backup",
    "dot_config/colab/monitoring/colab-status.cron": "/etc/cron.d/colab-status",
    "dot_config/colab/cockpit/cockpit.conf": "/etc/cockpit/cockpit.conf",
}

pytestmark = [pytest.mark.docker, pytest.mark.tools, pytest.mark.integration]

SCRIPT = r"""
set -u
find "$HOME" -type f | sort > /tmp/before
# what `chezmoi init --source <checkout> <repo-url>` would clone; /src is read-only, chezmoi makes a git repo of it
mkdir -p "$(dirname "$REPO")" && cp -a /src "$REPO"
chezmoi init --apply --no-tty --source "$REPO" </dev/null 2>&1; echo "::apply $?"
echo "::source"; chezmoi source-path --no-tty </dev/null 2>&1
chezmoi verify --no-tty </dev/null 2>&1; echo "::verify $?"
echo "::second"; chezmoi apply --no-tty </dev/null 2>&1; echo "::apply2 $?"
echo "::files"
find "$HOME" -type f | sort | comm -13 /tmp/before - | sed "s|^$HOME/||" \
  | grep -v -e '^\.config/chezmoi/' -e '^\.local/share/chezmoi/' || true
echo "::changed"
find "$HOME" -type f | sort | comm -12 /tmp/before - | sed "s|^$HOME/||" || true
echo "::etc"
for f in /etc/docker/daemon.json /etc/cron.d/colab-backup /etc/cron.d/colab-status /etc/cockpit/cockpit.conf \
  /etc/systemd/system/*.mount /etc/systemd/system/*.automount /etc/systemd/system/*.service \
  /etc/systemd/system/*.service.d/*.conf /usr/local/lib/colab/fortress-password; do
  [ -f "$f" ] && sha256sum "$f"
done
echo "::end"
"""


@pytest.fixture(scope="module")
def base_image(docker_engine: str) -> str:
    return images.build_base_image()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[inventory.Inventory, dict[str, bytes], Path]]:
    out = {}
    for name, path in INVENTORIES.items():
        inv = inventory.load(path)
        tree = render_tree(inv)
        root = tmp_path_factory.mktemp(f"rendered-{name}")
        disk.write_tree(tree, root)
        root.chmod(0o755)
        out[name] = (inv, tree, root)
    return out


def run_in_container(
    image: str, hostname: str, source: Path, repo: str, *, user: str | None = None
) -> dict[str, list[str]]:
    require_tool("chezmoi")
    chezmoi_bin = shutil.which("chezmoi")
    assert chezmoi_bin
    argv = ["docker", "run", "--rm", "--network", "none", "--hostname", hostname, "-e", f"REPO={repo}"]
    argv += ["-v", f"{Path(chezmoi_bin).resolve()}:/usr/local/bin/chezmoi:ro", "-v", f"{source}:/src:ro"]
    if user:  # the checkout's parent folder, writable by that user
        uid, _, gid = user.partition(":")
        argv += ["--tmpfs", f"{posixpath.dirname(repo)}:uid={uid},gid={gid or uid},mode=0755"]
        argv += ["--user", user, "-e", "HOME=/tmp/home", "--entrypoint", "sh"]
        argv += [image, "-c", "mkdir -p /tmp/home && " + SCRIPT]
    else:
        argv += ["-e", "HOME=/root", image, "sh", "-c", SCRIPT]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    sections: dict[str, list[str]] = {}
    current = "apply"
    for line in proc.stdout.splitlines():
        if line.startswith("::"):
            word, _, rest = line[2:].partition(" ")
            current = word
            sections.setdefault(word, [])
            if rest:
                sections[word].append(rest)
        else:
            sections.setdefault(current, []).append(line)
    return sections


@pytest.mark.parametrize(("name", "node"), CASES)
def test_apply_as_root_in_a_container_named_like_the_node(
    base_image: str,
    rendered: dict[str, tuple[inventory.Inventory, dict[str, bytes], Path]],
    name: str,
    node: str,
) -> None:
    inv, tree, root = rendered[name]
    repo = inv.nodes[node].repo
    out = run_in_container(base_image, node, root, repo)
    log = "\n".join(out.get("apply", []))
    assert out["apply"][-1] == "0", log
    assert out["source"] == [f"{repo}/chezmoi"], out  # a plain chezmoi uses the checkout (sourceDir)
    assert out["verify"] == ["0"], out
    assert out["second"] == [] and out["apply2"] == ["0"], out  # run_onchange_ scripts do not run again

    files = chezmoi_source.node_sources(tree, node)
    targets = {chezmoi_source.target_path(s) for s in files if not s.startswith("run_")}
    new = set(out["files"])
    assert new | {t for t in targets if t in out["changed"]} == targets  # e.g. the image's own ~/.bashrc

    installed = dict(reversed(line.split("  ", 1)) for line in out["etc"])
    node_os = inv.nodes[node].os
    expected = {
        dst: hashlib.sha256(files[src]).hexdigest()
        for src, dst in SYSTEM.items()
        if src in files and (node_os == "debian" or dst != "/etc/docker/daemon.json")
    }
    # the boot mount on a Debian client (its files, Docker's drop-in), the drop-ins on a Debian server
    server = node == inv.fortress.server
    if node_os == "debian" and ("dot_config/colab/fortress/fortress.mount" in files or server):
        boot_files = boot.server_files() if server else boot.client_files(inv, inv.nodes[node])
        for src, dst, _ in boot_files:
            expected[dst] = hashlib.sha256(files[f"dot_config/colab/{src}"]).hexdigest()
        if not server:
            assert "systemd is not running, so later run: sudo systemctl enable --now" in log
    assert installed == expected
    if node_os == "debian":
        assert "colab: installed /etc/docker/daemon.json" in log
    elif node_os == "wsl":
        # WSL: the units wait for systemd (off here, as in a fresh distribution), and Docker Desktop's
        # settings need Windows interop (none in a container): one line each, nothing in /etc, exit 0.
        assert "dot_config/colab/fortress/fortress.mount" in files and installed == {}
        said = [line for line in out["apply"] if line.startswith("colab: ")]
        assert len(said) == 2, log
        assert any(line.startswith("colab: systemd is off in this WSL distribution") for line in said)
        assert any(line.startswith("colab: Windows interop is not available here") for line in said)
    else:
        assert "no launchctl here" in log and not installed


def test_without_root_or_sudo_the_scripts_say_what_to_run(
    base_image: str, rendered: dict[str, tuple[inventory.Inventory, dict[str, bytes], Path]]
) -> None:
    inv, _, root = rendered["default"]
    out = run_in_container(base_image, "cooperator", root, inv.nodes["cooperator"].repo, user="1000:1000")
    log = out["apply"]
    assert log[-1] == "0"
    assert out["source"] == [f"{inv.nodes['cooperator'].repo}/chezmoi"] and out["verify"] == ["0"], out
    hints = [line for line in log if line.startswith("colab: not root")]
    assert len(hints) == 5  # docker settings, fortress's drop-ins, the backup schedule, the monitoring folder, Cockpit
    assert any("/etc/systemd/system/smbd.service.d/colab-fortress.conf" in h for h in hints)
    assert any("sudo install -D -m 0644 /tmp/home/.config/colab/docker/daemon.json /etc/docker/" in h for h in hints)
    assert any("/etc/cron.d/colab-backup" in h for h in hints)
    assert any("/etc/cron.d/colab-status" in h for h in hints)
    assert any("/etc/cockpit/cockpit.conf && sudo systemctl try-restart cockpit.service" in h for h in hints)
    assert out["etc"] == []
    assert ".config/mise/config.toml" in out["files"]
