"""Daily snapshot cost: `inv backup.daily` against bare `rsync --link-dest` and rsnapshot, same job, one run.

A generated tree (default 100,000 files in 1,000 folders, 1-4 KB each) is backed up day after day by
three tools, each in its own folder on the same file system:

- ours: `inv backup.daily --source … --target … --now …` (retention 7/4/12; once seven dailies exist,
  every run reuses the snapshot that expires as its rsync target);
- bare: `rsync -a --delete --link-dest=<previous> src/ <new empty folder>/`;
- rsnapshot: `rsnapshot sync && rsnapshot daily` with sync_first 1, link_dest 1, retain daily 7.

All keep two dailies (ours: retention 2 daily / 1 weekly / 1 monthly; rsnapshot: retain daily 2), so the
steady state — one snapshot expires every day: rsnapshot deletes it, ours reuses it — comes after three
days instead of eight; the work per day is the same as with seven. Then, interleaved, `--reps` unchanged
dailies and `--reps` dailies after 1% of the files (a fresh 1% each day) were rewritten. Reported per
scenario: median wall time (ours: the whole `inv` process, and its rsync alone), ratio to ours, the file
data the new snapshot adds (blocks of files that no older snapshot shares) and `du` of the new snapshot
counted after the older ones (also its directories, which hard links cannot share). Warm page cache.

    python benchmarks/backup_bench.py [--files 100000] [--reps 3] [--dir /var/tmp] [--keep] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"
FOLDERS = 1000
WARMUP_DAYS = 3


@dataclass
class Tool:
    name: str
    times: dict[str, list[float]] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    data: dict[str, int] = field(default_factory=dict)
    rsync_only: dict[str, list[float]] = field(default_factory=dict)


def make_tree(src: Path, files: int, seed: int = 7) -> int:
    rnd = random.Random(seed)
    total = 0
    per = max(1, files // FOLDERS)
    for i in range(files):
        folder = src / f"d{i // per:04d}"
        if i % per == 0:
            folder.mkdir(parents=True, exist_ok=True)
        data = rnd.randbytes(rnd.randint(1024, 4096))
        (folder / f"f{i:06d}.dat").write_bytes(data)
        total += len(data)
    return total


def change(src: Path, files: int, fraction: float, day: int) -> int:
    """Rewrite a fresh `fraction` of the files (new content, new size); returns the bytes written."""
    rnd = random.Random(1000 + day)
    per = max(1, files // FOLDERS)
    written = 0
    for i in rnd.sample(range(files), int(files * fraction)):
        data = rnd.randbytes(rnd.randint(1024, 4096))
        (src / f"d{i // per:04d}" / f"f{i:06d}.dat").write_bytes(data)
        written += len(data)
    return written


def timed(argv: list[str], **kwargs: object) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    return time.monotonic() - started


def du_added(older: list[Path], newest: Path) -> int:
    """Bytes `du` attributes to `newest` when it is counted after the older snapshots."""
    out = subprocess.run(
        ["du", "-s", "-B1", *map(str, older), str(newest)], capture_output=True, text=True, check=True
    ).stdout
    return int(out.strip().splitlines()[-1].split()[0])


def data_added(older: list[Path], newest: Path) -> int:
    """Blocks of the regular files in `newest` whose inode no older snapshot holds."""
    seen: set[int] = set()
    for snap in older:
        for dirpath, _dirs, names in os.walk(snap):
            for n in names:
                seen.add(os.lstat(os.path.join(dirpath, n)).st_ino)
    total = 0
    for dirpath, _dirs, names in os.walk(newest):
        for n in names:
            st = os.lstat(os.path.join(dirpath, n))
            if st.st_ino not in seen:
                total += st.st_blocks * 512
    return total


# ------------------------------------------------------------------------------------------ the tools


def bench_inventory(base: Path) -> Path:
    """The loopback test inventory with two dailies, one weekly and one monthly kept."""
    import tomlkit

    doc = tomlkit.parse(INVENTORY.read_text())
    retention = doc["backup"]["retention"]  # type: ignore[index]
    retention["daily"], retention["weekly"], retention["monthly"] = 2, 1, 1  # type: ignore[index]
    path = base / "inventory.toml"
    path.write_text(tomlkit.dumps(doc))
    return path


def ours(src: Path, target: Path, day: date, inventory: Path) -> tuple[float, float]:
    env = {**os.environ, "COLAB_INVENTORY": str(inventory), "COLAB_NETGUARD": "1"}
    argv = [sys.executable, "-m", "invoke", "backup.daily", "--source", str(src), "--target", str(target),
            "--now", f"{day.isoformat()}T03:15", "--no-dumps"]  # fmt: skip
    wall = timed(argv, cwd=ROOT, env=env, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    meta = json.loads((target / ".colab-backup" / "meta" / f"fortress-{day:%Y%m%d}.json").read_text())
    return wall, float(meta["seconds"])


def ours_snapshots(target: Path) -> list[Path]:
    return sorted(p for p in target.iterdir() if p.name.startswith("fortress-2"))


def bare(src: Path, target: Path, day: date) -> float:
    previous = sorted(target.iterdir())
    new = target / f"{day:%Y%m%d}"
    argv = ["rsync", "-a", "--delete"] + ([f"--link-dest={previous[-1]}"] if previous else [])
    return timed([*argv, f"{src}/", f"{new}/"])


def rsnapshot_conf(src: Path, root: Path) -> Path:
    conf = root / "rsnapshot.conf"
    lines = [
        ("config_version", "1.2"),
        ("snapshot_root", f"{root}/snapshots/"),
        ("cmd_cp", "/bin/cp"),
        ("cmd_rm", "/bin/rm"),
        ("cmd_rsync", "/usr/bin/rsync"),
        ("link_dest", "1"),
        ("sync_first", "1"),
        ("retain", "daily\t2"),
        ("verbose", "1"),
        ("lockfile", f"{root}/rsnapshot.pid"),
        ("backup", f"{src}/\tlocalhost/"),
    ]
    conf.write_text("".join(f"{k}\t{v}\n" for k, v in lines))
    subprocess.run(["rsnapshot", "-c", str(conf), "configtest"], check=True, stdout=subprocess.DEVNULL)
    return conf


def rsnapshot(conf: Path) -> float:
    started = time.monotonic()
    subprocess.run(["rsnapshot", "-c", str(conf), "sync"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["rsnapshot", "-c", str(conf), "daily"], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def rsnapshot_snapshots(root: Path) -> list[Path]:
    snaps = root / "snapshots"
    dailies = [snaps / f"daily.{n}" for n in range(9, -1, -1) if (snaps / f"daily.{n}").is_dir()]
    return dailies  # oldest first; daily.0 is the newest


# -------------------------------------------------------------------------------------------- the run


def run(files: int, reps: int, workdir: Path, keep: bool) -> dict[str, object]:
    for tool in ("rsync", "rsnapshot", "du"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (scripts/ci-setup installs it)")
    base = Path(tempfile.mkdtemp(prefix="colab-backup-bench-", dir=workdir))
    src, t_ours, t_bare, t_rsn = base / "src", base / "ours", base / "bare", base / "rsnapshot"
    for p in (t_ours, t_bare, t_rsn):
        p.mkdir()
    (t_ours / ".colab-backup").mkdir()
    tools = {n: Tool(n) for n in ("ours", "bare link-dest", "rsnapshot")}
    try:
        started = time.monotonic()
        size = make_tree(src, files)
        log(f"tree: {files:,} files, {size / 1e6:.0f} MB in {time.monotonic() - started:.1f}s ({base})")
        conf = rsnapshot_conf(src, t_rsn)
        inventory = bench_inventory(base)
        day = date(2024, 1, 1)
        started = time.monotonic()
        for _ in range(WARMUP_DAYS):  # steady state: from the third day on, one snapshot expires each day
            ours(src, t_ours, day, inventory)
            bare(src, t_bare, day)
            rsnapshot(conf)
            day += timedelta(days=1)
        log(f"steady state: {WARMUP_DAYS} days each in {time.monotonic() - started:.0f}s")
        changed_bytes = 0
        for scenario in ("unchanged", "1% changed"):
            for rep in range(reps):
                if scenario != "unchanged":
                    changed_bytes = change(src, files, 0.01, day.toordinal())
                wall, rs = ours(src, t_ours, day, inventory)
                tools["ours"].times.setdefault(scenario, []).append(wall)
                tools["ours"].rsync_only.setdefault(scenario, []).append(rs)
                tools["bare link-dest"].times.setdefault(scenario, []).append(bare(src, t_bare, day))
                tools["rsnapshot"].times.setdefault(scenario, []).append(rsnapshot(conf))
                if rep == reps - 1:
                    for name, snaps in (
                        ("ours", ours_snapshots(t_ours)),
                        ("bare link-dest", sorted(t_bare.iterdir())),
                        ("rsnapshot", rsnapshot_snapshots(t_rsn)),
                    ):
                        tools[name].added[scenario] = du_added(snaps[:-1], snaps[-1])
                        tools[name].data[scenario] = data_added(snaps[:-1], snaps[-1])
                day += timedelta(days=1)
            log(f"{scenario}: done")
        return report(tools, files, size, changed_bytes, reps)
    finally:
        if keep:
            log(f"kept {base}")
        else:
            subprocess.run(["rm", "-rf", str(base)], check=False)


def report(tools: dict[str, Tool], files: int, size: int, changed: int, reps: int) -> dict[str, object]:
    rows = []
    for scenario in ("unchanged", "1% changed"):
        ref = statistics.median(tools["ours"].times[scenario])
        for t in tools.values():
            med = statistics.median(t.times[scenario])
            row = {
                "scenario": scenario,
                "tool": t.name,
                "median_s": round(med, 2),
                "min_s": round(min(t.times[scenario]), 2),
                "vs_ours": round(med / ref, 2),
                "added_bytes": t.added[scenario],
                "data_added_bytes": t.data[scenario],
            }
            if t.rsync_only:
                row["rsync_s"] = round(statistics.median(t.rsync_only[scenario]), 2)
            rows.append(row)
    return {"files": files, "bytes": size, "changed_bytes_per_day": changed, "reps": reps, "rows": rows}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def print_table(result: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"daily snapshot of {result['files']:,} files ({int(result['bytes']) / 1e6:.0f} MB), "  # type: ignore[call-overload]
        f"median of {result['reps']}; 1% changed = {int(result['changed_bytes_per_day']) / 1e6:.1f} MB/day",  # type: ignore[call-overload]
        title_justify="left",
    )
    for col in ("scenario", "tool", "median s", "min s", "x ours", "file data added", "du added"):
        table.add_column(col, justify="left" if col in ("scenario", "tool") else "right")
    for r in result["rows"]:  # type: ignore[attr-defined]
        name = r["tool"] + (f" (rsync {r['rsync_s']}s)" if "rsync_s" in r else "")
        table.add_row(
            r["scenario"], name, f"{r['median_s']:.2f}", f"{r['min_s']:.2f}", f"{r['vs_ours']:.2f}",
            f"{r['data_added_bytes'] / 1e6:.1f} MB", f"{r['added_bytes'] / 1e6:.1f} MB",
        )  # fmt: skip
    Console(width=120).print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="work folder (same file system for all)")
    parser.add_argument("--keep", action="store_true", help="keep the trees afterwards")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.files, args.reps, args.dir, args.keep)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
