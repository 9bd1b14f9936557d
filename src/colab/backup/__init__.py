"""Backups of fortress on the backup node: rsync snapshots, PostgreSQL dumps, retention, restore, check.

One module per concern: `retention` (borg-style keep rules, pure), `snapshots` (names and layout on the
backup volume), `rsync` (command lines, exit codes, stats), `lock` (one run at a time), `ping` (health
pings), `dumps` (pg_dump through Compose), `plan` (what a run will do, pure), `runs` (the daily and weekly runs, prune),
`state` (the volume's own entries, never through a symlink), `vanish` (a source that vanished mid-run),
`prune`, `listing`, `restore` (with `walk`: paths walked without following symlinks), `check`, `remote`
(re-run on the backup node), `install` (the root-owned install /opt/colab that cron runs). Tasks live in
tasks/backup.py.
"""
