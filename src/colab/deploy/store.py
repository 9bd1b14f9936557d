"""The deployments of a service, recorded on its target: what ran, so that it can be brought back.

Beside the service's folder, in `Target.state_dir` (`<fortress>/docker/.<service>.colab/`):

    deployments/<n>.json   one deployment: its files (mode and content), the image id each Compose service
                           ran, when, by whom and how (deploy, pull, adopted)
    current                which deployment runs now (id, since, by, how: deploy, pull, rollback from #n)
    lock, holder           `colab.deploy.lock`

A deploy records a new deployment once `up` is healthy and its files or images differ from the current
one; the newest KEEP deployments and the current one are kept. A service deployed before records existed is
adopted (its folder and the images it runs) before the first change, so there is always something to go back
to. Records hold no secret: they hold the files that are on fortress anyway, which never do. Every write goes
to a temporary name renamed into place; `recover` removes what a cut-off write left.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime

from colab.errors import ColabError
from colab.runner import Runner

from .output import cause
from .sync import File, digest
from .target import Target

KEEP = 5

# What is recorded: "current <json>", "record <n>" per deployment, "leftover <path>" per cut-off write;
# with $2 = status, also "busy <holder>" while a run holds the lock.
STATE_SCRIPT = (
    's=$1; k="$s/deployments"; [ ! -f "$s/current" ] || printf "current %s\\n" "$(cat "$s/current")"; '
    'for f in "$k"/*.json; do [ -f "$f" ] || continue; b=${f##*/}; printf "record %s\\n" "${b%.json}"; done; '
    'for f in "$k"/.*.tmp "$s/.current.tmp"; do [ ! -e "$f" ] || printf "leftover %s\\n" "$f"; done; '
    'if [ "${2:-}" = status ] && [ -f "$s/lock" ] && command -v flock >/dev/null && ! flock -n "$s/lock" true; '
    'then printf "busy %s\\n" "$(cat "$s/holder" 2>/dev/null)"; fi; exit 0'
)
# $1 state folder, $2 the new deployment's id (its JSON on stdin after the first line) or "-", then ids to
# drop. First line on stdin: the new `current`.
SAVE_SCRIPT = (
    'set -eu; s=$1; id=$2; shift 2; k="$s/deployments"; t="$k/.$id.tmp"; c="$s/.current.tmp"; mkdir -p "$k"; '
    'u() { rm -f "$t" "$c"; }; trap u EXIT; trap "exit 130" INT TERM HUP; IFS= read -r cur; '
    'if [ "$id" != - ]; then cat > "$t"; mv "$t" "$k/$id.json"; fi; '
    'printf "%s\\n" "$cur" > "$c"; mv "$c" "$s/current"; for x in "$@"; do rm -f "$k/$x.json"; done'
)
READ_SCRIPT = 'cat "$1/deployments/$2.json"'
REMOVE_SCRIPT = 'rm -f -- "$@"'


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class Current:
    """Which deployment runs: its id, since when, who brought it there and how."""

    id: int
    since: str
    by: str
    how: str

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "since": self.since, "by": self.by, "how": self.how}, sort_keys=True)

    def describe(self) -> str:
        return f"#{self.id} ({self.how}, {self.since}, by {self.by})"


@dataclass(frozen=True)
class Deployment:
    id: int
    files: list[File]
    images: dict[str, str]  # Compose service → image id
    since: str
    by: str
    how: str

    @property
    def files_hash(self) -> str:
        return digest(self.files)

    def same_as(self, files: list[File], images: dict[str, str]) -> bool:
        return self.files_hash == digest(files) and self.images == images

    def to_json(self) -> str:
        files = [{"path": f.path, "mode": f.mode, "content": base64.b64encode(f.content).decode()} for f in self.files]
        data = {"id": self.id, "since": self.since, "by": self.by, "how": self.how, "images": self.images}
        return json.dumps({**data, "files_hash": self.files_hash, "files": files}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        d = json.loads(text)
        files = [File(f["path"], base64.b64decode(f["content"]), f["mode"]) for f in d["files"]]
        return cls(int(d["id"]), files, dict(d["images"]), d["since"], d["by"], d["how"])


@dataclass(frozen=True)
class State:
    current: Current | None = None
    ids: list[int] = field(default_factory=list)  # recorded deployments, oldest first
    leftovers: list[str] = field(default_factory=list)
    busy: str | None = None  # the holder's identity while a run holds the lock (status reads only)

    @property
    def next_id(self) -> int:
        return max([0, *self.ids]) + 1

    def before(self, id: int) -> int | None:
        """The newest recorded deployment older than `id`."""
        older = [i for i in self.ids if i < id]
        return max(older) if older else None

    def to_drop(self, keep_id: int) -> list[int]:
        """Ids beyond the newest KEEP once `keep_id` is added (the current one always stays)."""
        ids = sorted({*self.ids, keep_id})
        return [i for i in ids[:-KEEP] if i != keep_id and (self.current is None or i != self.current.id)]


def _parse_current(text: str) -> Current | None:
    try:
        d = json.loads(text)
        return Current(int(d["id"]), str(d["since"]), str(d["by"]), str(d["how"]))
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: treated as not recorded (a deploy records afresh)


def read_state(runner: Runner, target: Target, *, status: bool = False) -> State:
    argv = ["sh", "-c", STATE_SCRIPT, "sh", target.state_dir, *(["status"] if status else [])]
    res = runner.run(*argv, check=False, mutating=False)
    if not res.ok:
        raise ColabError(f"cannot read {target.state_dir} on {target.node.name}: {cause(res)}")
    current, ids, leftovers, busy = None, [], [], None
    for line in res.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "current":
            current = _parse_current(rest)
        elif kind == "record" and rest.isdigit():
            ids.append(int(rest))
        elif kind == "leftover":
            leftovers.append(rest)
        elif kind == "busy":
            busy = rest
    return State(current, sorted(ids), leftovers, busy)


def read(runner: Runner, target: Target, id: int) -> Deployment:
    res = runner.run("sh", "-c", READ_SCRIPT, "sh", target.state_dir, str(id), check=False, mutating=False)
    if not res.ok:
        raise ColabError(f"cannot read deployment #{id} of {target.what}: {cause(res)}")
    try:
        return Deployment.from_json(res.stdout)
    except (ValueError, KeyError, TypeError) as e:
        raise ColabError(f"deployment #{id} of {target.what} is unreadable ({e}); deploy again instead") from None


def save(runner: Runner, target: Target, current: Current, deployment: Deployment | None, drop: list[int]) -> None:
    """Record `deployment` (if given) and make `current` the one that runs; drop the records `drop`."""
    new = str(deployment.id) if deployment else "-"
    stdin = current.to_json() + "\n" + (deployment.to_json() if deployment else "")
    argv = ["sh", "-c", SAVE_SCRIPT, "sh", target.state_dir, new, *map(str, drop)]
    res = runner.run(*argv, stdin=stdin, check=False)
    if not res.ok:
        raise ColabError(f"cannot record the deployment of {target.what} in {target.state_dir}: {cause(res)}")


def recover(runner: Runner, target: Target, state: State) -> list[str]:
    """Remove what a cut-off record write left; what was done, one phrase each."""
    if not state.leftovers:
        return []
    res = runner.run("sh", "-c", REMOVE_SCRIPT, "sh", *state.leftovers, check=False)
    if not res.ok:
        raise ColabError(f"cannot clean up {target.state_dir} on {target.node.name}: {cause(res)}")
    return [f"removed {path}" for path in state.leftovers]
