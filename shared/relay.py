"""The outbox relay: publishes a service's outbox rows to Kafka in id order and marks them sent.

Exactly one relay per service is active (a PostgreSQL session advisory lock); the others wait and take
over when its connection goes. It wakes on NOTIFY from committing writers, or on a short poll.
Publishing is at-least-once (a crash between publish and mark repeats rows); consumers de-duplicate on
the CloudEvent id.
"""

import asyncio
import zlib
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import outbox
from shared.db import is_transient, notify_channel
from shared.kafka_admin import DLQ_MAX_MESSAGE_BYTES

log = structlog.get_logger("postloan.relay")


class OutboxRelay:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        table: Table,
        schema: str,
        bootstrap: str,
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        self._engine = engine
        self._table = table
        self._schema = schema
        self._bootstrap = bootstrap
        self._batch_size = batch_size
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.active = False
        self.published = 0
        self.lock_refused = 0  # times this copy found another copy leading (tests wait on it, not on sleeps)
        self._mark_sent = text(
            f'UPDATE "{table.schema}".{table.name} SET sent_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))'
        )

    async def run(self) -> None:
        """Runs until `stop()`; failures of Kafka or PostgreSQL are waited out, never fatal."""
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                async with self._engine.connect() as conn:
                    await self._lead_if_free(conn)
                backoff = 0.2
            except Exception as exc:
                level = "warning" if is_transient(exc) or isinstance(exc, KafkaError) else "error"
                getattr(log, level)("relay_interrupted", error=repr(exc))
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def _lead_if_free(self, conn: AsyncConnection) -> None:
        lock = zlib.crc32(f"{self._schema}.outbox-relay".encode())
        got = await conn.scalar(select(func.pg_try_advisory_lock(lock)))
        await conn.commit()
        if not got:
            self.lock_refused += 1
            await self._sleep(self._poll * 2)  # another copy leads; look again later
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
            max_batch_size=256 * 1024,  # fewer, fuller produce requests when a round sends thousands of rows
            max_request_size=DLQ_MAX_MESSAGE_BYTES + 65536,  # a dead letter may carry a record of the broker's limit
        )
        raw = (await conn.get_raw_connection()).driver_connection
        channel = notify_channel(self._schema)
        try:
            await producer.start()
            await raw.add_listener(channel, self._on_notify)
            self.active = True
            log.info("relay_leading", schema=self._schema)
            while not self._stopping.is_set():
                if await self._publish_round(conn, producer) < self._batch_size:
                    await self._sleep(self._poll)
        finally:
            self.active = False
            await producer.stop()
            if not raw.is_closed():
                await raw.remove_listener(channel, self._on_notify)
                # The connection goes back to the pool: the session lock must not go with it.
                await conn.scalar(select(func.pg_advisory_unlock(lock)))
                await conn.commit()

    async def _publish_round(self, conn: AsyncConnection, producer: AIOKafkaProducer) -> int:
        self._wake.clear()
        rows = await outbox.pending(conn, self._table, self._batch_size)
        await conn.commit()
        if not rows:
            return 0
        futures = [
            await producer.send(r.topic, r.value, key=r.key, headers=outbox.kafka_headers(r.headers)) for r in rows
        ]
        results = await asyncio.gather(*futures, return_exceptions=True)
        done = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                break  # keep id order: nothing after a failed row is marked sent
            done.append(row.id)
        if done:
            # One array parameter: the statement stays the same (and cached) whatever the number of rows.
            await conn.execute(self._mark_sent, {"ids": done})
            await conn.commit()
            self.published += len(done)
        if len(done) < len(rows):
            failed = next(r for r in results if isinstance(r, BaseException))
            raise failed
        return len(done)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
