"""Three Kafka brokers and a fresh database, for the tests that ask for a cluster (marker `cluster`).

deploy/kafka.sh starts the cluster (KAFKA_NODES=3: combined broker+controller nodes on loopback, SASL_SSL, SCRAM,
ACLs, topics with three copies of which two must take a write) in a state folder of its own, .local/test-cluster,
so the one-broker run of harness/infra.py is untouched; node n serves clients on POSTLOAN_TEST_CLUSTER_PORT+2(n-1)
and its controller one port above. A fault test kills a node (`Cluster.kill`) and starts it again (`Cluster.start`).
"""

import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from harness.infra import ROOT, Infra, _launcher, _native_postgres, fresh_database
from shared import topics
from shared.kafka_admin import admin_client
from shared.kafka_security import KafkaAccess

TEST_CLUSTER_PORT = int(os.environ.get("POSTLOAN_TEST_CLUSTER_PORT", "19300"))
CLUSTER_STATE = ROOT / ".local" / "test-cluster"
NODES = 3
OFFSETS_TOPIC = "__consumer_offsets"  # the groups' committed offsets: replicated like the contract's topics


@dataclass(frozen=True)
class Node:
    id: int  # the node.id deploy/kafka.sh gives it (1..NODES)
    port: int  # its client listener (SASL_SSL)

    @property
    def pidfile(self) -> Path:
        return CLUSTER_STATE / "kafka" / f"kafka-{self.port}.pid"

    def pid(self) -> int | None:
        """The JVM's process id while it runs (a killed node's pid file stays behind; the process does not)."""
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pidfile.read_text())
            if _alive(pid):
                return pid
        return None


@dataclass(frozen=True)
class Cluster:
    nodes: tuple[Node, ...]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def node(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def launcher_env(self, *, fresh: bool = False) -> dict[str, str]:
        return {"KAFKA_NODES": str(len(self.nodes)), "KAFKA_PORT": str(self.nodes[0].port),
                "KAFKA_CONTROLLER_PORT": str(self.nodes[0].port + 1), "POSTLOAN_STATE_DIR": str(CLUSTER_STATE),
                "POSTLOAN_PYTHON": sys.executable, **({"KAFKA_FRESH": "1"} if fresh else {})}

    def start(self) -> None:
        """Starts the nodes that are not running and returns once every node serves clients (blocking: a test on an
        event loop runs it in a thread)."""
        _launcher("kafka.sh", "start", env=self.launcher_env())

    def kill(self, node: Node) -> None:
        """`kill -9` of the node's JVM: no shutdown hook, no controlled shutdown; returns once it is gone."""
        pid = node.pid()
        if pid is None:
            raise RuntimeError(f"node {node.id} is not running")
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.01)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie left for its reaper counts as gone: it holds no port and serves nobody)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextlib.contextmanager
def _running_cluster() -> Iterator[tuple[Cluster, str]]:
    cluster = Cluster(tuple(Node(i, TEST_CLUSTER_PORT + 2 * (i - 1)) for i in range(1, NODES + 1)))
    _launcher("kafka.sh", "stop", env=cluster.launcher_env())
    _launcher("kafka.sh", "start", env=cluster.launcher_env(fresh=True))  # every run starts from empty topics
    try:
        yield cluster, _launcher("kafka.sh", "version", env=cluster.launcher_env())
    finally:
        _launcher("kafka.sh", "stop", env=cluster.launcher_env())


@contextlib.asynccontextmanager
async def provide_cluster() -> AsyncIterator[tuple[Infra, Cluster]]:
    """The cluster and a fresh database (on POSTLOAN_TEST_DATABASE_URL's server, else the native one), as an `Infra`
    whose bootstrap lists the three brokers, and the `Cluster` to kill and restart nodes of."""
    with contextlib.ExitStack() as stack:
        cluster, version = stack.enter_context(_running_cluster())
        server = os.environ.get("POSTLOAN_TEST_DATABASE_URL")
        secrets = ROOT / ".local" / "test" / "secrets" / "postgres"
        if server is None:
            server, secrets = stack.enter_context(_native_postgres())
        async with fresh_database(server, secrets) as (url, pg_version, service_urls):
            yield Infra(cluster.bootstrap, url, version, pg_version, f"{NODES} brokers (deploy/kafka.sh)",
                        service_urls, CLUSTER_STATE), cluster


@dataclass(frozen=True)
class PartitionState:
    replicas: tuple[int, ...]
    isr: tuple[int, ...]  # the replicas in sync with the leader
    leader: int  # -1: none

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)


async def partition_states(admin: AIOKafkaAdminClient, names: Iterable[str] = (*topics.ALL_WITH_DLQ, OFFSETS_TOPIC)
                           ) -> dict[tuple[str, int], PartitionState]:
    """Each partition of `names` as the cluster's metadata shows it now."""
    return {(t["topic"], p["partition"]): PartitionState(tuple(p["replicas"]), tuple(p["isr"]), p["leader"])
            for t in await admin.describe_topics(list(names)) for p in t["partitions"]}


async def under_replicated(access: KafkaAccess) -> int:
    """Partitions (of the contract's topics and the groups' offsets) with fewer in-sync replicas than replicas."""
    async with admin_client(access) as admin:
        return sum(s.under_replicated for s in (await partition_states(admin)).values())
