"""`inv fortress.mount` / `fortress.unmount` on a client node, by its OS.

Linux (debian nodes, and the Linux side of WSL nodes): the systemd mount + automount units rendered from
`templates/` with the node's own facts (the same templates, so the same bytes, that `inv render` gives the
node through chezmoi, WSL nodes included) go to /etc/systemd/system; the automount is enabled; the mount
is started with the password in PASSWD: `infisical run` gives it to a shell on the node, which pipes it
(stdin, through `sudo`) to a root shell that reads it into PASSWD, hands it to systemd with
`systemctl import-environment PASSWD` (a D-Bus call: the value is in no argv), starts the mount unit
(systemd runs mount.cifs with its environment, and mount.cifs reads PASSWD), then
`systemctl unset-environment PASSWD`. The automount never unmounts on its
own (TimeoutIdleSec=0), because no password would be there for a later remount.

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
import shlex
from typing import Any

import jinja2

from colab import render, secrets
from colab.errors import ColabError
from colab.inventory import Inventory, Node
from colab.runner import CommandError, Runner
from colab.steps import Step
from colab.storage.common import (
    as_root,
    home_file,
    note,
    parse_mount_table,
    root_file,
    share_mounted_at,
)

UNIT_DIR = "/etc/systemd/system"
POWERSHELL = "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe"
PS_FLAGS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command")
_FORTRESS_TEMPLATES = "chezmoi/.nodes/{node}/dot_config/colab/fortress"
_AGENT_TEMPLATE = "chezmoi/.nodes/{node}/Library/LaunchAgents/colab.fortress.plist.j2"
AGENT_PATH = "Library/LaunchAgents/colab.fortress.plist"  # under $HOME, where render puts it too


# ------------------------------------------------------------------------------------ what and where


def client_kind(inv: Inventory, node: Node) -> str:
    """ "systemd" (Debian), "wsl" (Linux side by systemd + Windows drive), "macos"; the server is refused."""
    kind = render.fortress_client(inv, node)
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


def _environment() -> jinja2.Environment:
    """The same Jinja set-up `inv render` uses, so a template renders here exactly as it does there."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(render.TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(render.FILTERS)
    return env


def _render(inv: Inventory, node: Node, template: str) -> str:
    """`template` with the node's context, exactly as `inv render` renders it for that node."""
    ctx: dict[str, Any] = {**render.node_context(inv, node), "files": {}}
    try:
        text = _environment().get_template(template).render(ctx)
    except jinja2.TemplateNotFound:
        raise ColabError(f"templates/{template} is missing; it renders the fortress client files") from None
    if not text.strip():
        kind = render.fortress_client(inv, node) or "the fortress server"
        raise ColabError(f"templates/{template} renders nothing for {node.name} ({kind})")
    return text


def units(inv: Inventory, node: Node) -> dict[str, str]:
    """unit file name -> content: the mount and automount units for `node`'s fortress mount point.

    Rendered from templates/ with the node's facts, as `inv render` gives them to chezmoi: WSL nodes get the
    same units as Debian clients, since their Linux side mounts the share the same way.
    """
    stem = render.systemd_escape_path(inv.fortress_mount(node))
    return {
        f"{stem}.mount": _render(inv, node, f"{_FORTRESS_TEMPLATES}/fortress.mount.j2"),
        f"{stem}.automount": _render(inv, node, f"{_FORTRESS_TEMPLATES}/fortress.automount.j2"),
    }


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


def linux_mount_inner(stem: str) -> str:
    """Root shell: PASSWD from stdin, lent to systemd only while the mount unit starts."""
    return (
        'IFS= read -r PASSWD || exit 97; [ -n "$PASSWD" ] || exit 97; export PASSWD; '
        "systemctl import-environment PASSWD || exit 1; "
        f"systemctl start {shlex.quote(stem + '.mount')}; rc=$?; "  # the stem may hold \x20 (a space)
        "systemctl unset-environment PASSWD; exit $rc"
    )


def linux_mount_argv(inv: Inventory, node: Node, stem: str, sudo: bool) -> list[str]:
    name = inv.fortress_login(node).password_name
    outer = (
        f'[ -n "${{{name}:-}}" ] || {{ echo "{name} is empty" >&2; exit 3; }}; '
        f'printf "%s\\n" "${name}" | {"sudo -n " if sudo else ""}sh -c "$1"'
    )
    return secrets.run_argv(inv, inv.fortress.password_path, ["sh", "-c", outer, "sh", linux_mount_inner(stem)])


def linux_steps(inv: Inventory, node: Node, kind: str, sudo: bool) -> list[Step]:
    target = inv.fortress_mount(node)
    stem = render.systemd_escape_path(target)
    source = f"//{server_address(inv)}/{inv.fortress.share}"

    def reload(r: Runner) -> None:
        r.run(*as_root(sudo, "systemctl", "daemon-reload"))

    out = [systemd_step(kind)]
    out += [
        root_file(f"{UNIT_DIR}/{name}", text, "644", sudo=sudo, after=reload) for name, text in units(inv, node).items()
    ]

    def automount_check(r: Runner) -> str | None:
        if not r.ok("systemctl", "is-enabled", "--quiet", f"{stem}.automount"):
            return f"{stem}.automount is not enabled"
        return (
            None
            if r.ok("systemctl", "is-active", "--quiet", f"{stem}.automount")
            else f"{stem}.automount is not active"
        )

    def automount_act(r: Runner) -> None:
        r.run(*as_root(sudo, "systemctl", "enable", "--now", f"{stem}.automount"))

    out.append(Step(f"{stem}.automount enabled", automount_check, automount_act))

    def mounted_check(r: Runner) -> str | None:
        found = _mount_entry(r, target)
        if found is None:
            return f"fortress is not mounted at {target}"
        return None if found[0] == source else f"{target} is mounted from {found[0]}, wants {source}"

    def mounted_act(r: Runner) -> None:
        note(r, f"{stem}.mount gets PASSWD from Infisical ({inv.fortress.password_path}) on stdin, never argv")
        r.run(*linux_mount_argv(inv, node, stem, sudo), timeout=120)

    out.append(Step(f"mounted {source} at {target}", mounted_check, mounted_act))
    return out


def linux_unmount_steps(inv: Inventory, node: Node, sudo: bool) -> list[Step]:
    target = inv.fortress_mount(node)
    stem = render.systemd_escape_path(target)

    def check(r: Runner) -> str | None:
        if _mount_entry(r, target) is not None:
            return f"fortress is mounted at {target}"
        if r.ok("systemctl", "is-active", "--quiet", f"{stem}.automount"):
            return f"{stem}.automount is active"
        return None

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "systemctl", "stop", f"{stem}.automount", f"{stem}.mount"))

    return [Step(f"unmounted {target}", check, act)]


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
        last = (res.stderr.strip() or f"exit {res.returncode}").splitlines()[-1]
        raise ColabError(f"PowerShell failed on {r.node} ({last})")
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
        last = (res.stderr.strip() or f"exit {res.returncode}").splitlines()[-1]
        raise ColabError(f"cannot read the Keychain on {r.node} ({last})")

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
        home_file(AGENT_PATH, plist, "644", after=bootout),
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
