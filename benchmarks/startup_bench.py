"""Start-up cost: `inv --list` and `inv inventory.check` against Invoke itself, same interpreter, one run.

Every `mise run …` and cron line starts a fresh `inv`, so its start-up is paid on every command. Measured here,
each as a whole process, interleaved, `--reps` times after two warm-up runs (warm page cache):

- python: `python -c pass` (the interpreter alone);
- invoke: `inv --list` on a tasks folder with one empty task (what Invoke itself costs: the peer);
- ours --list: `inv --list` in this checkout (every task module loaded);
- ours check: `inv inventory.check` (the inventory parsed and validated: pydantic on top).

Reported: median and best wall time in ms and each ours÷invoke ratio; the goal is ≤ 250 ms for both of ours.

    python benchmarks/startup_bench.py [--reps 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_MS = 250.0
PEER_TASKS = (
    '"""One empty task: what Invoke costs by itself."""\nfrom invoke import task\n\n\n@task\ndef noop(c):\n    pass\n'
)


def wall_ms(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    took = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}: {proc.stderr.decode().strip()[-300:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    inv = [sys.executable, "-m", "invoke"]
    with tempfile.TemporaryDirectory(prefix="colab-startup-") as tmp:
        peer = Path(tmp)
        (peer / "tasks.py").write_text(PEER_TASKS)
        runs = {
            "python": ([sys.executable, "-c", "pass"], ROOT),
            "invoke": ([*inv, "--list"], peer),
            "ours --list": ([*inv, "--list"], ROOT),
            "ours check": ([*inv, "inventory.check"], ROOT),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        for rep in range(args.reps + 2):
            for name, (argv, cwd) in runs.items():
                took = wall_ms(argv, cwd)
                if rep >= 2:  # two warm-up rounds
                    times[name].append(took)
    median = {name: statistics.median(t) for name, t in times.items()}
    result = {
        name: {
            "median_ms": round(median[name], 1),
            "best_ms": round(min(t), 1),
            "vs_invoke": round(median[name] / median["invoke"], 2),
        }
        for name, t in times.items()
    }
    if args.json:
        print(json.dumps({"reps": args.reps, "goal_ms": GOAL_MS, "results": result}, indent=2))
        return 0
    print(f"{'run':<14}{'median ms':>11}{'best ms':>10}{'÷ invoke':>10}")
    for name, r in result.items():
        print(f"{name:<14}{r['median_ms']:>11.1f}{r['best_ms']:>10.1f}{r['vs_invoke']:>10.2f}")
    worst = max(median["ours --list"], median["ours check"])
    print(f"goal ≤ {GOAL_MS:.0f} ms: {'met' if worst <= GOAL_MS else 'missed'} (slowest of ours: {worst:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
