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
dailies and `--reps` dailies after 1% of the files (a fresh 1% each day) were rewritten, each once with a
warm page cache ("hot") and once cold: `sync; echo 3 > /proc/sys/vm/drop_caches` (page cache, dentries and
inodes) right before each tool's measured run, as at 03:15 on a node whose cache holds other things. Reported
per scenario and cache: median wall time (ours: the whole `inv` process, and its rsync alone), ours divided by
the tool's (the issue's goals: unchanged daily <= 0.35x rsnapshot and <= 0.6x bare link-dest), the bytes the
whole process tree read from and wrote to the block device (the kernel's per-process I/O accounting,
`read_bytes`/`write_bytes` of /proc/<pid>/io, summed over every descendant as it is reaped: getrusage
RUSAGE_CHILDREN blocks x 512 in a wrapper process), the file data the new snapshot adds (blocks of files that
no older snapshot shares) and `du` of the new snapshot counted after the older ones (also its directories,
which hard links cannot share).

`--memory-files N` (default 1,000,000) then measures the memory of a daily on N small files (16-256 bytes: the
file count, not the size, drives rsync's and our memory): after two dailies, an unchanged daily of ours and of
bare `rsync --link-dest` with the peak RSS of the whole process tree (the sum of VmRSS over the tree, sampled
every 20 ms) and of its largest process (VmHWM, exact). `--memory-files 0` skips it.

    python benchmarks/backup_bench.py [--files 100000] [--reps 3] [--dir /var/tmp] [--no-cold]
                                      [--memory-files 1000000] [--keep] [--json]
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
    times: dict[str, list[float]] = field(default_factory=dict)  # key: "<scenario>|<cache>"
    read: dict[str, list[int]] = field(default_factory=dict)
    written: dict[str, list[int]] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    data: dict[str, int] = field(default_factory=dict)
    rsync_only: dict[str, list[float]] = field(default_factory=dict)

    def record(self, key: str, m: Measured) -> None:
        self.times.setdefault(key, []).append(m.seconds)
        self.read.setdefault(key, []).append(m.read_bytes)
        self.written.setdefault(key, []).append(m.write_bytes)


@dataclass(frozen=True)
class Measured:
    seconds: float
    read_bytes: int  # what the process tree read from the block device
    write_bytes: int  # what it wrote (dirtied) to it
    peak_tree_rss: int = 0  # sampled sum of VmRSS over the tree (only with sampling)
    peak_process_rss: int = 0  # the largest single process's VmHWM (ru_maxrss of the reaped children)


# ------------------------------------------------------------------------------- measuring a process tree


def measure(commands: list[list[str]], *, sample: bool = False, **kwargs: object) -> Measured:
    """Run `commands` one after another in a wrapper process and return what the wrapper's tree did: wall time,
    block-device bytes read and written by every descendant (getrusage RUSAGE_CHILDREN counts the kernel's
    read_bytes/write_bytes in 512-byte blocks of each child once it is reaped, recursively), and with `sample`
    the peak of the summed RSS of the whole tree."""
    spec = json.dumps({"commands": commands, "sample": sample})
    res = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--wrap", spec],
        capture_output=True,
        text=True,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    if res.returncode != 0:
        raise SystemExit(f"measured run failed: {commands}: {res.stderr.strip()[-2000:]}")
    data = json.loads(res.stdout.strip().splitlines()[-1])
    return Measured(**data)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _wrap(spec_text: str) -> int:
    """The wrapper: runs the commands (output discarded), prints one JSON line with what they cost."""
    import resource
    import threading

    spec = json.loads(spec_text)
    peak = 0
    started = time.monotonic()
    for argv in spec["commands"]:
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        done = threading.Event()

        def sampler(pid: int = child.pid, done: threading.Event = done) -> None:
            nonlocal peak
            while not done.wait(0.02):
                peak = max(peak, sum(_rss(p) for p in _descendants(pid)))

        thread = threading.Thread(target=sampler, daemon=True) if spec["sample"] else None
        if thread:
            thread.start()
        code = child.wait()
        done.set()
        if thread:
            thread.join()
        if code != 0:
            print(f"{argv[:3]} exit {code}", file=sys.stderr)
            return 1
    seconds = time.monotonic() - started
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "read_bytes": ru.ru_inblock * 512,
                "write_bytes": ru.ru_oublock * 512,
                "peak_tree_rss": peak,
                "peak_process_rss": ru.ru_maxrss * 1024,
            }
        )
    )
    return 0


DROP = Path("/proc/sys/vm/drop_caches")


def drop_caches() -> None:
    """Cold state: write back dirty pages, then drop the page cache, dentries and inodes (the whole machine's)."""
    os.sync()
    DROP.write_text("3\n")


def can_drop_caches() -> str:
    """'' when dropping caches works here, else why not."""
    try:
        drop_caches()
    except OSError as e:
        return f"cannot write {DROP} ({e.strerror}): run as root on a machine (not a container that hides it)"
    return ""


def make_tree(src: Path, files: int, seed: int = 7, sizes: tuple[int, int] = (1024, 4096)) -> int:
    rnd = random.Random(seed)
    total = 0
    per = max(1, files // FOLDERS)
    for i in range(files):
        folder = src / f"d{i // per:04d}"
        if i % per == 0:
            folder.mkdir(parents=True, exist_ok=True)
        data = rnd.randbytes(rnd.randint(*sizes))
        (folder / f"f{i:07d}.dat").write_bytes(data)
        total += len(data)
    return total


def change(src: Path, files: int, fraction: float, day: int) -> int:
    """Rewrite a fresh `fraction` of the files (new content, new size); returns the bytes written."""
    rnd = random.Random(1000 + day)
    per = max(1, files // FOLDERS)
    written = 0
    for i in rnd.sample(range(files), int(files * fraction)):
        data = rnd.randbytes(rnd.randint(1024, 4096))
        (src / f"d{i // per:04d}" / f"f{i:07d}.dat").write_bytes(data)
        written += len(data)
    return written


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


def ours(src: Path, target: Path, day: date, inventory: Path, *, sample: bool = False) -> tuple[Measured, float]:
    env = {**os.environ, "COLAB_INVENTORY": str(inventory), "COLAB_NETGUARD": "1"}
    argv = [sys.executable, "-m", "invoke", "backup.daily", "--source", str(src), "--target", str(target),
            "--now", f"{day.isoformat()}T03:15", "--no-dumps"]  # fmt: skip
    m = measure([argv], sample=sample, cwd=ROOT, env=env)
    meta = json.loads((target / ".colab-backup" / "meta" / f"fortress-{day:%Y%m%d}.json").read_text())
    return m, float(meta["seconds"])


def ours_snapshots(target: Path) -> list[Path]:
    return sorted(p for p in target.iterdir() if p.name.startswith("fortress-2"))


def bare(src: Path, target: Path, day: date, *, sample: bool = False) -> Measured:
    previous = sorted(target.iterdir())
    new = target / f"{day:%Y%m%d}"
    argv = ["rsync", "-a", "--delete"] + ([f"--link-dest={previous[-1]}"] if previous else [])
    return measure([[*argv, f"{src}/", f"{new}/"]], sample=sample)


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


def rsnapshot(conf: Path) -> Measured:
    return measure([["rsnapshot", "-c", str(conf), "sync"], ["rsnapshot", "-c", str(conf), "daily"]])


def rsnapshot_snapshots(root: Path) -> list[Path]:
    snaps = root / "snapshots"
    dailies = [snaps / f"daily.{n}" for n in range(9, -1, -1) if (snaps / f"daily.{n}").is_dir()]
    return dailies  # oldest first; daily.0 is the newest


# -------------------------------------------------------------------------------------------- the run


def run(files: int, reps: int, workdir: Path, keep: bool, cold: bool) -> dict[str, object]:
    for tool in ("rsync", "rsnapshot", "du"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (scripts/ci-setup installs it)")
    if cold and (why := can_drop_caches()):
        raise SystemExit(f"cold runs need dropping the page cache: {why}; or pass --no-cold")
    base = Path(tempfile.mkdtemp(prefix="colab-backup-bench-", dir=workdir))
    src, t_ours, t_bare, t_rsn = base / "src", base / "ours", base / "bare", base / "rsnapshot"
    for p in (t_ours, t_bare, t_rsn):
        p.mkdir()
    (t_ours / ".colab-backup").mkdir()
    tools = {n: Tool(n) for n in ("ours", "bare link-dest", "rsnapshot")}
    caches = ("hot", "cold") if cold else ("hot",)
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
                for cache in caches:
                    key = f"{scenario}|{cache}"
                    if scenario != "unchanged":
                        changed_bytes = change(src, files, 0.01, day.toordinal())
                    prepare = drop_caches if cache == "cold" else (lambda: None)
                    prepare()
                    m, rs = ours(src, t_ours, day, inventory)
                    tools["ours"].record(key, m)
                    tools["ours"].rsync_only.setdefault(key, []).append(rs)
                    prepare()
                    tools["bare link-dest"].record(key, bare(src, t_bare, day))
                    prepare()
                    tools["rsnapshot"].record(key, rsnapshot(conf))
                    if rep == reps - 1 and cache == caches[-1]:
                        for name, snaps in (
                            ("ours", ours_snapshots(t_ours)),
                            ("bare link-dest", sorted(t_bare.iterdir())),
                            ("rsnapshot", rsnapshot_snapshots(t_rsn)),
                        ):
                            tools[name].added[scenario] = du_added(snaps[:-1], snaps[-1])
                            tools[name].data[scenario] = data_added(snaps[:-1], snaps[-1])
                    day += timedelta(days=1)
                    log(f"{scenario}, {cache}, rep {rep + 1}: " + ", ".join(
                        f"{t.name} {t.times[key][-1]:.2f}s" for t in tools.values()))  # fmt: skip
        return report(tools, files, size, changed_bytes, reps, caches)
    finally:
        if keep:
            log(f"kept {base}")
        else:
            subprocess.run(["rm", "-rf", str(base)], check=False)


def memory_run(files: int, workdir: Path, keep: bool) -> dict[str, object]:
    """Peak memory of an unchanged daily on `files` small files: ours and bare rsync --link-dest."""
    base = Path(tempfile.mkdtemp(prefix="colab-backup-mem-", dir=workdir))
    src, t_ours, t_bare = base / "src", base / "ours", base / "bare"
    for p in (t_ours, t_bare):
        p.mkdir()
    (t_ours / ".colab-backup").mkdir()
    try:
        started = time.monotonic()
        size = make_tree(src, files, sizes=(16, 256))
        log(f"memory tree: {files:,} files, {size / 1e6:.0f} MB in {time.monotonic() - started:.1f}s ({base})")
        inventory = bench_inventory(base)
        day = date(2024, 1, 1)
        for _ in range(2):
            ours(src, t_ours, day, inventory)
            bare(src, t_bare, day)
            day += timedelta(days=1)
        m_ours, rs = ours(src, t_ours, day, inventory, sample=True)
        m_bare = bare(src, t_bare, day, sample=True)
        rows = []
        for name, m in (("ours", m_ours), ("bare link-dest", m_bare)):
            rows.append(
                {
                    "tool": name,
                    "seconds": round(m.seconds, 2),
                    "peak_tree_rss_bytes": m.peak_tree_rss,
                    "peak_process_rss_bytes": m.peak_process_rss,
                }
            )
        log(f"memory: ours {m_ours.peak_tree_rss / 2**20:.0f} MiB, bare {m_bare.peak_tree_rss / 2**20:.0f} MiB")
        return {"files": files, "bytes": size, "rows": rows, "ours_rsync_s": rs}
    finally:
        if keep:
            log(f"kept {base}")
        else:
            subprocess.run(["rm", "-rf", str(base)], check=False)


def report(
    tools: dict[str, Tool], files: int, size: int, changed: int, reps: int, caches: tuple[str, ...]
) -> dict[str, object]:
    rows = []
    for scenario in ("unchanged", "1% changed"):
        for cache in caches:
            key = f"{scenario}|{cache}"
            ref = statistics.median(tools["ours"].times[key])
            for t in tools.values():
                med = statistics.median(t.times[key])
                row = {
                    "scenario": scenario,
                    "cache": cache,
                    "tool": t.name,
                    "median_s": round(med, 2),
                    "min_s": round(min(t.times[key]), 2),
                    "ours_vs_tool": round(ref / med, 2),
                    "read_bytes": int(statistics.median(t.read[key])),
                    "written_bytes": int(statistics.median(t.written[key])),
                    "added_bytes": t.added[scenario],
                    "data_added_bytes": t.data[scenario],
                }
                if t.rsync_only:
                    row["rsync_s"] = round(statistics.median(t.rsync_only[key]), 2)
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
    cols = ("scenario", "cache", "tool", "median s", "ours ÷ tool", "read MB", "written MB", "data added", "du added")
    for col in cols:
        table.add_column(col, justify="left" if col in ("scenario", "cache", "tool") else "right")
    for r in result["rows"]:  # type: ignore[attr-defined]
        name = r["tool"] + (f" (rsync {r['rsync_s']}s)" if "rsync_s" in r else "")
        table.add_row(
            r["scenario"], r["cache"], name, f"{r['median_s']:.2f}", f"{r['ours_vs_tool']:.2f}",
            f"{r['read_bytes'] / 1e6:.1f}", f"{r['written_bytes'] / 1e6:.1f}",
            f"{r['data_added_bytes'] / 1e6:.1f} MB", f"{r['added_bytes'] / 1e6:.1f} MB",
        )  # fmt: skip
    console = Console(width=140)
    console.print(table)
    mem = result.get("memory")
    if isinstance(mem, dict):
        t2 = Table(title=f"unchanged daily of {mem['files']:,} small files: memory", title_justify="left")
        for col in ("tool", "seconds", "peak RSS, whole tree", "largest process"):
            t2.add_column(col, justify="left" if col == "tool" else "right")
        for r in mem["rows"]:
            t2.add_row(
                r["tool"], f"{r['seconds']:.1f}", f"{r['peak_tree_rss_bytes'] / 2**20:.0f} MiB",
                f"{r['peak_process_rss_bytes'] / 2**20:.0f} MiB",
            )  # fmt: skip
        console.print(t2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="work folder (same file system for all)")
    parser.add_argument("--keep", action="store_true", help="keep the trees afterwards")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-cold", dest="cold", action="store_false", help="skip the cold-cache runs")
    parser.add_argument("--memory-files", type=int, default=1_000_000, help="files for the memory run (0: skip)")
    parser.add_argument("--wrap", help=argparse.SUPPRESS)  # internal: the measuring wrapper process
    args = parser.parse_args()
    if args.wrap:
        return _wrap(args.wrap)
    result = run(args.files, args.reps, args.dir, args.keep, args.cold)
    if args.memory_files:
        result["memory"] = memory_run(args.memory_files, args.dir, args.keep)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
