"""Plan cases: inventory overrides + fake node answers → exactly what `inv TASK` prints and what the nodes ran.

A case is one text file under `tests/unit/<area>/cases/`: what it shows in a sentence or two, its inputs as
`key: value` lines, a line `---`, then the expected result (the golden part, which `--update-golden` rewrites):

    The boot mount on a Debian client, its files as `inv render` gives them to chezmoi.

    run: fortress.mount --node director --dry-run
    ---
    [director] # check: systemd is running (/run/systemd/system exists)
    …
    --- exit 0

Inputs (only `run` is required; the others may repeat where it makes sense):
  run:       the task and its options, as typed after `inv` (`{tmp}` is the case's own empty folder)
  here:      the node this machine is (COLAB_NODE); default `controller`, which is none of the nodes
  user:      `root` or another name: who runs the task here (this decides sudo for local commands); default:
             whoever runs the tests (give it when the task runs privileged commands on this machine)
  inventory: the inventory file, from the repo root; default cluster.toml
  set:       `dotted.key = TOML value`, changed in a copy of that inventory (`set: raid.mount = "/mnt/b k"`)
  folders:   folders made under {tmp} before the run (the backup volume's snapshots, say), space-separated
  down:      nodes that do not answer a TCP connect (every other node does); a dry run may dial none
  answer:    `[node] TEXT => {exit = N, stdout = "…", stderr = "…", times = N}`: a command whose display
             contains TEXT gets this answer (the first such line that is not used up; `times` limits how often
             it answers); a command no line matches exits 0 with no output. `[*]` is any node. `stdout-file`
             instead of `stdout`: a file's text (from the repo root; `{inventory}` is the case's inventory).

Expected: the task's stdout, then `--- stderr` and its stderr, then `--- ran on the nodes` and every command the
fake nodes were given, in order (a dry run must give them none), then `--- exit N`; empty sections are left out.
The task runs in this process, through Invoke's own parser and the real `tasks/` collection, with every
`Runner`'s transport replaced by the fake nodes; output goes to a pipe (whole lines, no colour). The checkout's
path reads `{repo}`, its HEAD commit `{commit}`, the case's folder `{tmp}` and a deploy's files hash `{hash}`; lines
are compared without trailing white space.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import os
import re
import shlex
import socket
import subprocess
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from colab.runner import Result, Runner

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
SEPARATOR = "---"
KEYS = ("run", "here", "user", "inventory", "set", "folders", "down", "answer")
UPDATE_HINT = "if the new output is right: pytest --update-golden (rewrites the case files; review the git diff)"


@dataclass
class Answer:
    node: str  # "*": any node
    text: str
    result: Result
    times: int | None = None  # None: every time

    def take(self, node: str, shown: str) -> Result | None:
        if self.node not in ("*", node) or self.text not in shown or self.times == 0:
            return None
        if self.times is not None:
            self.times -= 1
        return self.result


@dataclass
class Case:
    path: Path
    about: list[str]
    inputs: list[tuple[str, str]]
    expected: str

    @property
    def name(self) -> str:
        return case_id(self.path)

    def values(self, key: str) -> list[str]:
        return [value for k, value in self.inputs if k == key]

    def value(self, key: str, default: str) -> str:
        found = self.values(key)
        return found[-1] if found else default

    @property
    def args(self) -> list[str]:
        return shlex.split(self.value("run", ""))

    @property
    def dry_run(self) -> bool:
        return "--dry-run" in self.args

    def answers(self, inventory: Path) -> list[Answer]:
        found = []
        for line in self.values("answer"):
            m = re.fullmatch(r"\[([^\]]+)\] (.+?) => (\{.*\})", line)
            if not m:
                raise ValueError(f'{self.path}: answer: `[node] TEXT => {{exit = N, stdout = "…"}}`, got {line!r}')
            spec = tomllib.loads(f"a = {m.group(3)}")["a"]
            unknown = set(spec) - {"exit", "stdout", "stdout-file", "stderr", "times"}
            if unknown:
                raise ValueError(f"{self.path}: answer: unknown field(s) {', '.join(sorted(unknown))} in {line!r}")
            stdout = spec.get("stdout", "")
            if "stdout-file" in spec:  # a file of the repo, or `{inventory}`: the case's own inventory
                name = spec["stdout-file"]
                stdout = (inventory if name == "{inventory}" else ROOT / name).read_text(encoding="utf-8")
            result = Result(int(spec.get("exit", 0)), stdout, spec.get("stderr", ""))
            found.append(Answer(m.group(1), m.group(2), result, spec.get("times")))
        return found


def parse(path: Path) -> Case:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if SEPARATOR not in lines:
        raise ValueError(f"{path}: no line `{SEPARATOR}` between the inputs and the expected output")
    cut = lines.index(SEPARATOR)
    about: list[str] = []
    inputs: list[tuple[str, str]] = []
    for line in lines[:cut]:
        key, sep, value = line.partition(": ")
        if sep and key in KEYS:
            inputs.append((key, value.strip()))
        elif inputs and line.strip():
            raise ValueError(f"{path}: after the inputs began, {line!r} is not `key: value` ({', '.join(KEYS)})")
        elif line.strip():
            about.append(line)
    case = Case(path, about, inputs, "\n".join(lines[cut + 1 :]))
    if not case.args:
        raise ValueError(f"{path}: no `run:` line")
    return case


def find(root: Path = UNIT) -> list[Path]:
    """Every case file: `tests/unit/<area>/cases/*.txt`."""
    return sorted(root.glob("*/cases/*.txt"))


def case_id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


# ------------------------------------------------------------------------------------------------ the fake nodes


@dataclass
class FakeNodes:
    """Stands in for every node's transport: answers from the case, a transcript of what ran where."""

    answers: list[Answer]
    ran: list[str] = field(default_factory=list)

    def transport(self, node: str) -> FakeTransport:
        return FakeTransport(self, node)


@dataclass
class FakeTransport:
    nodes: FakeNodes
    node: str

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], stdin: bytes | None, cwd: str | None, timeout: float | None
    ) -> Result:
        shown = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(argv)])
        if cwd:
            shown = f"cd {shlex.quote(cwd)} && {shown}"
        self.nodes.ran.append(f"[{self.node}] {shown}" + (" <<< (stdin)" if stdin else ""))
        for answer in self.nodes.answers:
            result = answer.take(self.node, shown)
            if result is not None:
                return result
        return Result(0)

    def close(self) -> None:
        pass


class _Connected:
    def __enter__(self) -> _Connected:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------------------------ running a case


@dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str
    ran: list[str]
    exit_code: int

    def text(self) -> str:
        parts = [self.stdout.rstrip("\n")] if self.stdout.strip() else []
        if self.stderr.strip():
            parts += [f"{SEPARATOR} stderr", self.stderr.rstrip("\n")]
        if self.ran:
            parts += [f"{SEPARATOR} ran on the nodes", *self.ran]
        parts.append(f"{SEPARATOR} exit {self.exit_code}")
        return "\n".join(parts)


@functools.cache
def head_commit() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def normalize(text: str, tmp: Path) -> str:
    """The parts that differ between checkouts and runs, as placeholders; no trailing white space."""
    text = text.replace(str(tmp), "{tmp}").replace(str(ROOT), "{repo}").replace(head_commit(), "{commit}")
    text = re.sub(r"COLAB_FILES_HASH=[0-9a-f]{12,}", "COLAB_FILES_HASH={hash}", text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def inventory_for(case: Case, tmp: Path) -> Path:
    """The case's inventory: the file named, or a copy with the `set:` lines applied."""
    source = ROOT / case.value("inventory", "cluster.toml")
    changes = case.values("set")
    if not changes:
        return source
    doc = tomlkit.parse(source.read_text(encoding="utf-8"))
    for change in changes:
        key, sep, raw = change.partition(" = ")
        if not sep:
            raise ValueError(f"{case.path}: set: `dotted.key = TOML value`, got {change!r}")
        *parents, last = key.strip().split(".")
        table: Any = doc
        for part in parents:
            table = table[part]
        table[last] = tomllib.loads(f"v = {raw.replace('{tmp}', str(tmp))}")["v"]
    path = tmp / "inventory.toml"
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return path


def node_addresses(inventory_path: Path) -> dict[str, str]:
    """address → node name, for the fake TCP dial."""
    doc = tomllib.loads(inventory_path.read_text(encoding="utf-8"))
    return {
        str(node[kind]): name for name, node in doc.get("nodes", {}).items() for kind in ("lan", "mesh") if kind in node
    }


@contextlib.contextmanager
def _faked(case: Case, inventory_path: Path, nodes: FakeNodes, dialled: list[str]) -> Iterator[None]:
    addresses = node_addresses(inventory_path)
    down = set(" ".join(case.values("down")).replace(",", " ").split())

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> _Connected:
        host, port = str(address[0]), int(address[1])
        dialled.append(f"{host}:{port}")
        if addresses.get(host) is None or addresses[host] in down:
            raise ConnectionRefusedError(f"{host}:{port}: connection refused (plan case)")
        return _Connected()

    def transport(self: Runner) -> Any:
        if self._transport is None:
            self._transport = nodes.transport(self.node)
        return self._transport

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Runner, "transport", transport)
        mp.setattr(socket, "create_connection", create_connection)
        if case.values("user"):  # local sudo depends on who runs the task here
            mp.setattr(os, "geteuid", lambda: 0 if case.value("user", "") == "root" else 1000)
        mp.setenv("COLAB_NODE", case.value("here", "controller"))
        mp.setenv("COLAB_INVENTORY", str(inventory_path))
        for name in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
            mp.delenv(name, raising=False)
        yield


def prepare(case: Case, tmp: Path) -> tuple[list[str], Path]:
    """The case's folders made under `tmp`; its task's arguments and its inventory file."""
    for folder in " ".join(case.values("folders")).split():
        (tmp / folder).mkdir(parents=True, exist_ok=True)
    return [arg.replace("{tmp}", str(tmp)) for arg in case.args], inventory_for(case, tmp)


def run(case: Case, tmp: Path) -> Outcome:
    """Run the case's task in this process against the fake nodes."""
    from invoke.program import Program
    from tasks import ns

    args, inventory_path = prepare(case, tmp)
    nodes = FakeNodes(case.answers(inventory_path))
    dialled: list[str] = []
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with _faked(case, inventory_path, nodes, dialled), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            Program(namespace=ns, name="inv", binary="inv").run(["inv", *args])
        except SystemExit as e:
            code = e.code
    if case.dry_run and (nodes.ran or dialled):
        pytest.fail(f"{case.name}: a dry run contacted nodes: {[*dialled, *nodes.ran]}")
    exit_code = code if isinstance(code, int) else (0 if code is None else 1)
    return Outcome(out.getvalue(), err.getvalue(), nodes.ran, exit_code)


def output(line: str, tmp: Path, **inputs: str) -> Outcome:
    """Run one task line the way a case runs (inputs as keyword arguments: `here="director"`), for a test that checks
    one property of a plan rather than the whole of it."""
    case = Case(Path(f"inline/{line}"), [], [("run", line), *inputs.items()], "")
    return run(case, tmp)


def check(path: Path, tmp: Path, *, update: bool = False) -> None:
    """Run the case; compare with its expected part, or with `update`, write the new output there instead."""
    case = parse(path)
    got = run(case, tmp)
    actual = normalize(got.text(), tmp)
    if actual == case.expected.rstrip("\n"):
        return
    if update:
        head = path.read_text(encoding="utf-8").splitlines()
        cut = head.index(SEPARATOR)
        path.write_text("\n".join([*head[: cut + 1], actual]) + "\n", encoding="utf-8")
        return
    diff = difflib.unified_diff(
        case.expected.rstrip("\n").splitlines(), actual.splitlines(), "expected", "actual", lineterm="", n=2
    )
    pytest.fail(
        f"{case.name}: the output differs from {path.relative_to(ROOT)}\n" + "\n".join(diff) + f"\n{UPDATE_HINT}"
    )
