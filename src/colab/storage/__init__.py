"""Storage: the fortress Samba share, its client mounts on every OS, and the RAID1 backup volume.

Where the Samba password passes (from Infisical; never on disk, in an argv or in a log): on the server,
`fortress_share.password_step` sets it (`infisical run` → `smbpasswd -s` on stdin; `inv secrets.rotated` runs the
same step) and logs in with it; a Linux or WSL client's boot mount fetches it at boot (`boot`: the password unit,
a root-only tmpfs credentials file for mount.cifs); a Windows drive gets it in PowerShell's environment
(`WSLENV`) and macOS in the login Keychain (`security -i` on stdin), both in `mounts`.

- `samba`: the share section rendered from the inventory, applied to smb.conf through an include file.
- `fortress_share`: the server side (`inv fortress.share`): folders, share config, smbd, Samba passwords.
- `mounts`: the client side (`inv fortress.mount` / `fortress.unmount`) for Linux, WSL + Windows, macOS.
- `boot`: the boot mount on Linux (password unit → mount → Docker) and how it got fortress mounted.
- `fortress_status`: `inv fortress.status`: mounted where it should be, writable, how fast it reads.
- `raid`: guards and the exact command plan for the mdadm RAID1 volume (`inv raid.plan` / `raid.create`).
- `mdstat`: /proc/mdstat and `mdadm --detail` parsing, the monitor configuration for alerts.
- `commands`: the fortress.* and raid.* tasks as functions.
- `mount_table`: what `mount` and `findmnt` say (entries, the SMB mount at a path, a device's partitions).

Root and files come from the shared step blocks (`colab.privilege`, `colab.file_steps`).
"""
