"""The root-owned install the backup cron runs: /opt/colab (issue 12 #5).

Cron runs the backups as root. Root must not run code that anyone else can change: not the node user's
checkout (that user, and whatever can push to what the node pulls, could change it), not its editable
virtualenv. So the backup node holds a root-owned copy of the project at one commit, with its own virtualenv:

    /opt/colab/current -> releases/<commit>      what /etc/cron.d/colab-backup runs (scripts/backup-cron)
    /opt/colab/releases/<commit>/                `git archive <commit>` of the checkout `inv bootstrap` runs
                                                 from, root:root, writable by root only
    /opt/colab/releases/<commit>/.venv/          `python3 scripts/venv` as root: exactly its uv.lock
    /opt/colab/releases/<commit>/.colab-release  the commit, written last: a release without it is unfinished

`inv bootstrap --node <backup node> --steps backup` makes and updates it: the commit is the one checked out
where bootstrap runs (the operator's machine, whose checkout they trust), its archive travels to the node on
stdin, and the node's own checkout is never read as root. A new commit is built beside the current one and
switched to with one rename of the `current` link, so a failed update leaves the previous install running;
the previous release stays (a backup may still run from it), older ones go. The backup runs the inventory of
the installed commit: commit a change to cluster.toml and run the step again for root's backups to see it.
scripts/backup-cron refuses to start when anything it would run or import can be changed by someone other
than root; its `check` mode is this step's final test.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from colab.errors import ColabError, last_line

ROOT = "/opt/colab"
CURRENT = "current"
RELEASES = "releases"
STAMP = ".colab-release"
CRON = "scripts/backup-cron"


def cron_script(root: str = ROOT) -> str:
    """What the cron lines run."""
    return f"{root}/{CURRENT}/{CRON}"


# $1 the install root, $2 the commit. Prints why the install is not that commit, complete and root's alone;
# nothing when it is. Run as root. backup-cron's own check covers everything it runs but itself: so the script
# and the folders on the way to it are checked here first, before it is run.
CHECK = (
    'root=$1 c=$2; cur=$(readlink "$root/current" 2>/dev/null) || { echo "nothing installed at $root"; exit 0; }; '
    'have=$(cat "$root/current/.colab-release" 2>/dev/null || true); '
    'if [ "$have" != "$c" ]; then echo "$root/current is ${have:-an unfinished install ($cur)}, not $c"; exit 0; fi; '
    "s=$root/releases/$c/scripts/backup-cron; p=$s; set --; "
    'while [ "$p" != / ]; do set -- "$@" "$p"; p=$(dirname "$p"); done; '
    'bad=$(find "$@" -maxdepth 0 \\( ! -user 0 -o \\( -perm -0002 ! -perm -1000 \\) '
    "-o \\( -perm -0020 ! -group 0 \\) \\) -print -quit); "
    'if [ -n "$bad" ]; then echo "$bad can be changed by someone other than root"; exit 0; fi; '
    'why=$("$s" check 2>&1) || { echo "$why" | tail -n 1; exit 0; }; '
    'exec python3 "$root/current/scripts/venv" --check --venv "$root/releases/$c/.venv"'
)

# $1 root, $2 commit; stdin: the tar archive. Unpacks it as releases/<commit>, root's alone. Reinstalling the
# commit `current` points at (a repair) first removes the link: cron then finds no install rather than half of one.
UNPACK = (
    'set -eu; umask 022; root=$1; c=$2; rel=$root/releases; install -d -m 0755 -o 0 -g 0 "$root" "$rel"; '
    'if [ "$(readlink "$root/current" 2>/dev/null || true)" = "releases/$c" ]; then rm -f "$root/current"; fi; '
    'rm -rf "$rel/.$c.tmp" "$rel/$c"; mkdir -m 0700 "$rel/.$c.tmp"; '
    'tar -x --no-same-owner --no-same-permissions -f - -C "$rel/.$c.tmp"; '
    'chown -R 0:0 "$rel/.$c.tmp"; chmod -R u+rwX,go-w,go+rX "$rel/.$c.tmp"; mv "$rel/.$c.tmp" "$rel/$c"'
)

# $1 root, $2 commit. Marks the release complete, points `current` at it (one rename), and removes the releases
# but this one and the one `current` pointed at before.
ACTIVATE = (
    'set -eu; root=$1; c=$2; rel=$root/releases; printf "%s\\n" "$c" > "$rel/$c/.colab-release"; '
    'prev=$(readlink "$root/current" 2>/dev/null || true); prev=${prev##*/}; '
    'ln -sfn "releases/$c" "$root/.current.tmp"; mv -Tf "$root/.current.tmp" "$root/current"; '
    'for d in "$rel"/* "$rel"/.*.tmp; do [ -e "$d" ] || continue; '
    'case ${d##*/} in "$c" | "$prev") ;; *) rm -rf "$d" ;; esac; done'
)


def head_commit(repo: Path) -> str:
    """The commit checked out in `repo` (the checkout bootstrap runs from)."""
    res = _git(repo, "rev-parse", "--verify", "HEAD^{commit}")
    commit = res.stdout.decode().strip()
    if res.returncode != 0 or len(commit) not in (40, 64):
        raise ColabError(
            f"the root-owned install is made from a git commit, and {repo} is not a git checkout with one; run "
            "`inv bootstrap` from a clone of the project"
        )
    return commit


def archive_argv(repo: Path, commit: str) -> list[str]:
    # tar.umask: files 0644 and folders 0755 in the archive (git's default leaves them group-writable)
    return ["git", "-C", str(repo), "-c", "tar.umask=0022", "archive", "--format=tar", commit]


def archive(repo: Path, commit: str) -> bytes:
    """The tree of `commit` as a tar archive (what is committed, not the working tree)."""
    res = _git(repo, *archive_argv(repo, commit)[3:])
    if res.returncode != 0:
        last = last_line(res.stderr.decode(errors="replace"), "", res.returncode)  # stdout: the archive's bytes
        raise ColabError(f"git archive {commit} in {repo} failed: {last}")
    return res.stdout


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, stdin=subprocess.DEVNULL, timeout=300, check=False
        )
    except FileNotFoundError:
        raise ColabError("git is not installed here; the root-owned install is made from a git commit") from None
