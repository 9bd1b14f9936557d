"""Storage: the fortress Samba share, its client mounts on every OS, and the RAID1 backup volume.

- `samba`: the share section rendered from the inventory, applied to smb.conf through an include file.
- `fortress_share`: the server side (`inv fortress.share`): folders, share config, smbd, Samba password.
- `mounts`: the client side (`inv fortress.mount` / `fortress.unmount`) for Linux, WSL + Windows, macOS.
- `status`: is fortress mounted where it should be, writable, and how fast does it read.
- `raid`: guards and the exact command plan for the mdadm RAID1 volume (`inv raid.plan` / `raid.create`).
- `mdstat`: /proc/mdstat and `mdadm --detail` parsing, the monitor configuration for alerts.
"""
