"""Run commands on a node: locally or over SSH (both through plumbum), or print them (--dry-run).

Secrets never reach argv: locally they go in the child's environment; over SSH they travel on stdin
and a bash `read` builtin exports them before `exec`ing the command, so no process lists them.
Every text the runner prints, returns or raises has secret values replaced by `***`: the secrets it was
handed, and the values an `infisical run` in the argv injects, which it reads first (`colab.injection`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from plumbum import CommandNotFound, local
from plumbum.machines.ssh_machine import SshMachine
from rich.console import Console
from rich.markup import escape

from colab import injection, netguard
from colab.errors import ColabError, last_line
from colab.inventory import Inventory, Node
from colab.masking import MASK, Masks

ENV_NODE = "COLAB_NODE"
ENV_SSH_KEY = "COLAB_SSH_KEY"
ENV_SSH_OPTS = "COLAB_SSH_OPTS"


class Secret:
    """A secret value that only shows itself as ***."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


EnvValue = str | Secret


class CommandError(ColabError):
    """A command exited non-zero where success was required."""

    def __init__(self, node: str, display: str, result: Result) -> None:
        self.result = result
        tail = f": {result.last_line}" if result.has_output else ""  # else the exit code would be said twice
        super().__init__(f"[{node}] `{display}` failed with exit {result.returncode}{tail}")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def has_output(self) -> bool:
        return bool(self.stderr.strip() or self.stdout.strip())

    @property
    def last_line(self) -> str:
        """What a one-line error quotes: the last non-empty line of stderr, else of stdout, else `exit N`."""
        return last_line(self.stderr, self.stdout, self.returncode)


class Transport(Protocol):
    """Where commands execute. `run` receives real values; the Runner has already checked them."""

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], stdin: bytes | None, cwd: str | None, timeout: float | None
    ) -> Result: ...

    def close(self) -> None: ...


# File descriptors every local child inherits (see `children_inherit`).
_INHERITED: set[int] = set()


@contextmanager
def children_inherit(fd: int) -> Iterator[None]:
    """Every local command started inside this block inherits `fd`: whatever waits for it to close (a lock
    holder waiting for EOF on a pipe) then waits for those commands too, even when this process is killed
    first. ssh closes inherited descriptors at start, so commands run over SSH do not keep it."""
    _INHERITED.add(fd)
    try:
        yield
    finally:
        _INHERITED.discard(fd)


class LocalTransport:
    def _popen(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None, fds: tuple[int, ...], **kw: Any
    ) -> Any:
        full_env = {**os.environ, **env}
        # Look the program up in the PATH the child will get, not plumbum's copy taken at import.
        exe = shutil.which(argv[0], path=full_env.get("PATH")) if "/" not in argv[0] else argv[0]
        if exe is None:
            raise FileNotFoundError(argv[0])
        cmd = local[exe][list(argv[1:])]
        pipe = subprocess.PIPE
        return cmd.popen(stdin=pipe, stdout=pipe, stderr=pipe, env=full_env, cwd=cwd, pass_fds=fds, **kw)

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], stdin: bytes | None, cwd: str | None, timeout: float | None
    ) -> Result:
        try:
            proc = self._popen(argv, env, cwd, tuple(sorted(_INHERITED)))
        except FileNotFoundError:
            return Result(127, "", f"{argv[0]}: command not found")
        return _communicate(proc, stdin, timeout)

    def start(self, argv: Sequence[str], cwd: str | None) -> Any:
        """A process we keep talking to (pipes on stdin, stdout, stderr), in a session of its own so that a
        Ctrl-C at the terminal does not reach it: it ends when its stdin is closed. It inherits nothing."""
        return self._popen(argv, {}, cwd, (), start_new_session=True)

    def close(self) -> None:
        pass


# Reads NUL-terminated values from stdin into the named variables, then execs the command:
# `read` is a builtin, so the values never appear in any process's argv.
_ENV_PRELUDE = (
    'for __n in {names}; do IFS= read -r -d "" __v || exit 97; export "$__n=$__v"; done; unset __n __v; exec "$@"'
)


def ssh_options(host: str, purpose: str) -> list[str]:
    """The options every ssh of ours starts with: the user's COLAB_SSH_OPTS (checked by the network guard), then
    batch mode, a connect timeout and accept-new. The user's come first: ssh keeps the first value it sees."""
    netguard.ensure_allowed(host, purpose)
    try:
        given = shlex.split(os.environ.get(ENV_SSH_OPTS, ""))
    except ValueError as e:
        raise ColabError(f"{ENV_SSH_OPTS}: {e}; quote it as in a shell") from None
    netguard.ensure_ssh_options(given, ENV_SSH_OPTS)
    if netguard.active():
        # Config files (~/.ssh/config, /etc/ssh/ssh_config) can run programs (ProxyCommand, Match exec)
        # or send ssh elsewhere (HostName, ProxyJump), unseen: under the guard ssh reads none.
        given = ["-F", "/dev/null", *given]
    return [*given, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=accept-new"]


class SshTransport:
    def __init__(self, host: str, user: str, port: int = 22, keyfile: str | None = None) -> None:
        opts = ssh_options(host, "open an SSH connection")
        # The first connection (plumbum's session) becomes a master the later commands share: one
        # handshake per node instead of one per command. No ControlPersist: a background master would
        # hold our stderr pipe open. The socket lives in a private 0700 folder removed on close.
        self._control_dir = tempfile.mkdtemp(prefix="colab-ssh-")
        opts += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self._control_dir}/%C"]
        self.host = host
        try:
            self.machine = SshMachine(
                host, user=user, port=port, keyfile=keyfile or os.environ.get(ENV_SSH_KEY) or None, ssh_opts=opts
            )
        except Exception as e:  # plumbum raises several types; all mean "cannot reach the node"
            shutil.rmtree(self._control_dir, ignore_errors=True)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ColabError(f"cannot reach {user}@{host}:{port} over SSH ({first}); check the node is up") from None

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], stdin: bytes | None, cwd: str | None, timeout: float | None
    ) -> Result:
        args, payload = remote_command(argv, env, cwd)
        proc = self.machine.popen(
            shlex.join(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        return _communicate(proc, payload + (stdin or b""), timeout)

    def start(self, argv: Sequence[str], cwd: str | None) -> Any:
        """As LocalTransport.start, over SSH: the remote command sees EOF on its stdin when ours is closed."""
        args, _ = remote_command(argv, {}, cwd)
        pipe = subprocess.PIPE
        return self.machine.popen(shlex.join(args), stdin=pipe, stdout=pipe, stderr=pipe, start_new_session=True)

    def close(self) -> None:
        try:
            self.machine.close()
        finally:
            shutil.rmtree(self._control_dir, ignore_errors=True)


def remote_command(argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> tuple[list[str], bytes]:
    """The argv to run remotely and the bytes to send first on its stdin, so env values stay off argv."""
    args = list(argv)
    payload = b""
    if env:
        for name in env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ColabError(f"invalid environment variable name {name!r}")
        args = ["bash", "-c", _ENV_PRELUDE.format(names=" ".join(env)), "bash", *args]
        payload = b"".join(v.encode() + b"\0" for v in env.values())
    if cwd:
        args = ["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", cwd, *args]
    return args, payload


def _communicate(proc: Any, stdin: bytes | None, timeout: float | None) -> Result:
    try:
        out, err = proc.communicate(stdin or b"", timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Result(124, _text(out), _text(err) + f"\ntimed out after {timeout}s")
    return Result(proc.returncode, _text(out), _text(err))


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


@dataclass
class Runner:
    """Runs commands for one node, printing them in dry-run mode instead."""

    node: str
    transport_factory: Any = None  # () -> Transport; None means local
    dry_run: bool = False
    console: Console = field(default_factory=lambda: Console(stderr=True))
    history: list[str] = field(default_factory=list)
    _transport: Transport | None = None
    _secrets: set[str] = field(default_factory=set)  # values handed to us: never allowed in an argv
    _masks: Masks = field(default_factory=Masks)
    _injected: dict[injection.Scope, dict[str, str]] = field(default_factory=dict)

    def redact(self, text: str) -> str:
        return self._masks.redact(text)

    def mask(self, value: str | Secret) -> None:
        """Mask `value` in every text from now on, whatever its length."""
        self._masks.add(value.reveal() if isinstance(value, Secret) else value)

    def injected(self, scope: injection.Scope, cwd: str | None = None) -> dict[str, Secret]:
        """What `infisical run` with `scope` injects on this node, read once (`infisical export`) and masked
        from then on. A dry run reads nothing: it shows the export as a read-only probe and returns {}."""
        argv = injection.export_argv(scope)
        if self.dry_run:
            self.run(*argv, cwd=cwd, mutating=False)
            return {}
        if scope not in self._injected:
            self.history.append(self.display(argv, cwd=cwd))
            try:
                res = self.transport().run(argv, {}, None, cwd, injection.EXPORT_TIMEOUT)
            except (FileNotFoundError, CommandNotFound):
                res = Result(127, "", f"{argv[0]}: command not found")
            if res.returncode == 127:  # the shell's "not found" (over SSH) or ours: no login to check yet
                raise ColabError(
                    f"the Infisical CLI is not installed on {self.node} (needed to read {scope.path}); install it "
                    "(infisical.com/docs/cli/overview), log in (`infisical login`), then run again"
                )
            if not res.ok:
                # Its stdout would be the values themselves, not masked yet: only stderr is quoted.
                last = self.redact(Result(res.returncode, "", res.stderr).last_line)
                raise ColabError(
                    f"infisical could not read {scope.path} in env {scope.env!r} ({last}); "
                    "check `infisical login` / INFISICAL_TOKEN and that the path exists"
                )
            values = injection.parse_export(res.stdout)
            for value in values.values():
                if len(value) >= injection.MIN_MASKED:
                    self._masks.add(value)
            self._injected[scope] = values
        return {name: Secret(value) for name, value in self._injected[scope].items()}

    def display(
        self, argv: Sequence[str], env: Mapping[str, EnvValue] | None = None, cwd: str | None = None, stdin: Any = None
    ) -> str:
        shown = [f"{k}={MASK if isinstance(v, Secret) else shlex.quote(v)}" for k, v in (env or {}).items()]
        text = " ".join([*shown, shlex.join(argv)])
        if cwd:
            text = f"cd {shlex.quote(cwd)} && {text}"
        if isinstance(stdin, Secret):
            text += f" <<< {MASK}"
        return self.redact(text)

    def run(
        self,
        *argv: str,
        env: Mapping[str, EnvValue] | None = None,
        stdin: str | bytes | Secret | None = None,
        cwd: str | None = None,
        check: bool = True,
        timeout: float | None = None,
        mutating: bool = True,
    ) -> Result:
        """Run argv on the node. `mutating=False` marks read-only probes, which dry-run also skips."""
        env = dict(env or {})
        for value in [*env.values(), stdin]:
            if isinstance(value, Secret) and value.reveal():  # an empty value would mask every text
                self._secrets.add(value.reveal())
                self._masks.add(value.reveal())
        for arg in argv:
            if any(s and s in arg for s in self._secrets):
                raise ColabError(f"[{self.node}] refusing to put a secret in a command line; pass it by env or stdin")
        scope = injection.scope_of(argv)
        if scope is not None and not self.dry_run:
            self.injected(scope, cwd)  # before it runs: whatever it prints is masked
        shown = self.display(argv, env, cwd, stdin)
        self.history.append(shown)
        if self.dry_run:
            if mutating:
                self.console.print(
                    f"[dim]\\[{self.node}][/dim] $ {escape(shown)}", markup=True, highlight=False, soft_wrap=True
                )
            return Result(0)
        plain_env = {k: v.reveal() if isinstance(v, Secret) else v for k, v in env.items()}
        data = (
            stdin.reveal().encode()
            if isinstance(stdin, Secret)
            else stdin.encode()
            if isinstance(stdin, str)
            else stdin
        )
        try:
            result = self.transport().run(argv, plain_env, data, cwd, timeout)
        except (FileNotFoundError, CommandNotFound):
            result = Result(127, "", f"{argv[0]}: command not found")
        result = Result(result.returncode, self.redact(result.stdout), self.redact(result.stderr))
        if check and not result.ok:
            raise CommandError(self.node, shown, result)
        return result

    def start(self, *argv: str, cwd: str | None = None) -> Any:
        """Start argv on the node and return the running process (a `subprocess.Popen` with pipes), for a
        process that lives while we talk to it (a lock holder); None in a dry run, which prints it. Its output
        is not masked: use it only for commands that handle no secrets (it takes no environment)."""
        for arg in argv:
            if any(s and s in arg for s in self._secrets):
                raise ColabError(f"[{self.node}] refusing to put a secret in a command line; pass it by env or stdin")
        shown = self.display(argv, cwd=cwd)
        self.history.append(shown)
        if self.dry_run:
            self.console.print(
                f"[dim]\\[{self.node}][/dim] $ {escape(shown)}", markup=True, highlight=False, soft_wrap=True
            )
            return None
        transport = self.transport()
        if not hasattr(transport, "start"):
            raise ColabError(f"[{self.node}] this transport cannot keep a process running")
        try:
            return transport.start(argv, cwd)
        except (FileNotFoundError, CommandNotFound):
            raise ColabError(f"[{self.node}] {argv[0]}: command not found") from None

    def ok(self, *argv: str, **kwargs: Any) -> bool:
        """True when a read-only probe exits 0."""
        return self.run(*argv, check=False, mutating=False, **kwargs).ok

    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = self.transport_factory() if self.transport_factory else LocalTransport()
        return self._transport

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def this_node() -> str:
    """The node we are on: $COLAB_NODE, else the short hostname."""
    return os.environ.get(ENV_NODE) or socket.gethostname().split(".")[0]


def node_or_here(inv: Inventory, name: str | None) -> Node:
    """The named node, else the node this machine is; one clear error when neither works."""
    if name:
        return inv.node(name)
    here = this_node()
    if here in inv.nodes:
        return inv.nodes[here]
    raise ColabError(f"this machine ({here}) is not a node of the inventory; pass --node NAME")


def runner_for(
    inv: Inventory, node: Node, *, dry_run: bool = False, console: Console | None = None, via: str = "mesh"
) -> Runner:
    """A runner for `node`: local when we are on it, else SSH to its mesh (or LAN) address."""
    kwargs: dict[str, Any] = {"node": node.name, "dry_run": dry_run}
    if console is not None:
        kwargs["console"] = console
    if node.name != this_node():
        host = str(node.mesh if via == "mesh" else node.lan)
        kwargs["transport_factory"] = lambda: SshTransport(host, node.ssh_user, node.ssh_port)
    return Runner(**kwargs)
