"""Benchmark `inv render`: the default inventory, a generated 100-node / 300-service one, and the growth.

    python benchmarks/render_bench.py            # table on stdout
    python benchmarks/render_bench.py --json     # the same as JSON
    python benchmarks/render_bench.py --quick    # fewer repeats, smaller sweep

What is measured (best of --repeat runs, wall clock):
- load:    `inventory.parse(text)`, TOML parsing and validation;
- render:  `colab.render.tree.render_tree(inv)`, the templates rendered in memory;
- write:   `colab.render.disk.write_tree(...)` into an empty folder under --dir (temporary tree + swap); this is
           file-system bound: on tmpfs it is flat per file, on a busy disk it is noisy;
- inv:     the whole command `inv render --inventory FILE --output DIR` in a fresh process (Python start-up
           and imports, about half a second, included), into an empty folder each time.
The sweep renders generated inventories of n nodes and 3n services; time per node staying flat (or
falling, as fixed costs spread) as n grows is what "linear" means here.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomlkit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from colab import inventory  # noqa: E402
from colab.render import disk  # noqa: E402
from colab.render.tree import render_tree  # noqa: E402

OSES = ["debian", "debian", "wsl", "macos"]


def generated(nodes: int, services: int) -> dict[str, Any]:
    """The default inventory with `nodes` nodes (a mix of OSes) and `services` services spread over them."""
    if not 1 <= nodes <= 250:
        raise ValueError("1..250 nodes: the LAN is a /24")
    data = copy.deepcopy(tomllib.loads((ROOT / "cluster.toml").read_text()))
    names = [f"node-{i:03d}" for i in range(nodes)]
    data["nodes"] = {
        name: {
            "arch": "amd64" if i % 2 else "arm64",
            "os": "debian" if i == 0 else OSES[i % len(OSES)],
            "roles": ["storage", "backup"] if i == 0 else ["compute"],
            "lan": f"192.168.254.{i + 2}",
            "mesh": f"100.64.{i // 250}.{i % 250 + 1}",
            "ssh_user": "crtr",
            "repo": "/Users/crtr/colab" if OSES[i % len(OSES)] == "macos" and i else "/home/crtr/colab",
        }
        for i, name in enumerate(names)
    }
    data["networks"]["dns"] = "192.168.254.2"
    data["fortress"]["server"] = data["raid"]["node"] = data["backup"]["node"] = names[0]
    if nodes > 1:  # the off-site copy must be on another node than the backups
        data["backup"]["offsite"]["node"] = names[1]
    else:
        data["backup"].pop("offsite", None)
    data.pop("registry", None)  # it names the Gitea service; the generated services are plain web apps
    data["services"] = {
        f"svc-{j:03d}": {
            "node": names[j % nodes],
            "compose": f"compose/svc-{j:03d}",
            "secrets_path": f"/svc-{j:03d}",
            "secrets": [f"SVC_{j:03d}_TOKEN"],
            "domains": [f"svc-{j:03d}.ism.la"],
            "port": 10000 + j,
        }
        for j in range(services)
    }
    data["routes"] = []
    return data


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(label: str, path: Path, repeat: int, cli: bool, where: Path) -> dict[str, Any]:
    text = path.read_text()
    inv = inventory.parse(text)
    tree = render_tree(inv)
    row: dict[str, Any] = {
        "inventory": label,
        "nodes": len(inv.nodes),
        "services": len(inv.services),
        "files": len(tree),
        "bytes": sum(len(v) for v in tree.values()),
        "load_s": best(repeat, lambda: inventory.parse(text)),
        "render_s": best(repeat, lambda: render_tree(inv)),
    }

    def write() -> None:
        out = Path(tempfile.mkdtemp(prefix="render-bench-", dir=where))
        try:
            disk.write_tree(tree, out)
        finally:
            shutil.rmtree(out)

    row["write_s"] = best(repeat, write)
    if cli:
        beside = Path(sys.executable).with_name("inv")  # this interpreter's inv: a global one may be another checkout's
        inv_bin = str(beside) if beside.exists() else shutil.which("inv")
        if inv_bin is None:
            raise SystemExit("`inv` is not on PATH (python3 scripts/venv, then . .venv/bin/activate)")

        def run() -> None:
            out = Path(tempfile.mkdtemp(prefix="render-bench-", dir=where))
            try:
                subprocess.run(
                    [inv_bin, "render", "--inventory", str(path), "--output", str(out)],
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                    env={**os.environ, "COLAB_NETGUARD": "1"},
                )
            finally:
                shutil.rmtree(out)

        row["inv_s"] = best(max(1, repeat // 2), run)
    row["ms_per_node"] = 1000 * (row["load_s"] + row["render_s"]) / row["nodes"]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best counts")
    parser.add_argument("--quick", action="store_true", help="2 repeats, smaller sweep")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where to write (default: tmp)")
    args = parser.parse_args(argv)
    repeat = 2 if args.quick else args.repeat
    sweep = [25, 50, 100] if args.quick else [25, 50, 100, 200]

    rows = [measure("default (cluster.toml)", ROOT / "cluster.toml", repeat, cli=True, where=args.dir)]
    with tempfile.TemporaryDirectory(prefix="render-bench-inv-") as tmp:
        for n in sweep:
            path = Path(tmp) / f"gen-{n}.toml"
            path.write_text(tomlkit.dumps(generated(n, 3 * n)))
            rows.append(measure(f"generated {n}/{3 * n}", path, repeat, cli=n == 100, where=args.dir))

    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = ("inventory", "nodes", "svcs", "files", "load", "render", "write", "inv render", "ms/node")
    print("{:<24} {:>5} {:>5} {:>6} {:>9} {:>9} {:>9} {:>11} {:>8}".format(*head))
    for r in rows:
        inv_s = f"{r['inv_s'] * 1000:9.0f}ms" if "inv_s" in r else f"{'':>11}"
        print(
            f"{r['inventory']:<24} {r['nodes']:>5} {r['services']:>5} {r['files']:>6} {r['load_s'] * 1000:7.1f}ms "
            f"{r['render_s'] * 1000:7.1f}ms {r['write_s'] * 1000:7.1f}ms {inv_s} {r['ms_per_node']:8.2f}"
        )
    gen = [r for r in rows if r["inventory"].startswith("generated")]
    first, last = gen[0], gen[-1]
    size = last["nodes"] / first["nodes"]
    for key, what in (("render_s", "render"), ("load_s", "load"), ("write_s", f"write ({args.dir})")):
        print(f"{what}: {last[key] / first[key]:.1f}x the time for {size:.0f}x the inventory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
