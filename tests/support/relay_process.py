"""Runs one outbox relay for a schema until killed: `python -m tests.support.relay_process URL SCHEMA`, its Kafka
access in the environment (`TEST_RELAY_KAFKA_*`, shared.kafka_security.KafkaAccess.environment)."""

import asyncio
import sys

from sqlalchemy import MetaData

from shared.db import create_engine, messaging_tables
from shared.kafka_security import KafkaAccess
from shared.relay import OutboxRelay


async def main(url: str, schema: str) -> None:
    engine = create_engine(url, pool_size=2)
    _, outbox = messaging_tables(MetaData(schema=schema))
    await OutboxRelay(engine=engine, table=outbox, schema=schema, kafka=KafkaAccess.from_env("TEST_RELAY_"),
                      poll_interval=0.2).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
