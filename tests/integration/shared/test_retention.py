"""Retention deletes old sent outbox rows and old inbox entries in chunks, and keeps unsent rows and recent ones;
a service's own pruning (the notifier's delivered message bodies) keeps the rows it clears (real PostgreSQL)."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.infra import Infra
from services.notifier.repository import DeliveryRow
from shared.clock import FixedClock
from shared.db import create_engine, messaging_tables
from shared.retention import Pruner, clear_old

NOW = datetime(2020, 2, 3, 1, 0, tzinfo=UTC)  # the service's clock (the notifier's sent_at is written on it)


@pytest.fixture
async def schema(migrated: Infra) -> AsyncIterator[tuple[AsyncEngine, Table, Table]]:
    name = f"retention_{uuid.uuid4().hex[:8]}"
    engine = create_engine(migrated.database_url, pool_size=2)
    metadata = MetaData(schema=name)
    inbox, outbox = messaging_tables(metadata)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(metadata.create_all)
    yield engine, inbox, outbox
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    await engine.dispose()


def ago(days: float) -> Any:
    return text(f"now() - interval '{days * 24 * 3600} seconds'")  # the database's clock, as the defaults use


async def test_old_sent_outbox_rows_and_old_inbox_entries_are_deleted_in_chunks_and_unsent_rows_are_kept(
    schema: tuple[AsyncEngine, Table, Table]
) -> None:
    engine, inbox, outbox = schema
    async with engine.begin() as conn:
        # In id order: an old row never sent (say the relay was stuck on it), old sent rows, a recent sent row.
        for label, created, sent in [("old-unsent", 40, None)] + [("old-sent", 9, 8)] * 5 + [("recent-sent", 2, 1)]:
            await conn.execute(insert(outbox).values(topic=label, value=b"{}", created_at=ago(created),
                                                     sent_at=None if sent is None else ago(sent)))
        for i in range(5):
            await conn.execute(insert(inbox).values(source="tests", message_id=f"old-{i}", topic="t",
                                                    processed_at=ago(31)))
        await conn.execute(insert(inbox).values(source="tests", message_id="recent", topic="t", processed_at=ago(29)))
    pruner = Pruner(engine=engine, outbox=outbox, inbox=inbox, clock=FixedClock(NOW), outbox_sent_days=7,
                    inbox_days=30, chunk=2)  # 2 rows a statement: the old rows take several statements
    assert await pruner.prune_once() == {"outbox_sent": 5, "inbox": 5}
    async with engine.connect() as conn:
        assert sorted((await conn.execute(select(outbox.c.topic))).scalars()) == ["old-unsent", "recent-sent"]
        assert list((await conn.execute(select(inbox.c.message_id))).scalars()) == ["recent"]
    assert await pruner.prune_once() == {"outbox_sent": 0, "inbox": 0}


async def test_the_notifier_hook_clears_old_delivered_bodies_and_keeps_the_rows(
    migrated: Infra, schema: tuple[AsyncEngine, Table, Table]
) -> None:
    engine, inbox, outbox = schema
    run = uuid.uuid4().hex[:8]
    rows = {"old-sent": ("SENT", NOW - timedelta(days=91)), "recent-sent": ("SENT", NOW - timedelta(days=89)),
            "old-failed": ("FAILED", None)}
    async with engine.begin() as conn:
        for label, (status, sent_at) in rows.items():
            await conn.execute(insert(DeliveryRow).values(
                notification_id=f"{run}-{label}", event_id=f"{run}-{label}", customer_id="C-1", channel="SMS",
                template="request_received", language="en", body=f"body of {label}", status=status, attempts=1,
                created_at=NOW - timedelta(days=100), sent_at=sent_at))
    hook = clear_old(DeliveryRow.c.body, value="", older=DeliveryRow.c.sent_at, where=DeliveryRow.c.status == "SENT",
                     days=90)
    pruner = Pruner(engine=engine, outbox=outbox, inbox=inbox, clock=FixedClock(NOW), outbox_sent_days=7,
                    inbox_days=30, hook=hook)
    try:
        assert (await pruner.prune_once())["service"] >= 1
        async with engine.connect() as conn:
            bodies = dict((await conn.execute(select(DeliveryRow.c.notification_id, DeliveryRow.c.body).where(
                DeliveryRow.c.notification_id.like(f"{run}-%")))).all())
        assert bodies == {f"{run}-old-sent": "", f"{run}-recent-sent": "body of recent-sent",
                          f"{run}-old-failed": "body of old-failed"}
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(DeliveryRow).where(DeliveryRow.c.notification_id.like(f"{run}-%")))
