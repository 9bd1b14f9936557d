"""The scripts render writes, run for real with fakes for what they would change (scripts/backup-cron: see
test_backup_cron.py)."""

from __future__ import annotations

import configparser
import json
import plistlib
import shutil
import subprocess
from pathlib import Path

import pytest

from colab import inventory
from colab.render import chezmoi_source
from colab.render.tree import render_tree

ROOT = Path(__file__).resolve().parents[2]
BACKUP_CRON = ROOT / "scripts" / "backup-cron"
LINE = '[ -r "$HOME/.config/colab/env.sh" ] && . "$HOME/.config/colab/env.sh"  # colab: node environment'


@pytest.fixture(scope="module")
def tree() -> dict[str, bytes]:
    return render_tree(inventory.load(ROOT / "cluster.toml"))


def write_exe(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


def test_every_shell_script_parses(tree: dict[str, bytes]) -> None:
    scripts = {p: d for p, d in tree.items() if d.startswith(b"#!/bin/sh\n")}
    assert len(scripts) >= 10
    for path, data in scripts.items():
        proc = subprocess.run(["sh", "-n"], input=data, capture_output=True)
        assert proc.returncode == 0, (path, proc.stderr)
    assert subprocess.run(["sh", "-n", str(BACKUP_CRON)]).returncode == 0


@pytest.mark.parametrize(
    ("node", "script"),
    [
        ("cooperator", "run_onchange_after_10-docker-daemon.sh"),
        ("director", "run_onchange_after_20-fortress-units.sh"),
        ("cooperator", "run_onchange_after_30-backup-cron.sh"),
    ],
)
def test_install_scripts_without_root_say_what_to_run_and_exit_0(
    tree: dict[str, bytes], tmp_path: Path, node: str, script: str
) -> None:
    dest = tmp_path / "home"
    for source, data in chezmoi_source.node_files(tree, node).items():  # what chezmoi would have placed
        target = dest / chezmoi_source.target_path(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    fake = tmp_path / "bin"
    write_exe(fake / "id", "#!/bin/sh\necho 1000\n")
    write_exe(fake / "sudo", "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    body = chezmoi_source.node_files(tree, node)[script]
    proc = subprocess.run(
        ["sh", "-c", body.decode()],
        env={"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(dest), "CHEZMOI_DEST_DIR": str(dest)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    if lines:  # nothing to say only when this machine already has exactly these files in /etc
        assert len(lines) == 1
        assert lines[0].startswith("colab: not root, no passwordless sudo; to finish, run: sudo install ")
        assert str(dest) in lines[0]


def place(tree: dict[str, bytes], node: str, dest: Path) -> None:
    """Put a node's rendered files where chezmoi would (scripts too, by their source name)."""
    for source, data in chezmoi_source.node_files(tree, node).items():
        target = dest / chezmoi_source.target_path(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def run_script(body: bytes, fake: Path, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", body.decode()],
        env={"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(home), "CHEZMOI_DEST_DIR": str(home), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.mark.parametrize("node", ["director", "writer"])
def test_units_installer_without_systemd(tree: dict[str, bytes], tmp_path: Path, node: str) -> None:
    """As root on a machine without systemd: Debian installs the units and says what to run later; WSL
    installs nothing and says, in one line, to turn systemd on in /etc/wsl.conf. Both exit 0."""
    if Path("/run/systemd/system").is_dir():
        pytest.skip("systemd runs on this machine; the no-systemd branch cannot be taken here")
    home, fake = tmp_path / "home", tmp_path / "bin"
    place(tree, node, home)
    log = tmp_path / "calls"
    write_exe(fake / "id", "#!/bin/sh\necho 0\n")  # root, so only the systemd check can stop it
    write_exe(fake / "install", f'#!/bin/sh\necho "install $*" >> {log}\n')
    write_exe(fake / "systemctl", f'#!/bin/sh\necho "systemctl $*" >> {log}\n')
    proc = run_script(chezmoi_source.node_files(tree, node)["run_onchange_after_20-fortress-units.sh"], fake, home)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and proc.stderr == ""
    calls = log.read_text().splitlines() if log.exists() else []
    if node == "writer":
        assert lines[0].startswith("colab: systemd is off in this WSL distribution, so fortress is not mounted")
        assert "[boot] systemd=true in /etc/wsl.conf" in lines[0] and "wsl --shutdown" in lines[0]
        assert lines[0].endswith("then run ~/.config/colab/fortress/mount-fortress.sh")
        assert calls == []
    else:
        assert "systemd is not running, so later run: sudo systemctl enable --now mnt-fortress.mount" in lines[0]
        assert [c.split()[-1] for c in calls] == [
            "/usr/local/lib/colab/fortress-password",
            "/etc/systemd/system/colab-fortress-password.service",
            "/etc/systemd/system/mnt-fortress.mount",
            "/etc/systemd/system/docker.service.d/colab-fortress.conf",
        ]


# ------------------------------------------------------------------------ Docker Desktop (WSL nodes)


@pytest.fixture
def windows(tmp_path: Path) -> tuple[Path, Path]:
    """A fake Windows side: cmd.exe that answers `echo %USERPROFILE%` like Windows (CRLF), and wslpath that
    maps C:\\ to a folder here. Returns (bin folder, the profile folder as WSL sees it)."""
    fake, c = tmp_path / "bin", tmp_path / "c"
    profile = c / "Users" / "crtr"
    profile.mkdir(parents=True)
    cmd = r"""#!/bin/sh
[ "$*" = "/d /c echo %USERPROFILE%" ] || exit 1
printf 'C:\\Users\\crtr\r\n'
"""
    write_exe(fake / "cmd.exe", cmd)
    wslpath = r"""#!/bin/sh
[ "$1" = -u ] || exit 1
printf "%s\n" "$2" | sed -e "s|^C:|$FAKE_C|" | tr '\\' /
"""
    write_exe(fake / "wslpath", wslpath.replace("$FAKE_C", str(c)))
    return fake, profile


def test_docker_desktop_gets_the_settings_in_the_windows_profile(
    tree: dict[str, bytes], tmp_path: Path, windows: tuple[Path, Path]
) -> None:
    fake, profile = windows
    home = tmp_path / "home"
    place(tree, "writer", home)
    staged = chezmoi_source.node_files(tree, "writer")["dot_config/colab/docker/daemon.json"]
    script = chezmoi_source.node_files(tree, "writer")["run_onchange_after_10-docker-desktop.sh"]
    target = profile / ".docker" / "daemon.json"

    proc = run_script(script, fake, home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "colab: wrote C:\\Users\\crtr\\.docker\\daemon.json; restart Docker Desktop to apply it (its menu: Restart)\n"
    )
    assert target.read_bytes() == staged
    assert json.loads(staged)["log-driver"] == "json-file" and "storage-driver" not in json.loads(staged)
    assert sorted(p.name for p in target.parent.iterdir()) == ["daemon.json"]  # no temporary left, no backup

    again = run_script(script, fake, home)  # the same settings: nothing to do, nothing said
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")

    # Docker Desktop's own file (or the user's edits) is kept once as .before-colab, then replaced.
    own = b'{"builder": {"gc": {"enabled": true}}, "experimental": false}\n'
    target.write_bytes(own)
    assert run_script(script, fake, home).stdout.startswith("colab: wrote ")
    assert target.read_bytes() == staged
    assert (target.parent / "daemon.json.before-colab").read_bytes() == own
    target.write_bytes(b"{}\n")
    run_script(script, fake, home)
    assert (target.parent / "daemon.json.before-colab").read_bytes() == own  # the first one is never overwritten


@pytest.mark.parametrize("case", ["no cmd.exe", "cmd.exe fails", "USERPROFILE unset", "no wslpath"])
def test_docker_desktop_without_interop_says_so_in_one_line(
    tree: dict[str, bytes], tmp_path: Path, windows: tuple[Path, Path], case: str
) -> None:
    fake, profile = windows
    if case == "no cmd.exe":
        (fake / "cmd.exe").unlink()
    elif case == "cmd.exe fails":  # what interop turned off looks like: the .exe cannot be executed
        write_exe(fake / "cmd.exe", "#!/bin/sh\necho 'cannot execute binary file: Exec format error' >&2\nexit 126\n")
    elif case == "USERPROFILE unset":
        write_exe(fake / "cmd.exe", "#!/bin/sh\nprintf '%%USERPROFILE%%\\r\\n'\n")
    else:
        (fake / "wslpath").unlink()
    home = tmp_path / "home"
    place(tree, "writer", home)
    bins = tmp_path / "sysbin"  # /usr/bin and /bin without any wslpath the machine may have
    bins.mkdir()
    for tool in ("sh", "cat", "cmp", "cp", "mv", "mkdir", "tr", "sed", "printf", "dirname"):
        found = shutil.which(tool, path="/usr/bin:/bin")
        if found:
            (bins / tool).symlink_to(found)
    script = chezmoi_source.node_files(tree, "writer")["run_onchange_after_10-docker-desktop.sh"]
    proc = subprocess.run(
        ["/bin/sh", "-c", script.decode()],
        env={"PATH": f"{fake}:{bins}", "HOME": str(home), "CHEZMOI_DEST_DIR": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    cause = "wslpath is missing" if case == "no wslpath" else "Windows interop is not available here (no answer from "
    assert lines[0].startswith(f"colab: {cause}") and lines[0].endswith(
        "so Docker Desktop's settings were not written; copy "
        f"{home}/.config/colab/docker/daemon.json to %USERPROFILE%\\.docker\\daemon.json on Windows, "
        "then restart Docker Desktop"
    )
    assert not (profile / ".docker").exists()


# --------------------------------------------------------------------- mount-fortress.sh (WSL nodes)


def wsl_tree(tmp_path: Path) -> tuple[dict[str, bytes], Path]:
    """The default inventory with writer's checkout in a temporary folder (the script names it)."""
    inv = inventory.load(ROOT / "cluster.toml")
    repo = tmp_path / "checkout"
    writer = inv.nodes["writer"].model_copy(update={"repo": str(repo)})
    inv = inv.model_copy(update={"nodes": {**inv.nodes, "writer": writer}})
    return render_tree(inv), repo


def test_mount_fortress_runs_the_storage_task_in_the_checkout(tmp_path: Path) -> None:
    tree, repo = wsl_tree(tmp_path)
    (repo / "tasks").mkdir(parents=True)
    (repo / "tasks" / "__init__.py").write_text("")
    home = tmp_path / "home"
    place(tree, "writer", home)
    write_exe(home / ".local/share/mise/shims/inv", '#!/bin/sh\necho "inv $* in $(pwd)"\nexit 3\n')
    script = home / ".config/colab/fortress/mount-fortress.sh"
    script.chmod(0o755)  # chezmoi makes it executable (executable_ prefix)
    proc = subprocess.run(
        [str(script), "--dry-run"],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        cwd="/",
    )
    assert proc.stdout == f"inv fortress.mount --node writer --dry-run in {repo}\n"
    assert proc.returncode == 3  # inv's exit status is the script's


def run_wrapper(home: Path, repo: Path, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess[str]:
    script = home / ".config/colab/fortress/mount-fortress.sh"
    script.chmod(0o755)
    return subprocess.run(
        [str(script)], env={"HOME": str(home), "PATH": path}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=20, cwd="/",
    )  # fmt: skip


def test_mount_fortress_prefers_the_checkouts_virtualenv(tmp_path: Path) -> None:
    """The checkout's .venv/bin/inv (which can import colab) wins over an inv on PATH (mise's shims)."""
    tree, repo = wsl_tree(tmp_path)
    write_exe(repo / "tasks" / "__init__.py", "")
    home = tmp_path / "home"
    place(tree, "writer", home)
    write_exe(home / ".local/share/mise/shims/inv", '#!/bin/sh\necho "shim inv $*"\n')
    write_exe(repo / ".venv/bin/inv", '#!/bin/sh\necho "venv inv $* in $(pwd)"\n')
    proc = run_wrapper(home, repo)
    assert (proc.returncode, proc.stdout) == (0, f"venv inv fortress.mount --node writer in {repo}\n")
    (repo / ".venv/bin/inv").unlink()  # no virtualenv: the inv on PATH, as before
    assert run_wrapper(home, repo).stdout == "shim inv fortress.mount --node writer\n"


def test_mount_fortress_without_any_inv_is_one_clear_line(tmp_path: Path) -> None:
    tree, repo = wsl_tree(tmp_path)
    write_exe(repo / "tasks" / "__init__.py", "")
    home = tmp_path / "home"
    place(tree, "writer", home)
    proc = run_wrapper(home, repo)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        f"colab: no inv in {repo}/.venv/bin or on PATH; make the checkout's virtualenv: "
        f"`inv bootstrap --node writer --steps venv` (or here: python3 {repo}/scripts/venv), then run this again\n"
    )


def test_mount_fortress_without_a_checkout_is_one_clear_line(tmp_path: Path) -> None:
    tree, repo = wsl_tree(tmp_path)
    home = tmp_path / "home"
    place(tree, "writer", home)
    script = chezmoi_source.node_files(tree, "writer")["dot_config/colab/fortress/executable_mount-fortress.sh"]
    proc = run_script(script, tmp_path / "nobin", home)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        f"colab: no checkout of the colab repository at {repo} (nodes.writer.repo); "
        "clone https://git.ism.la/rtr/colab.git there, then run this again\n"
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", f"{LINE}\n"),
        ("alias ll='ls -l'\n", f"alias ll='ls -l'\n{LINE}\n"),
        ("no newline at end", f"no newline at end\n{LINE}\n"),
        (f"x\n{LINE}\ny\n", f"x\n{LINE}\ny\n"),
    ],
)
def test_rc_hook_adds_its_line_once_and_keeps_the_rest(tree: dict[str, bytes], before: str, after: str) -> None:
    script = chezmoi_source.node_files(tree, "director")["modify_dot_bashrc"].decode()
    assert (
        chezmoi_source.node_files(tree, "terminator")["modify_dot_zshrc"].decode().endswith(script.split("\n", 4)[-1])
    )

    def run(text: str) -> str:
        return subprocess.run(["sh", "-c", script], input=text, capture_output=True, text=True, check=True).stdout

    once = run(before)
    assert once == after
    assert run(once) == once  # idempotent: chezmoi verify sees no change


def test_systemd_units_are_well_formed(tree: dict[str, bytes]) -> None:
    files = chezmoi_source.node_files(tree, "director")
    for name, sections in (
        ("fortress/fortress.mount", {"Unit", "Mount", "Install"}),
        ("fortress/fortress-password.service", {"Unit", "Service"}),
        ("docker/fortress.conf", {"Unit"}),
    ):
        parser = configparser.ConfigParser(strict=True, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(files[f"dot_config/colab/{name}"].decode())
        assert set(parser.sections()) == sections
    mount = configparser.ConfigParser(interpolation=None)
    mount.optionxform = str  # type: ignore[assignment,method-assign]
    mount.read_string(files["dot_config/colab/fortress/fortress.mount"].decode())
    options = mount["Mount"]["Options"].split(",")
    assert "uid=crtr" in options and "_netdev" in options
    # the password only ever in the credentials file the boot unit writes on tmpfs and removes once mounted
    assert [o for o in options if o.startswith(("password", "pass=", "credentials"))] == [
        "credentials=/run/colab-fortress/credentials"
    ]


def test_launch_agent_is_a_valid_plist(tree: dict[str, bytes]) -> None:
    agent = plistlib.loads(chezmoi_source.node_files(tree, "terminator")["Library/LaunchAgents/colab.fortress.plist"])
    assert agent["Label"] == "colab.fortress"
    assert agent["RunAtLoad"] is True
    assert agent["ProgramArguments"][:2] == ["/bin/sh", "-c"]
    assert 'mount volume "smb://crtr@100.64.0.1/fortress"' in agent["ProgramArguments"][2]
    assert " on /Volumes/fortress " in agent["ProgramArguments"][2]
