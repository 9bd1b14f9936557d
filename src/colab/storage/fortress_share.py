"""`inv fortress.share`: the server side of fortress, as steps on the inventory's fortress server.

In order: the file system is mounted at boot by its UUID (a mount unit this task writes, having found the UUID
on the node); the fortress file system is mounted where the inventory says; the share's Unix group
(`fortress.group`) exists and every Samba user of `fortress.users` is a Unix user in it (made without a
login when missing); the folders (docker/, data/, cache/ …) belong to that group with mode 2775 (setgid: new
files keep the group); smbd and Docker have drop-ins that require the mount (the files chezmoi gives the
server too); the share config is in smb.conf (see `samba`: `valid users = @group`, `force group`);
smbd runs; what it serves is exactly our share; each user's Samba password is the one in Infisical
(`fortress.password_path` / the name `fortress.users` gives it); Samba users of the group that the inventory
no longer lists are removed, after saying so.

The passwords never pass through this process: `infisical run` puts them in the environment of a shell on
the node, which feeds one to `smbpasswd -s` on stdin (through `sudo` when needed, which passes stdin). The
check logs in over loopback with it (`smbclient` reads the password from $PASSWD), so a changed password in
Infisical is noticed and applied, and an unchanged one reports `ok`.
"""

from __future__ import annotations

from colab import secrets
from colab.errors import ColabError
from colab.file_steps import file_step, write_file
from colab.inventory import Inventory
from colab.privilege import as_root, sudo_prefix
from colab.runner import Runner
from colab.steps import Step, note, probe
from colab.storage import boot, mounts, samba
from colab.storage.mount_table import is_device_or_partition
from colab.storage.samba import SambaHost

FOLDER_MODE = "2775"
NOLOGIN = "/usr/sbin/nologin"
USER_COMMENT = "fortress Samba user (inv fortress.share)"


def mounted_step(inv: Inventory, sudo: bool) -> Step:
    """Read-only: the share path is the fortress device's file system (else we would share the root disk)."""
    f = inv.fortress

    def check(r: Runner) -> str | None:
        res = r.run("findmnt", "-rn", "-o", "SOURCE,FSTYPE", "--mountpoint", f.path, check=False, mutating=False)
        source, _, fstype = res.stdout.strip().partition(" ")
        if res.ok and is_device_or_partition(source, f.device) and fstype == f.filesystem:
            return None
        found = f"{source} ({fstype})" if res.ok and source else "nothing mounted there"
        raise ColabError(
            f"{f.path} on {r.node} is not the {f.filesystem} file system of {f.device} ({found}); "
            f"mount it first (fortress.device / fortress.filesystem / fortress.path in the inventory)"
        )

    def act(r: Runner) -> None:
        note(r, f"check: {f.path} is the {f.filesystem} file system of {f.device} (findmnt)")

    return Step(f"{f.path} is {f.device}", check, act)


def boot_mount_step(inv: Inventory, sudo: bool) -> Step:
    """The mount unit that mounts fortress at boot, by its file system's UUID (found on the node with lsblk: a
    kernel name such as mmcblk0 can change between boots), enabled and started."""
    f = inv.fortress
    unit = boot.mount_unit(f.path)
    path = f"{boot.UNIT_DIR}/{unit}"
    found: dict[str, str] = {}

    def uuid(r: Runner) -> str:
        res = r.run(*as_root(sudo, "lsblk", "-rnpo", "PATH,FSTYPE,UUID", f.device), check=False, mutating=False)
        picked = boot.pick_uuid(res.stdout, f.filesystem) if res.ok else None
        if picked is None:
            seen = "; ".join(" ".join(line.split()) for line in res.stdout.splitlines()) or res.stderr.strip()
            raise ColabError(
                f"{f.device} on {r.node} holds no single {f.filesystem} file system with a UUID "
                f"(lsblk: {seen or 'nothing'}); check fortress.device and fortress.filesystem in the inventory"
            )
        found["uuid"] = picked[1]
        return picked[1]

    def check(r: Runner) -> str | None:
        want = boot.server_unit(inv, uuid(r))
        res = r.run("cat", path, check=False, mutating=False)
        if not res.ok:
            return f"{path} is missing"
        if res.stdout != want:
            return f"{path} differs from the inventory's (UUID {found['uuid']})"
        if not r.ok("systemctl", "is-enabled", "--quiet", "--", unit):
            return f"{unit} is not enabled"
        return None if r.ok("systemctl", "is-active", "--quiet", "--", unit) else f"{unit} is not mounted"

    def act(r: Runner) -> None:
        placeholder = f"<UUID of the {f.filesystem} file system on {f.device}, found with lsblk>"
        text = boot.server_unit(inv, placeholder if r.dry_run else found.get("uuid") or uuid(r))
        write_file(r, path, text, "644", sudo=sudo)
        r.run(*as_root(sudo, "systemctl", "daemon-reload"))
        r.run(*as_root(sudo, "systemctl", "enable", "--now", "--", unit))

    return Step(f"{unit} mounts {f.device} by UUID at boot", check, act)


def dropin_steps(inv: Inventory, sudo: bool) -> list[Step]:
    """smbd's and Docker's drop-ins requiring the mount: the files `inv render` gives the server through chezmoi."""
    node = inv.node(inv.fortress.server)

    def reload(r: Runner) -> None:
        r.run(*as_root(sudo, "systemctl", "daemon-reload"))

    return [
        file_step(dest, mounts.render_colab_file(inv, node, source), mode, sudo=sudo, after=reload)
        for source, dest, mode in boot.server_files()
    ]


# ------------------------------------------------------------------------------------ group and users


def group_step(inv: Inventory, sudo: bool) -> Step:
    group = inv.fortress.group

    def check(r: Runner) -> str | None:
        return None if r.ok("getent", "group", group) else f"there is no group {group}"

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "groupadd", group))

    return Step(f"group {group}", check, act)


# $1 user, $2 group: make the user (no home, no login) when missing, then add it to the group.
_JOIN = (
    f'id -u "$1" >/dev/null 2>&1 || useradd --no-create-home --shell {NOLOGIN} --comment "$3" "$1" || exit 1; '
    'usermod -a -G "$2" "$1"'
)


def unix_user_step(inv: Inventory, user: str, sudo: bool) -> Step:
    """A Samba user needs a Unix user; each of ours is in the share's group (`valid users = @group`)."""
    group = inv.fortress.group

    def check(r: Runner) -> str | None:
        res = r.run("id", "-nG", user, check=False, mutating=False)
        if not res.ok:
            return f"there is no Unix user {user}"
        return None if group in res.stdout.split() else f"{user} is not in group {group}"

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "sh", "-c", _JOIN, "sh", user, group, USER_COMMENT))

    return Step(f"Unix user {user} in group {group}", check, act)


# Prints "<group> <mode>" of $1, or "missing".
_OWNERSHIP = 'stat -c "%G %a" "$1" 2>/dev/null || echo missing'


def folder_step(inv: Inventory, folder: str, sudo: bool) -> Step:
    """The folder belongs to the share's group, group-writable and setgid; its owner is left as it is."""
    group = inv.fortress.group
    path = f"{inv.fortress.path}/{folder}"

    def check(r: Runner) -> str | None:
        have = probe(r, _OWNERSHIP, path).stdout.strip()
        if have == "missing":
            return f"{path} is missing"
        want = f"{group} {FOLDER_MODE}"
        return None if have == want else f"{path} is `{have}`, wants `{want}`"

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "mkdir", "-p", path))
        r.run(*as_root(sudo, "chgrp", group, path))
        r.run(*as_root(sudo, "chmod", FOLDER_MODE, path))

    return Step(f"folder {path}", check, act)


# ---------------------------------------------------------------------------------------- passwords


def _password_argv(inv: Inventory, script: str, *args: str) -> list[str]:
    return secrets.run_argv(inv, inv.fortress.password_path, ["sh", "-c", script, "sh", *args])


def login_script(name: str) -> str:
    """Logs in to the share over loopback with the password in $name (smbclient reads $PASSWD)."""
    return (  # `name` is validated as an identifier by the inventory
        f'[ -n "${{{name}:-}}" ] || {{ echo "{name} is empty" >&2; exit 3; }}; '
        f'PASSWD="${name}"; export PASSWD; '
        'exec smbclient -p "$1" -U "$2" "//127.0.0.1/$3" -c exit'
    )


def set_script(name: str, sudo: bool) -> str:
    """Sets the Samba password from $name, typed twice on smbpasswd's stdin, and enables the account."""
    return (
        f'[ -n "${{{name}:-}}" ] || {{ echo "{name} is empty" >&2; exit 3; }}; '
        f'printf "%s\\n%s\\n" "${name}" "${name}" | {sudo_prefix(sudo)}smbpasswd -c "$1" -s -a "$2" && '
        f'{sudo_prefix(sudo)}smbpasswd -c "$1" -e "$2" </dev/null >/dev/null'
    )


def password_step(inv: Inventory, user: str, host: SambaHost, sudo: bool) -> Step:
    f = inv.fortress
    name = f.users[user]

    def check(r: Runner) -> str | None:
        argv = _password_argv(inv, login_script(name), str(host.port), user, f.share)
        res = r.run(*argv, check=False, mutating=False)
        if res.ok:
            return None
        text = res.stdout + res.stderr
        for status in ("NT_STATUS_LOGON_FAILURE", "NT_STATUS_ACCOUNT_DISABLED"):
            if status in text:
                return f"Samba user {user} does not log in with the Infisical password ({status})"
        if "smbclient" in text and ("not found" in text or res.returncode == 127):
            raise ColabError(f"smbclient is missing on {r.node}; install it (apt-get install smbclient)")
        raise ColabError(
            f"cannot log in to //127.0.0.1/{f.share} port {host.port} as {user} on {r.node} ({res.last_line})"
        )

    def act(r: Runner) -> None:
        note(r, f"check: smbclient logs in to //127.0.0.1/{f.share} as {user} with $PASSWD from Infisical ({name})")
        r.run(*_password_argv(inv, set_script(name, sudo), host.smb_conf, user))

    return Step(f"samba password of {user}", check, act)


# ------------------------------------------------------------------------------------------ removal


def group_members(text: str) -> list[str]:
    """The members of `getent group` output (`name:x:gid:a,b`)."""
    fields = text.strip().split(":")
    return [m for m in fields[3].split(",") if m] if len(fields) >= 4 else []


def samba_users(text: str) -> list[str]:
    """The user names of `pdbedit -L` output (`name:uid:full name`, one a line)."""
    return [line.split(":", 1)[0] for line in text.splitlines() if ":" in line]


def removal_step(inv: Inventory, host: SambaHost, sudo: bool) -> Step:
    """Samba users in the share's group that `fortress.users` no longer lists lose their Samba account and
    their place in the group. Only those: a Samba user outside the group is another share's business, and a
    group member without a Samba account is a local user. Unix accounts stay (`userdel` is the owner's call)."""
    f = inv.fortress
    stale: list[str] = []

    def check(r: Runner) -> str | None:
        members = group_members(r.run("getent", "group", f.group, check=False, mutating=False).stdout)
        res = r.run(*as_root(sudo, "pdbedit", "-s", host.smb_conf, "-L"), check=False, mutating=False)
        if not res.ok:
            raise ColabError(f"cannot list the Samba users on {r.node} (pdbedit -L: {res.last_line})")
        stale[:] = sorted(set(members) & set(samba_users(res.stdout)) - set(f.users))
        if not stale:
            return None
        return f"removed Samba user(s) {', '.join(stale)}: in group {f.group}, no longer in fortress.users"

    def act(r: Runner) -> None:
        note(r, f"check: Samba users (pdbedit -L) in group {f.group} that fortress.users does not list are removed:")
        note(r, f"  smbpasswd -x NAME; gpasswd -d NAME {f.group} (their Unix accounts stay)")
        for user in stale:
            r.console.print(
                f"fortress.share: removing Samba user {user} (in group {f.group}, no longer in fortress.users); "
                f"the Unix account stays (`userdel {user}` to remove it)",
                markup=False,
                highlight=False,
            )
            r.run(*as_root(sudo, "smbpasswd", "-c", host.smb_conf, "-x", user))
            r.run(*as_root(sudo, "gpasswd", "-d", user, f.group))

    return Step(f"no other Samba users in group {f.group}", check, act)


# -------------------------------------------------------------------------------------------- steps


def steps(inv: Inventory, host: SambaHost, sudo: bool) -> list[Step]:
    users = list(inv.fortress.users)
    out = [boot_mount_step(inv, sudo)] if host.systemd else []
    out += [mounted_step(inv, sudo), group_step(inv, sudo)]
    out += [unix_user_step(inv, user, sudo) for user in users]
    out += [folder_step(inv, folder, sudo) for folder in inv.fortress.folders]
    if host.systemd:
        out += dropin_steps(inv, sudo)
    out += [samba.include_step(inv, host, sudo), samba.include_line_step(host, sudo)]
    if host.systemd:
        out.append(samba.service_step(sudo))
    out.append(samba.effective_step(inv, host, sudo))
    out += [password_step(inv, user, host, sudo) for user in users]
    out.append(removal_step(inv, host, sudo))
    return out


def preflight(r: Runner, inv: Inventory) -> None:
    """Before changing anything: every user's password exists in Infisical (names only; raises MissingSecrets)."""
    secrets.check_present(r, inv, inv.fortress.password_path, list(inv.fortress.users.values()))
