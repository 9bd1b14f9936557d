"""`inv fortress.share`: the server side of fortress, as steps on the inventory's fortress server.

In order: the fortress file system is mounted where the inventory says; the folders (docker/, data/,
cache/ …) exist, owned by the Samba user with mode 2775 (setgid: new files keep the group); the share
config is in smb.conf (see `samba`); smbd runs; what it serves is exactly our share; the Samba user's
password is the one in Infisical (`fortress.password_path` / `password_name`).

The password never passes through this process: `infisical run` puts it in the environment of a shell
on the node, which feeds it to `smbpasswd -s` on stdin (through `sudo` when needed, which passes stdin).
The check logs in over loopback with it (`smbclient` reads the password from $PASSWD), so a changed
password in Infisical is noticed and applied, and an unchanged one reports `ok`.
"""

from __future__ import annotations

from colab import secrets
from colab.errors import ColabError
from colab.inventory import Inventory
from colab.runner import Runner
from colab.steps import Step
from colab.storage import samba
from colab.storage.common import as_root, is_device_or_partition, note
from colab.storage.samba import SambaHost

FOLDER_MODE = "2775"


def _sudo_prefix(sudo: bool) -> str:
    return "sudo -n " if sudo else ""


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


# Prints "<owner> <group> <mode>" of $1 and "<primary group of $2>" on a second line.
_OWNERSHIP = 'stat -c "%U %G %a" "$1" 2>/dev/null || echo missing; id -gn "$2" 2>/dev/null || echo nouser'


def folder_step(inv: Inventory, folder: str, sudo: bool) -> Step:
    user = inv.fortress.user
    path = f"{inv.fortress.path}/{folder}"

    def check(r: Runner) -> str | None:
        out = r.run("sh", "-c", _OWNERSHIP, "sh", path, user, check=False, mutating=False).stdout.split("\n")
        have, group = [*out, "", ""][:2]
        if group.strip() == "nouser":
            raise ColabError(
                f"there is no Unix user {user!r} on {r.node}; create it (adduser {user}): Samba users need one"
            )
        if have.strip() == "missing":
            return f"{path} is missing"
        want = f"{user} {group.strip()} {FOLDER_MODE}"
        return None if have.strip() == want else f"{path} is `{have.strip()}`, wants `{want}`"

    def act(r: Runner) -> None:
        r.run(*as_root(sudo, "mkdir", "-p", path))
        r.run(*as_root(sudo, "chown", f"{user}:", path))  # `user:` = the user's login group
        r.run(*as_root(sudo, "chmod", FOLDER_MODE, path))

    return Step(f"folder {path}", check, act)


def _password_argv(inv: Inventory, script: str, *args: str) -> list[str]:
    return secrets.run_argv(inv, inv.fortress.password_path, ["sh", "-c", script, "sh", *args])


def login_script(inv: Inventory) -> str:
    """Logs in to the share over loopback with the Infisical password (smbclient reads $PASSWD)."""
    name = inv.fortress.password_name  # validated as an identifier by the inventory
    return (
        f'[ -n "${{{name}:-}}" ] || {{ echo "{name} is empty" >&2; exit 3; }}; '
        f'PASSWD="${name}"; export PASSWD; '
        'exec smbclient -p "$1" -U "$2" "//127.0.0.1/$3" -c exit'
    )


def set_script(inv: Inventory, sudo: bool) -> str:
    """Sets the Samba password from the Infisical one, typed twice on smbpasswd's stdin."""
    name = inv.fortress.password_name
    return (
        f'[ -n "${{{name}:-}}" ] || {{ echo "{name} is empty" >&2; exit 3; }}; '
        f'printf "%s\\n%s\\n" "${name}" "${name}" | {_sudo_prefix(sudo)}smbpasswd -c "$1" -s -a "$2"'
    )


def password_step(inv: Inventory, host: SambaHost, sudo: bool) -> Step:
    f = inv.fortress

    def check(r: Runner) -> str | None:
        res = r.run(
            *_password_argv(inv, login_script(inv), str(host.port), f.user, f.share), check=False, mutating=False
        )
        if res.ok:
            return None
        text = res.stdout + res.stderr
        if "NT_STATUS_LOGON_FAILURE" in text:
            return f"Samba user {f.user} does not log in with the Infisical password"
        if "smbclient" in text and ("not found" in text or res.returncode == 127):
            raise ColabError(f"smbclient is missing on {r.node}; install it (apt-get install smbclient)")
        last = (res.stderr.strip() or res.stdout.strip() or f"exit {res.returncode}").splitlines()[-1]
        raise ColabError(f"cannot log in to //127.0.0.1/{f.share} port {host.port} on {r.node} to check ({last})")

    def act(r: Runner) -> None:
        note(r, f"check: smbclient logs in to //127.0.0.1/{f.share} as {f.user} with $PASSWD from Infisical")
        r.run(*_password_argv(inv, set_script(inv, sudo), host.smb_conf, f.user))

    return Step(f"samba password of {f.user}", check, act)


def steps(inv: Inventory, host: SambaHost, sudo: bool) -> list[Step]:
    out = [mounted_step(inv, sudo)]
    out += [folder_step(inv, folder, sudo) for folder in inv.fortress.folders]
    out += [samba.include_step(inv, host, sudo), samba.include_line_step(host, sudo)]
    if host.systemd:
        out.append(samba.service_step(sudo))
    out += [samba.effective_step(inv, host, sudo), password_step(inv, host, sudo)]
    return out


def preflight(r: Runner, inv: Inventory) -> None:
    """Before changing anything: the password exists in Infisical (names only; raises MissingSecrets)."""
    secrets.check_present(r, inv, inv.fortress.password_path, [inv.fortress.password_name])
