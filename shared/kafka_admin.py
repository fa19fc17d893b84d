"""Creates the contract's topics and their dead-letter twins explicitly (the broker's auto-creation is off).

`python -m shared.kafka_admin [--bootstrap HOST:PORT] [--partitions N]` — idempotent.
"""

import argparse
import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared import topics

DEFAULT_PARTITIONS = 6


async def ensure_topics(
    bootstrap: str,
    *,
    names: Iterable[str] = topics.ALL_WITH_DLQ,
    partitions: int = DEFAULT_PARTITIONS,
    replication: int = 1,
) -> list[str]:
    """Creates the missing topics among `names`; returns the ones it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            response = await admin.create_topics([NewTopic(n, partitions, replication) for n in missing])
            for name, code, message in _errors(response):
                if code and code != TopicAlreadyExistsError.errno:
                    raise RuntimeError(f"creating topic {name} failed: {code} {message}")
        return missing
    finally:
        await admin.close()


def _errors(response: object) -> list[tuple[str, int, str | None]]:
    return [(e[0], e[1], e[2] if len(e) > 2 else None) for e in getattr(response, "topic_errors", [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    args = parser.parse_args()
    created = asyncio.run(ensure_topics(args.bootstrap, partitions=args.partitions))
    print(f"topics: {len(created)} created, {len(topics.ALL_WITH_DLQ) - len(created)} already there")


if __name__ == "__main__":
    main()
