"""The cluster's own metrics, for Prometheus through node-exporter's textfile collector (docs/monitoring.md).

- `textfile`: the Prometheus text format, and the atomic write into the collector's directory.
- `backup_metrics`: what every backup run leaves (last success, duration, bytes, snapshot and dump counts).
- `status_metrics`: an `inv status` run as metrics (nodes up, RAID, fortress, services, free space).
"""
