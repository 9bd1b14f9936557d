"""`inv fortress.mount` / `fortress.unmount` on a client node, by its OS.

Linux (debian nodes, and the Linux side of WSL nodes): the boot mount (colab.storage.boot), the files rendered
from `templates/` with the node's own facts (the same templates, so the same bytes, that `inv render` gives
the node through chezmoi): the script and unit that fetch the password from Infisical with the node's machine
identity, the mount unit, and on Debian Docker's drop-in. They are installed, the mount is enabled and
started, and the task waits for it: the same path a boot takes, so no password passes through this task (it
is fetched on the node, by root, into a root-only tmpfs file that is removed once mounted). The node needs its
machine identity in /etc/colab/infisical (root-only); the task says how when it is not there.

Windows (wsl nodes, through WSL interop): PowerShell's `New-SmbMapping -Persistent $true
-SaveCredentials` maps the drive and stores the credential in Windows Credential Manager (what
`cmdkey` + `net use /persistent:yes` do, but `cmdkey /pass:<pw>` and `net use … <pw>` would put the
password in argv, and their prompts read the console, not a pipe). The password reaches PowerShell in its
environment only: `WSLENV=<name>/u` makes WSL copy that one variable into the Windows process. The
PowerShell script is on the command line and holds no secret. On the node, chezmoi's
`~/.config/colab/fortress/mount-fortress.sh` runs these same steps (`inv fortress.mount --node <node>`).

macOS: the password goes into the login Keychain as an internet password for smb://<server> through
`security -i` (commands read from stdin, the password hex-encoded with -X), never `security … -w <pw>`
in argv; the LaunchAgent rendered from `templates/` (`colab.fortress`) mounts the share with
`osascript … mount volume`, which takes the password from the Keychain.
"""

from __future__ import annotations

import plistlib
from typing import Any

import jinja2

from colab import secrets
from colab.errors import ColabError
from colab.file_steps import file_step, home_file_step
from colab.inventory import Inventory, Node
from colab.node_facts import fortress_client
from colab.privilege import as_root
from colab.quoting import systemd_escape_path
from colab.render.context import node_context
from colab.render.templates import environment
from colab.runner import CommandError, Runner
from colab.steps import Step, note
from colab.storage import boot
from colab.storage.mount_table import parse_mount_table, share_mounted_at

UNIT_DIR = boot.UNIT_DIR
POWERSHELL = "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe"
PS_FLAGS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command")
_COLAB_TEMPLATES = "chezmoi/.nodes/{node}/dot_config/colab"
_AGENT_TEMPLATE = "chezmoi/.nodes/{node}/Library/LaunchAgents/colab.fortress.plist.j2"
AGENT_PATH = "Library/LaunchAgents/colab.fortress.plist"  # under $HOME, where render puts it too


# ------------------------------------------------------------------------------------ what and where


def client_kind(inv: Inventory, node: Node) -> str:
    """ "systemd" (Debian), "wsl" (Linux side by systemd + Windows drive), "macos"; the server is refused."""
    kind = fortress_client(inv, node)
    if not kind:
        raise ColabError(
            f"{node.name} is the fortress server: the share is local at {inv.fortress.path}; "
            "use `inv fortress.share` there, and mount it on the other nodes"
        )
    return kind


def server_address(inv: Inventory) -> str:
    """The server's mesh address, as the rendered units use it (reachable wherever the client is)."""
    return str(inv.nodes[inv.fortress.server].mesh)


def unc(inv: Inventory) -> str:
    return f"\\\\{server_address(inv)}\\{inv.fortress.share}"


def _render(inv: Inventory, node: Node, template: str) -> str:
    """`template` with the node's context, exactly as `inv render` renders it for that node (its environment)."""
    ctx: dict[str, Any] = {**node_context(inv, node), "files": {}}
    try:
        text = environment().get_template(template).render(ctx)
    except jinja2.TemplateNotFound:
        raise ColabError(f"templates/{template} is missing; it renders the fortress client files") from None
    if not text.strip():
        kind = fortress_client(inv, node) or "the fortress server"
        raise ColabError(f"templates/{template} renders nothing for {node.name} ({kind})")
    return text


def launch_agent(inv: Inventory, node: Node) -> tuple[str, str]:
    """(label, plist text) of the macOS LaunchAgent that mounts fortress."""
    text = _render(inv, node, _AGENT_TEMPLATE)
    return str(plistlib.loads(text.encode())["Label"]), text


def ps_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ------------------------------------------------------------------------------------------- Linux


def _mount_entry(r: Runner, target: str) -> tuple[str, str] | None:
    entry = share_mounted_at(parse_mount_table(r.run("mount", check=False, mutating=False).stdout), target)
    return (entry.source, entry.fstype) if entry else None


def systemd_step(kind: str) -> Step:
    def check(r: Runner) -> str | None:
        if r.ok("test", "-d", "/run/systemd/system"):
            return None
        fix = (
            "enable it in /etc/wsl.conf ([boot] systemd=true), then run `wsl --shutdown` on Windows"
            if kind == "wsl"
            else "fortress mounts through systemd units"
        )
        raise ColabError(f"systemd is not running on {r.node}; {fix}")

    def act(r: Runner) -> None:
        note(r, "check: systemd is running (/run/systemd/system exists)")

    return Step("systemd running", check, act)


# Root checks the machine identity's files: present, not empty, root's, 0600, in a 0700 folder.
_IDENTITY = (
    'd=$1; [ "$(stat -c "%U %a" "$d" 2>/dev/null)" = "root 700" ] '
    '|| { echo "$d: not a root-only folder (root, 0700)" >&2; exit 1; }; '
    'for f in client-id client-secret; do [ -s "$d/$f" ] || { echo "$d/$f is missing or empty" >&2; exit 1; }; '
    '[ "$(stat -c "%U %a" "$d/$f")" = "root 600" ] '
    '|| { echo "$d/$f is not root-only (root, 0600)" >&2; exit 1; }; done'
)


def identity_fix(node: str) -> str:
    d = boot.IDENTITY_DIR
    return (
        f"create a machine identity for {node} in Infisical (Universal Auth, read access to "
        f"the password's folder), then on {node}: `sudo install -d -m 0700 {d}` and, pasting each value, "
        f"`sudo sh -c 'umask 077; cat > {d}/client-id'` and `… > {d}/client-secret` (docs/storage.md, Boot mounts)"
    )


def identity_step(sudo: bool) -> Step:
    """Read-only: the node's machine identity is where the boot unit reads it, root-only; cannot be fixed from here
    (the client secret is made in Infisical's web UI), so a problem stops with how to put it there."""

    def check(r: Runner) -> str | None:
        res = r.run(*as_root(sudo, "sh", "-c", _IDENTITY, "sh", boot.IDENTITY_DIR), check=False, mutating=False)
        if res.ok:
            return None
        raise ColabError(f"no machine identity on {r.node} ({res.last_line}); {identity_fix(r.node)}")

    def act(r: Runner) -> None:
        note(r, f"check: the machine identity is in {boot.IDENTITY_DIR}/client-id and client-secret (root, 0600)")

    return Step(f"machine identity in {boot.IDENTITY_DIR}", check, act)


def render_colab_file(inv: Inventory, node: Node, source: str) -> str:
    """A file chezmoi gives `node` under ~/.config/colab/ (`source`: e.g. "fortress/fortress.mount"), rendered."""
    return _render(inv, node, f"{_COLAB_TEMPLATES}/{source}.j2")


def boot_files(inv: Inventory, node: Node) -> list[tuple[str, str, str]]:
    """(installed path, content, mode) of the node's boot-mount files, rendered as `inv render` renders them."""
    return [(dest, render_colab_file(inv, node, source), mode) for source, dest, mode in boot.client_files(inv, node)]


def units(inv: Inventory, node: Node) -> dict[str, str]:
    """unit file name -> content of the boot-mount units in /etc/systemd/system (the mount, the password unit)."""
    return {
        dest.removeprefix(f"{UNIT_DIR}/"): text
        for dest, text, _ in boot_files(inv, node)
        if dest.startswith(f"{UNIT_DIR}/") and "/" not in dest.removeprefix(f"{UNIT_DIR}/")
    }


# Start the mount the way a boot does (it pulls in the password unit) and wait for it, at most $3 s; on time out,
# say what the password unit says (e.g. "waiting for the password: login: Infisical is not reachable …").
_START_AND_WAIT = (
    'systemctl start --no-block -- "$1" || exit 1; i=0; '
    'while [ "$i" -lt $(($3 * 2)) ]; do '
    '[ "$(systemctl show -p ActiveState --value -- "$1")" = active ] && exit 0; sleep 0.5; i=$((i + 1)); done; '
    'echo "fortress did not mount within $3 s: $(systemctl show -p StatusText --value -- "$2")" >&2; exit 1'
)
MOUNT_TIMEOUT = 90


def mount_start_argv(stem: str, sudo: bool, timeout: int = MOUNT_TIMEOUT) -> list[str]:
    return as_root(sudo, "sh", "-c", _START_AND_WAIT, "sh", f"{stem}.mount", boot.PASSWORD_UNIT, str(timeout))


def linux_steps(inv: Inventory, node: Node, kind: str, sudo: bool) -> list[Step]:
    target = inv.fortress_mount(node)
    stem = systemd_escape_path(target)
    source = f"//{server_address(inv)}/{inv.fortress.share}"

    def reload(r: Runner) -> None:
        r.run(*as_root(sudo, "systemctl", "daemon-reload"))

    out = [systemd_step(kind)]
    out += [file_step(dest, text, mode, sudo=sudo, after=reload) for dest, text, mode in boot_files(inv, node)]
    old = f"{UNIT_DIR}/{stem}.automount"

    def automount_check(r: Runner) -> str | None:
        return f"{old} (from before the boot mount) is there" if r.ok("test", "-e", old) else None

    def automount_act(r: Runner) -> None:
        r.run(*as_root(sudo, "sh", "-c", 'systemctl disable --now -- "$1" 2>/dev/null; rm -f -- "$2"', "sh",
                       f"{stem}.automount", old))  # fmt: skip
        reload(r)

    out.append(Step(f"no {stem}.automount", automount_check, automount_act))
    out.append(identity_step(sudo))

    def enabled_check(r: Runner) -> str | None:
        ok = r.ok("systemctl", "is-enabled", "--quiet", "--", f"{stem}.mount")
        return None if ok else f"{stem}.mount is not enabled (no mount at boot)"

    def enabled_act(r: Runner) -> None:
        r.run(*as_root(sudo, "systemctl", "enable", "--", f"{stem}.mount"))

    out.append(Step(f"{stem}.mount enabled at boot", enabled_check, enabled_act))

    def mounted_check(r: Runner) -> str | None:
        found = _mount_entry(r, target)
        if found is None:
            return f"fortress is not mounted at {target}"
        return None if found[0] == source else f"{target} is mounted from {found[0]}, wants {source}"

    def mounted_act(r: Runner) -> None:
        note(r, f"{boot.PASSWORD_UNIT} fetches the password on {r.node} (its machine identity); none passes here")
        res = r.run(*mount_start_argv(stem, sudo), check=False, timeout=MOUNT_TIMEOUT + 30)
        if not res.ok:
            raise ColabError(f"{res.last_line} (systemctl status {boot.PASSWORD_UNIT} {stem}.mount on {r.node})")

    out.append(Step(f"mounted {source} at {target}", mounted_check, mounted_act))
    return out


def linux_unmount_steps(inv: Inventory, node: Node, sudo: bool) -> list[Step]:
    """Unmount and disable the boot mount. Docker requires fortress (its drop-in), so it stops with it, and its
    next start (a reboot) mounts fortress again."""
    target = inv.fortress_mount(node)
    stem = systemd_escape_path(target)

    def check(r: Runner) -> str | None:
        if _mount_entry(r, target) is not None:
            return f"fortress is mounted at {target}"
        if r.ok("systemctl", "is-enabled", "--quiet", "--", f"{stem}.mount"):
            return f"{stem}.mount is enabled"
        return None

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "systemctl", "disable", "--now", "--", f"{stem}.mount"))

    return [Step(f"unmounted {target} (Docker stops with it)", check, act)]


# ----------------------------------------------------------------------------------------- Windows


def windows_map_script(inv: Inventory, node: Node) -> str:
    """PowerShell (one line, no secret): (re)map the drive, persistent, credential saved by Windows."""
    f, login = inv.fortress, inv.fortress_login(node)
    drive = ps_quote(f.mounts.windows)
    return (
        "$ErrorActionPreference = 'Stop'; try { "
        f"$pw = $env:{login.password_name}; "
        f"if (-not $pw) {{ throw '{login.password_name} did not reach Windows (WSLENV)' }}; "
        f"Get-SmbMapping -LocalPath {drive} -ErrorAction SilentlyContinue | Remove-SmbMapping -Force -UpdateProfile; "
        f"New-SmbMapping -LocalPath {drive} -RemotePath {ps_quote(unc(inv))} -UserName {ps_quote(login.user)} "
        "-Password $pw -Persistent $true -SaveCredentials | Out-Null "
        "} catch { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }"
    )


def windows_query_script(inv: Inventory) -> str:
    drive = ps_quote(inv.fortress.mounts.windows)
    return (
        f"$m = Get-SmbMapping -LocalPath {drive} -ErrorAction SilentlyContinue; "
        "if ($m) { '{0}|{1}' -f $m.Status, $m.RemotePath } else { 'none' }"
    )


def windows_unmap_script(inv: Inventory) -> str:
    drive = ps_quote(inv.fortress.mounts.windows)
    return f"Get-SmbMapping -LocalPath {drive} -ErrorAction SilentlyContinue | Remove-SmbMapping -Force -UpdateProfile"


def powershell(script: str) -> list[str]:
    return [POWERSHELL, *PS_FLAGS, script]


def windows_map_argv(inv: Inventory, node: Node) -> list[str]:
    name = inv.fortress_login(node).password_name
    return secrets.run_argv(
        inv, inv.fortress.password_path, ["env", f"WSLENV={name}/u", *powershell(windows_map_script(inv, node))]
    )


def windows_mapping(r: Runner, inv: Inventory) -> tuple[str, str] | None:
    """(status, remote path) of the drive's mapping on Windows, None when unmapped."""
    res = r.run(*powershell(windows_query_script(inv)), check=False, mutating=False, timeout=60)
    if not res.ok:
        raise ColabError(f"PowerShell failed on {r.node} ({res.last_line})")
    line = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "none"
    if line.strip() == "none":
        return None
    status, _, remote = line.strip().partition("|")
    return status, remote


def interop_step() -> Step:
    def check(r: Runner) -> str | None:
        if r.ok("test", "-x", POWERSHELL):
            return None
        raise ColabError(
            f"{POWERSHELL} is not reachable on {r.node}: Windows interop must be on in this WSL distribution "
            "(/etc/wsl.conf [interop] enabled=true) with C: mounted at /mnt/c"
        )

    def act(r: Runner) -> None:
        note(r, f"check: Windows interop works ({POWERSHELL} is executable)")

    return Step("windows interop", check, act)


def windows_steps(inv: Inventory, node: Node) -> list[Step]:
    drive, path = inv.fortress.mounts.windows, unc(inv)

    def check(r: Runner) -> str | None:
        found = windows_mapping(r, inv)
        if found is None:
            return f"{drive} is not mapped"
        status, remote = found
        if remote.lower() != path.lower():
            return f"{drive} is mapped to {remote}, wants {path}"
        return None if status == "OK" else f"{drive} is {status}"

    def act(r: Runner) -> None:
        name = inv.fortress_login(node).password_name
        note(r, f"the password reaches PowerShell in its environment only (WSLENV={name}/u)")
        r.run(*windows_map_argv(inv, node), timeout=120)

    return [interop_step(), Step(f"drive {drive} = {path} (persistent)", check, act)]


def windows_unmount_steps(inv: Inventory) -> list[Step]:
    drive = inv.fortress.mounts.windows

    def check(r: Runner) -> str | None:
        return None if windows_mapping(r, inv) is None else f"{drive} is mapped"

    def act(r: Runner) -> None:
        r.run(*powershell(windows_unmap_script(inv)), timeout=60)

    return [interop_step(), Step(f"drive {drive} unmapped", check, act)]


# ------------------------------------------------------------------------------------------- macOS

KEYCHAIN_PROTOCOL = "smb "  # SecProtocolType four-character code, with its space
TRUSTED_APPS = ("/usr/bin/security", "/System/Library/CoreServices/NetAuthAgent.app")


def keychain_check_script(inv: Inventory, node: Node) -> str:
    """Exit 0: the Keychain holds the Infisical password; 10: no item; 11: a different password."""
    name = inv.fortress_login(node).password_name
    return (
        f'[ -n "${{{name}:-}}" ] || {{ echo "{name} is empty" >&2; exit 3; }}; '
        f'cur=$(security find-internet-password -a "$1" -s "$2" -r "{KEYCHAIN_PROTOCOL}" -w 2>/dev/null) || exit 10; '
        f'[ "$cur" = "${name}" ] || exit 11'
    )


def keychain_store_script(inv: Inventory, node: Node) -> str:
    """`security -i` reads the command from stdin; printf is a shell builtin, so no argv holds the password."""
    name = inv.fortress_login(node).password_name
    trusted = " ".join(f"-T {app}" for app in TRUSTED_APPS)
    return (
        f'[ -n "${{{name}:-}}" ] || {{ echo "{name} is empty" >&2; exit 3; }}; '
        f'hex=$(printf %s "${name}" | od -An -tx1 | tr -d " \\n"); '
        f'printf \'add-internet-password -U -a "%s" -s "%s" -r "{KEYCHAIN_PROTOCOL}" -l "%s" {trusted} -X %s\\n\' '
        '"$1" "$2" "$3" "$hex" | security -i'
    )


def macos_steps(inv: Inventory, node: Node) -> list[Step]:
    f = inv.fortress
    server = server_address(inv)
    target = inv.fortress_mount(node)
    label, plist = launch_agent(inv, node)
    path = inv.fortress.password_path
    item = f"{f.share} ({inv.cluster.name})"
    user = inv.fortress_login(node).user  # the node's own Samba user

    def key_check(r: Runner) -> str | None:
        res = r.run(
            *secrets.run_argv(inv, path, ["sh", "-c", keychain_check_script(inv, node), "sh", user, server]),
            check=False,
            mutating=False,
        )
        if res.ok:
            return None
        if res.returncode in (10, 11):
            return "no Keychain item for the share" if res.returncode == 10 else "the Keychain holds another password"
        raise ColabError(f"cannot read the Keychain on {r.node} ({res.last_line})")

    def key_act(r: Runner) -> None:
        note(r, "the password goes to `security -i` on stdin (hex, -X), never in argv")
        argv = secrets.run_argv(inv, path, ["sh", "-c", keychain_store_script(inv, node), "sh", user, server, item])
        res = r.run(*argv, check=False)
        text = (res.stdout + res.stderr).lower()
        if "interaction is not allowed" in text or "keychain is locked" in text:
            raise ColabError(
                f"the login Keychain on {r.node} is locked; unlock it (`security unlock-keychain` in a terminal "
                "there, or log in at the screen) and run again"
            )
        if not res.ok or "returned" in text:  # `security -i` reports a failed command as "<cmd>: returned N"
            raise CommandError(r.node, r.history[-1], res)

    domain = "gui/$(id -u)"

    def bootout(r: Runner) -> None:
        r.run("sh", "-c", f'launchctl bootout "{domain}/$1" 2>/dev/null || true', "sh", label)

    def agent_check(r: Runner) -> str | None:
        ok = r.ok("sh", "-c", f'launchctl print "{domain}/$1" >/dev/null 2>&1', "sh", label)
        return None if ok else f"LaunchAgent {label} is not loaded"

    def agent_act(r: Runner) -> None:
        r.run("sh", "-c", f'launchctl bootstrap "{domain}" "$HOME/$1"', "sh", AGENT_PATH)

    def mounted_check(r: Runner) -> str | None:
        found = _mount_entry(r, target)
        return None if found else f"fortress is not mounted at {target}"

    def mounted_act(r: Runner) -> None:
        wait = (
            f'launchctl kickstart "{domain}/$1" || exit 1; i=0; '
            'while [ $i -lt 30 ]; do /sbin/mount | grep -q " on $2 (smbfs" && exit 0; sleep 1; i=$((i+1)); done; '
            'echo "fortress did not appear at $2 within 30 s" >&2; exit 1'
        )
        r.run("sh", "-c", wait, "sh", label, target, timeout=60)

    return [
        Step(f"keychain item smb://{user}@{server}", key_check, key_act),
        home_file_step(AGENT_PATH, plist, "644", after=bootout),
        Step(f"LaunchAgent {label} loaded", agent_check, agent_act),
        Step(f"mounted at {target}", mounted_check, mounted_act),
    ]


def macos_unmount_steps(inv: Inventory, node: Node) -> list[Step]:
    target = inv.fortress_mount(node)
    label, _ = launch_agent(inv, node)

    def check(r: Runner) -> str | None:
        if _mount_entry(r, target) is not None:
            return f"fortress is mounted at {target}"
        if r.ok("sh", "-c", 'launchctl print "gui/$(id -u)/$1" >/dev/null 2>&1', "sh", label):
            return f"LaunchAgent {label} is loaded (it would mount fortress again)"
        return None

    def act(r: Runner) -> None:
        r.run("sh", "-c", 'launchctl bootout "gui/$(id -u)/$1" 2>/dev/null || true', "sh", label)
        r.run("sh", "-c", '/sbin/mount | grep -q " on $1 (smbfs" || exit 0; diskutil unmount "$1"', "sh", target)

    return [Step(f"unmounted {target}", check, act)]


# -------------------------------------------------------------------------------------------- entry


def mount_steps(inv: Inventory, node: Node, sudo: bool) -> list[Step]:
    kind = client_kind(inv, node)
    if kind == "macos":
        return macos_steps(inv, node)
    steps = linux_steps(inv, node, kind, sudo)
    return steps + windows_steps(inv, node) if kind == "wsl" else steps


def unmount_steps(inv: Inventory, node: Node, sudo: bool) -> list[Step]:
    kind = client_kind(inv, node)
    if kind == "macos":
        return macos_unmount_steps(inv, node)
    steps = linux_unmount_steps(inv, node, sudo)
    return windows_unmount_steps(inv) + steps if kind == "wsl" else steps


def preflight(r: Runner, inv: Inventory, node: Node) -> None:
    """The node's user's password exists in Infisical (names only); raises MissingSecrets otherwise."""
    secrets.check_present(r, inv, inv.fortress.password_path, [inv.fortress_login(node).password_name])
