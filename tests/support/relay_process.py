"""Runs one outbox relay for a schema until killed: `python -m tests.support.relay_process URL SCHEMA BOOTSTRAP`."""

import asyncio
import sys

from sqlalchemy import MetaData

from shared.db import create_engine, messaging_tables
from shared.relay import OutboxRelay


async def main(url: str, schema: str, bootstrap: str) -> None:
    engine = create_engine(url, pool_size=2)
    _, outbox = messaging_tables(MetaData(schema=schema))
    await OutboxRelay(engine=engine, table=outbox, schema=schema, bootstrap=bootstrap, poll_interval=0.2).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
