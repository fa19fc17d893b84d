"""Creates the contract's topics and their dead-letter twins explicitly (the broker's auto-creation is off), and
the ACLs of shared/principals.py, as the admin principal.

`python -m shared.kafka_admin [--bootstrap HOST:PORT[,HOST:PORT...]] [--partitions N] [--replication N]
[--min-insync N] setup|ping|acls` — idempotent; the admin's credentials come from the state folder the scripts fill
(shared.kafka_security.local_access). How many copies a topic has is a setting of this step, never of a service:
deploy/kafka.sh passes min(3, nodes) and 2 in-sync copies on three nodes (README "A three-broker cluster").
"""

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared import kafka_acls, topics
from shared.kafka_security import KafkaAccess, local_access
from shared.principals import ADMIN

DEFAULT_PARTITIONS = 6
# A dead letter is the bad record whole plus headers saying why: its topic takes records twice the broker's
# default size, so any record the broker accepted on a contract topic fits in its dead-letter twin.
DLQ_MAX_MESSAGE_BYTES = 2 * 1024 * 1024 + 65536
DLQ_RETENTION_DAYS = 30  # dead letters are kept a month for inspection and replay (`postloan dlq`)
MAX_REPLICATION = 3  # one broker may be down (lost, or restarted) while writes go on to two; more cost disk and network


def replication_for(brokers: int) -> int:
    """The replication factor a cluster of `brokers` gives its topics when the caller names none."""
    return min(MAX_REPLICATION, brokers)


def min_insync_for(replication: int) -> int:
    """In-sync copies an acks=all write needs: two of three (one broker may be down and nothing acknowledged is lost
    with it); with fewer copies, one (a laptop's single broker keeps taking writes)."""
    return 2 if replication >= MAX_REPLICATION else 1


async def partitions_of(consumer: AIOKafkaConsumer, names: Iterable[str]) -> list[TopicPartition]:
    """Every partition of `names` the broker shows, for a consumer that subscribes to nothing (its own metadata knows
    no topic, so the cluster's is asked); a topic the broker does not show has none."""
    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(t, p) for t in names for p in sorted(cluster.partitions_for_topic(t) or ())]


def topic_configs(name: str, *, dlq_retention_days: int = DLQ_RETENTION_DAYS,
                  min_insync: int | None = None) -> dict[str, str]:
    """Per-topic settings: dead-letter topics get their own size limit and retention; `min_insync` (when given) goes
    on every topic; the rest are the broker's."""
    configs = {} if min_insync is None else {"min.insync.replicas": str(min_insync)}
    if not name.endswith(".dlq"):
        return configs
    return {**configs, "max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES),
            "retention.ms": str(dlq_retention_days * 24 * 3600 * 1000)}


@contextlib.asynccontextmanager
async def admin_client(access: KafkaAccess) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**access.client_kwargs(), request_timeout_ms=15000)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(
    access: KafkaAccess,
    *,
    names: Iterable[str] = topics.ALL_WITH_DLQ,
    partitions: int = DEFAULT_PARTITIONS,
    replication: int | None = None,
    min_insync: int | None = None,
) -> list[str]:
    """Creates the missing topics among `names` with `replication` copies (default: min(3, the brokers the cluster
    shows)) of which `min_insync` must take a write (default: `min_insync_for(replication)`); returns the ones it
    created (`access` must be allowed to: admin)."""
    async with admin_client(access) as admin:
        names = list(names)
        if replication is None:
            replication = replication_for(len((await admin.describe_cluster())["brokers"]))
        isr = min_insync_for(replication) if min_insync is None else min_insync
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            response = await admin.create_topics([NewTopic(n, partitions, replication,
                                                           topic_configs=topic_configs(n, min_insync=isr))
                                                  for n in missing])
            for name, code, message in _errors(response):
                if code and code != TopicAlreadyExistsError.errno:
                    raise RuntimeError(f"creating topic {name} failed: {code} {message}")
        # Topics made by an earlier version get the settings too (altering them is idempotent).
        older = [ConfigResource(ConfigResourceType.TOPIC, n, configs=topic_configs(n, min_insync=isr))
                 for n in names if n in existing]
        if older:
            await admin.alter_configs(older)
        return missing


def _errors(response: object) -> list[tuple[str, int, str | None]]:
    return [(e[0], e[1], e[2] if len(e) > 2 else None) for e in getattr(response, "topic_errors", [])]


async def _wait_for_broker(access: KafkaAccess, seconds: float, brokers: int) -> None:
    """Returns once the cluster answers a metadata request as `access` listing at least `brokers` brokers (a broker
    opens its port before it is ready; topics of N copies need N brokers registered)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            async with admin_client(access) as admin:
                if len((await admin.describe_cluster())["brokers"]) >= brokers:
                    return
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"fewer than {brokers} brokers registered after {seconds} s")
        await asyncio.sleep(0.5)


async def _command(command: str, access: KafkaAccess, args: argparse.Namespace) -> None:
    if args.wait:
        await _wait_for_broker(access, args.wait, args.replication or 1)
    if command == "ping":
        async with admin_client(access) as admin:
            await admin.list_topics()
    elif command == "acls":  # what the broker holds, like `kafka-acls --list`
        async with admin_client(access) as admin:
            print("\n".join(str(acl) for acl in sorted(await kafka_acls.listed(admin))))
    else:
        created = await ensure_topics(access, partitions=args.partitions, replication=args.replication,
                                      min_insync=args.min_insync)
        print(f"topics: {len(created)} created, {len(topics.ALL_WITH_DLQ) - len(created)} already there")
        if access.protocol == "SASL_SSL":  # a PLAINTEXT broker has no authorizer to hold ACLs
            async with admin_client(access) as admin:
                added, removed = await kafka_acls.ensure(admin)
            print(f"acls: {len(added)} created, {len(removed)} removed, {len(kafka_acls.wanted())} in force")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    parser.add_argument("--replication", type=int, default=None,
                        help="Copies of each new topic's partitions (default: min(3, the brokers the cluster shows)).")
    parser.add_argument("--min-insync", type=int, default=None,
                        help="In-sync copies a write needs, set on every topic (default: 2 with 3 copies, else 1).")
    parser.add_argument("--wait", type=float, default=0,
                        help="Seconds to wait for the cluster to answer (with --replication brokers) first.")
    parser.add_argument("command", nargs="?", choices=("setup", "ping", "acls"), default="setup")
    args = parser.parse_args()
    asyncio.run(_command(args.command, local_access(ADMIN, args.bootstrap), args))


if __name__ == "__main__":
    main()
