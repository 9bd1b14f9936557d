"""Backups of fortress on the backup node: rsync snapshots, PostgreSQL dumps, retention, restore, check, off-site.

A snapshot is built under a temporary name (`.fortress-YYYYMMDD.tmp`) and renamed to its final name only when
complete: that rename is in `runs` (`_finalize`, `_put_in_place`); `snapshot_plan` picks the tree it starts from.

- `runs`: the daily and weekly runs (lock, ping, dumps, one snapshot, retention, ping) and `prune` as a run.
- `snapshot_plan`: what a snapshot run will do, decided from the volume's state (pure).
- `snapshots`: snapshot names and the volume's layout, `fortress-latest`, the atomic swap, metadata files.
- `rsync`: command lines, exit codes, stats; `vanish`: a source that vanished mid-run.
- `state`: the backup's own entries on the volume (`.colab-backup/`, dump folders), never through a symlink.
- `retention`: borg-style keep rules (pure); `prune`: expired snapshots to the trash, the trash emptied.
- `dumps`: pg_dump through Compose, checked, then renamed into place.
- `lock`: one run at a time; `ping`: health pings; `space`: disk usage and free room.
- `listing` (`backup.list`), `restore` (with `walk`: paths walked without following symlinks), `check`.
- `offsite`: the restic commands of the off-site copy; `offsite_run`: `backup.offsite` copy, check and restore.
- `config`: the inventory's backup section with --source/--target/--now; `output`: how runs print.
- `commands`: the backup tasks as functions; `remote`: re-run on the backup node; `install`: the root-owned
  install /opt/colab that cron runs. Tasks live in tasks/backup.py.
"""
