"""A fake node for the lifecycle tests: a Transport answering commands by pattern, recording what it was asked."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from colab.runner import Result

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"

Answer = Callable[[list[str], Mapping[str, str], bytes | None], Result]


@dataclass
class FakeNode:
    """Answers by the last rule whose pattern matches the joined argv (later rules override earlier ones)."""

    rules: list[tuple[str, Answer]] = field(default_factory=list)
    calls: list[tuple[list[str], dict[str, str], bytes | None, str | None]] = field(default_factory=list)

    def on(self, pattern: str, out: str = "", code: int = 0, err: str = "") -> FakeNode:
        self.rules.append((pattern, lambda a, e, s: Result(code, out, err)))
        return self

    def answer(self, pattern: str, fn: Answer) -> FakeNode:
        self.rules.append((pattern, fn))
        return self

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], stdin: bytes | None, cwd: str | None, timeout: float | None
    ) -> Result:
        self.calls.append((list(argv), dict(env), stdin, cwd))
        text = " ".join(argv)
        for pattern, answer in reversed(self.rules):
            if re.search(pattern, text):
                return answer(list(argv), env, stdin)
        return Result(0)

    def close(self) -> None:
        pass

    def commands(self) -> list[str]:
        return [" ".join(argv) for argv, *_ in self.calls]


def inventory_text(services: dict[str, dict[str, object]] | None = None) -> str:
    """loopback.toml with `services` added (each placed and foldered as given)."""
    doc = tomlkit.parse(LOOPBACK.read_text(encoding="utf-8"))
    for name, fields in (services or {}).items():
        table = tomlkit.table()
        table.update({"secrets_path": f"/{name}", **fields})
        doc["services"][name] = table  # type: ignore[index]
    return tomlkit.dumps(doc)
