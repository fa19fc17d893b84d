"""How many copies topics get is a setting of the topic step and the launcher, never of a service: min(3, brokers)
copies, two of which must take a write once there are three (README "A three-broker cluster")."""

import os
import subprocess
from pathlib import Path

import pytest

from shared.kafka_admin import DLQ_MAX_MESSAGE_BYTES, min_insync_for, replication_for, topic_configs

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("brokers", "copies", "in_sync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_copies_follow_the_brokers_up_to_three(brokers: int, copies: int, in_sync: int) -> None:
    assert replication_for(brokers) == copies
    assert min_insync_for(copies) == in_sync


def test_min_insync_goes_on_every_topic_when_given_and_dead_letters_keep_their_own_settings() -> None:
    assert topic_configs("requests.commands") == {}
    assert topic_configs("requests.commands", min_insync=2) == {"min.insync.replicas": "2"}
    dlq = topic_configs("requests.commands.dlq", min_insync=2)
    assert dlq["min.insync.replicas"] == "2" and dlq["max.message.bytes"] == str(DLQ_MAX_MESSAGE_BYTES)


def _launcher(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "deploy" / "kafka.sh"), *args], capture_output=True, text=True, check=False,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")},
                               "POSTLOAN_STATE_DIR": str(tmp_path), **env})


@pytest.mark.parametrize(("nodes", "expected"), [
    ("1", "127.0.0.1:19300"),
    ("3", "127.0.0.1:19300,127.0.0.1:19302,127.0.0.1:19304"),  # controllers take the odd ports between
])
def test_the_launcher_gives_clients_every_node(nodes: str, expected: str, tmp_path: Path) -> None:
    done = _launcher("bootstrap", tmp_path=tmp_path, KAFKA_NODES=nodes, KAFKA_PORT="19300")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_a_running_cluster_is_remembered_so_stop_and_status_need_no_flag(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "nodes-19300").write_text("3\n")
    done = _launcher("bootstrap", tmp_path=tmp_path, KAFKA_PORT="19300")
    assert done.stdout.strip().count(",") == 2, done.stdout


@pytest.mark.parametrize("nodes", ["0", "three", "12"])
def test_a_bad_node_count_is_refused_clearly(nodes: str, tmp_path: Path) -> None:
    done = _launcher("bootstrap", tmp_path=tmp_path, KAFKA_NODES=nodes)
    assert done.returncode == 2
    assert "KAFKA_NODES must be a number from 1 to 9" in done.stderr

