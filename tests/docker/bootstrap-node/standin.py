#!/usr/bin/env python3
"""Stand-ins for tailscale, systemctl, mount, apt-get and docker in the bootstrap test node.

Called by the name of the link. Each call appends {"cmd", "argv", "uid", "env"} (env: the names only) to
/var/log/colab-standins/calls.jsonl. State lives in /var/lib/colab-standins. Expected secrets are known
only by their sha256 (/etc/colab-test/*.sha256): a stand-in checks what it was given and records
whether it matched, never the value. systemctl's `start` of the fortress mount plays the boot unit: it
checks the node's machine identity (root-only, the test's secret) and puts the share in the mount table.
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

STATE = pathlib.Path("/var/lib/colab-standins")
LOG = pathlib.Path("/var/log/colab-standins/calls.jsonl")
TEST = pathlib.Path("/etc/colab-test")


def log(cmd: str, argv: list[str], **extra: object) -> None:
    entry = {"cmd": cmd, "argv": argv, "uid": os.getuid(), "env": sorted(os.environ), **extra}
    with LOG.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def matches(value: str, name: str) -> bool:
    want = (TEST / f"{name}.sha256").read_text().strip()
    return hashlib.sha256(value.encode()).hexdigest() == want


def flag(*parts: str) -> pathlib.Path:
    return STATE.joinpath(*parts)


def set_flag(path: pathlib.Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ------------------------------------------------------------------------------------------ tailscale


def tailscale(argv: list[str]) -> int:
    ip = flag("tailscale-ip")
    if argv[:2] == ["ip", "-4"]:
        log("tailscale", argv)
        if ip.exists():
            print(ip.read_text().strip())
            return 0
        print("no current Tailscale IPs; state: NeedsLogin", file=sys.stderr)
        return 1
    if argv[:1] == ["up"]:
        if os.getuid() != 0:
            log("tailscale", argv)
            print("Access denied: prefs write access denied", file=sys.stderr)
            return 1
        key = ""
        for arg in argv[1:]:
            if arg.startswith("--auth-key=file:"):
                with open(arg.split(":", 1)[1], encoding="utf-8") as fh:  # the CLI's os.ReadFile
                    key = fh.read().strip()
        ok = bool(key) and matches(key, "authkey")
        log("tailscale", argv, key_ok=ok)
        if not ok:
            print("backend error: invalid key: unable to validate API key", file=sys.stderr)
            return 1
        set_flag(ip, (TEST / "mesh-ip").read_text())
        return 0
    log("tailscale", argv)
    print(f"tailscale stand-in: unsupported {argv}", file=sys.stderr)
    return 2


# ------------------------------------------------------------------------------------------ systemctl


def unit_value(unit: str, key: str) -> str:
    text = pathlib.Path("/etc/systemd/system", unit).read_text()
    for line in text.splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1].strip()
    return ""


def identity_ok() -> bool:
    """What the boot unit would log in with: the machine identity, root-only, its secret the test's."""
    folder = pathlib.Path("/etc/colab/infisical")
    try:
        modes = [(p.stat().st_uid, p.stat().st_mode & 0o777) for p in (folder, folder / "client-secret")]
        secret = (folder / "client-secret").read_text().strip()
    except OSError:
        return False
    return modes == [(0, 0o700), (0, 0o600)] and matches(secret, "identity")


def systemctl(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    verb, units = (args[0], args[1:]) if args else ("", [])
    extra: dict[str, object] = {}
    code = 0
    if verb in ("is-enabled", "is-active"):
        kind = "enabled" if verb == "is-enabled" else "active"
        code = 0 if all(flag(kind, u).exists() for u in units) else 3
    elif verb == "show":  # `show -p NAME --value -- UNIT`
        prop, unit = units[1], units[-1]
        print(("active" if flag("active", unit).exists() else "inactive") if prop == "ActiveState" else "")
    elif verb == "enable":
        for u in units:
            set_flag(flag("enabled", u))
            if "--now" in argv:
                set_flag(flag("active", u))
    elif verb == "daemon-reload":
        pass
    elif verb == "start":
        for u in units:
            if u.endswith(".mount"):
                # the mount pulls in the boot unit, which logs in to Infisical with the machine identity as root,
                # then mount.cifs mounts the share: here the identity is checked and the share "mounted"
                ok = os.getuid() == 0 and identity_ok()
                extra["identity_ok"] = ok
                if not ok:
                    code = 1
                    continue
                where = unit_value(u, "Where")
                set_flag(flag("mounted", u), f"{unit_value(u, 'What')} {where}")
                for folder in ("docker", "data", "cache"):
                    path = pathlib.Path(where, folder)
                    path.mkdir(parents=True, exist_ok=True)
                    shutil.chown(path, "crtr", "crtr")
            set_flag(flag("active", u))
    else:
        code = 2
    log("systemctl", argv, **extra)
    return code


# ---------------------------------------------------------------------------------------------- mount


def mount(argv: list[str]) -> int:
    if argv:
        log("mount", argv)
        return subprocess.call(["/usr/bin/mount", *argv])
    sys.stdout.write(subprocess.run(["/usr/bin/mount"], capture_output=True, text=True, check=False).stdout)
    mounted = flag("mounted")
    if mounted.is_dir():
        for entry in sorted(mounted.iterdir()):
            what, where = entry.read_text().split()
            print(f"{what} on {where} type cifs (rw,relatime,vers=3.1.1,cache=strict,username=crtr,uid=1000)")
    return 0


# -------------------------------------------------------------------------------------- apt-get, docker


def apt_get(argv: list[str]) -> int:
    log("apt-get", argv)
    if os.getuid() != 0:
        print("E: Could not open lock file - open (13: Permission denied)", file=sys.stderr)
        return 100
    if "install" in argv and "docker.io" in argv:
        link = pathlib.Path("/usr/local/bin/docker")
        if not link.exists():
            link.symlink_to("/opt/colab-standins/standin.py")
        subprocess.run(["groupadd", "-f", "docker"], check=True)
    return 0


def docker(argv: list[str]) -> int:
    log("docker", argv)
    if argv[:2] == ["compose", "version"]:
        print("Docker Compose version 2.26.1")
        return 0
    if argv[:1] in (["info"], ["version"]):
        if not flag("active", "docker").exists():
            print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", file=sys.stderr)
            return 1
        print("26.1.5")
        return 0
    print(f"docker stand-in: unsupported {argv}", file=sys.stderr)
    return 2


COMMANDS = {"tailscale": tailscale, "systemctl": systemctl, "mount": mount, "apt-get": apt_get, "docker": docker}

if __name__ == "__main__":
    sys.exit(COMMANDS[os.path.basename(sys.argv[0])](sys.argv[1:]))
