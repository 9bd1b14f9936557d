"""An `inv status` result as metrics: exactly the samples for a healthy and a critical cluster; a node that
could not be asked is `colab_node_up 0` and nothing else; read samples go to their own file."""

from __future__ import annotations

from colab.metrics import status_metrics as sm
from colab.metrics import textfile

from .clusters import critical, healthy


def samples(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_a_critical_cluster_exactly() -> None:
    text = textfile.exposition(sm.families(critical(), finished=1_704_430_800.5, seconds=1.42))
    assert samples(text) == [
        'colab_node_up{node="cooperator",availability="always"} 1',
        'colab_node_up{node="director",availability="always"} 1',
        'colab_node_up{node="terminator",availability="always"} 0',
        'colab_node_up{node="projector",availability="on-demand"} 0',
        'colab_check_level{node="cooperator",check="mesh"} 0',
        'colab_check_level{node="cooperator",check="lan"} 0',
        'colab_check_level{node="cooperator",check="docker"} 0',
        'colab_check_level{node="cooperator",check="fortress"} 0',
        'colab_check_level{node="cooperator",check="services"} 2',
        'colab_check_level{node="cooperator",check="raid"} 2',
        'colab_check_level{node="cooperator",check="backup"} 2',
        'colab_check_level{node="cooperator",check="free"} 0',
        'colab_check_level{node="director",check="mesh"} 0',
        'colab_check_level{node="director",check="lan"} 0',
        'colab_check_level{node="director",check="docker"} 0',
        'colab_check_level{node="director",check="fortress"} 2',
        'colab_check_level{node="director",check="raid"} 1',
        'colab_fortress_mounted{node="cooperator"} 1',
        'colab_fortress_mounted{node="director"} 0',
        'colab_service_healthy{node="cooperator",service="caddy"} 1',
        'colab_service_healthy{node="cooperator",service="gitea"} 0',
        'colab_service_healthy{node="cooperator",service="prometheus"} 0',
        'colab_raid_state{node="cooperator",device="/dev/md0",state="clean"} 0',
        'colab_raid_state{node="cooperator",device="/dev/md0",state="check"} 0',
        'colab_raid_state{node="cooperator",device="/dev/md0",state="resync"} 0',
        'colab_raid_state{node="cooperator",device="/dev/md0",state="recovery"} 0',
        'colab_raid_state{node="cooperator",device="/dev/md0",state="degraded"} 1',
        'colab_raid_state{node="cooperator",device="/dev/md0",state="inactive"} 0',
        'colab_raid_state{node="cooperator",device="/dev/md0",state="failed"} 0',
        'colab_raid_state{node="cooperator",device="/dev/md0",state="missing"} 0',
        'colab_raid_state{node="director",device="/dev/md1",state="clean"} 0',
        'colab_raid_state{node="director",device="/dev/md1",state="check"} 0',
        'colab_raid_state{node="director",device="/dev/md1",state="resync"} 1',
        'colab_raid_state{node="director",device="/dev/md1",state="recovery"} 0',
        'colab_raid_state{node="director",device="/dev/md1",state="degraded"} 0',
        'colab_raid_state{node="director",device="/dev/md1",state="inactive"} 0',
        'colab_raid_state{node="director",device="/dev/md1",state="failed"} 0',
        'colab_raid_state{node="director",device="/dev/md1",state="missing"} 0',
        'colab_raid_sync_percent{node="director",device="/dev/md1"} 12.6',
        'colab_volume_size_bytes{node="cooperator",volume="fortress",path="/srv/fortress"} 1099511627776',
        'colab_volume_size_bytes{node="cooperator",volume="backup",path="/mnt/backup"} 2199023255552',
        'colab_volume_free_bytes{node="cooperator",volume="fortress",path="/srv/fortress"} 54975581388',
        'colab_volume_free_bytes{node="cooperator",volume="backup",path="/mnt/backup"} 1099511627776',
        'colab_status_problems{level="critical"} 5',
        'colab_status_problems{level="warning"} 1',
        "colab_status_last_run_timestamp_seconds 1704430800.5",
        "colab_status_run_seconds 1.42",
    ]


def test_a_healthy_cluster_has_no_problem_values() -> None:
    text = textfile.exposition(sm.families(healthy(), finished=0, seconds=0))
    lines = samples(text)
    assert 'colab_node_up{node="projector",availability="on-demand"} 0' in lines  # off: the rules ignore it
    assert 'colab_node_up{node="writer",availability="always"} 1' in lines
    assert [line for line in lines if line.startswith("colab_service_healthy")] == [
        'colab_service_healthy{node="cooperator",service="caddy"} 1',
        'colab_service_healthy{node="cooperator",service="gitea"} 1',
        'colab_service_healthy{node="cooperator",service="prometheus"} 1',
    ]
    assert 'colab_raid_state{node="cooperator",device="/dev/md0",state="clean"} 1' in lines
    assert not any(line.startswith("colab_raid_sync_percent") for line in lines)  # idle: no progress to show
    assert 'colab_status_problems{level="critical"} 0' in lines


def test_the_read_samples_file() -> None:
    assert samples(textfile.exposition(sm.read_families(healthy()))) == [
        'colab_fortress_read_mbps{node="cooperator"} 88.5'
    ]
    assert textfile.exposition(sm.read_families(critical())) == ""
