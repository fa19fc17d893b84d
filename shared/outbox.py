"""Outgoing messages: rows written in the caller's transaction, published later by the relay.

The writer never talks to Kafka; the relay never decides what to send.
"""

import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.db import copy_rows, notify_channel
from shared.envelope import CONTENT_TYPE, CloudEvent, encode


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of_event(cls, topic: str, event: CloudEvent[Any]) -> "OutgoingRecord":
        key = event.subject.encode() if event.subject is not None else None
        return cls(topic, key, encode(event), (("content-type", CONTENT_TYPE),))

    def row(self) -> dict[str, Any]:
        headers = json.dumps([list(h) for h in self.headers])  # COPY takes jsonb as text
        return {"topic": self.topic, "key": self.key, "value": self.value, "headers": headers}


_LEN = struct.Struct(">i")  # a field's length; -1 for an absent key


def pack(records: Sequence[OutgoingRecord]) -> bytes:
    """Records as one length-prefixed blob (topic, key, value, headers as JSON), byte for byte: cheap to write and
    to read back, with no JSON parsing of the values on either side."""
    parts: list[bytes] = []
    for r in records:
        headers = json.dumps([list(h) for h in r.headers]).encode()
        for field in (r.topic.encode(), r.key, r.value, headers):
            parts.append(_LEN.pack(-1 if field is None else len(field)))
            if field is not None:
                parts.append(field)
    return b"".join(parts)


def unpack(blob: bytes) -> list[OutgoingRecord]:
    fields: list[bytes | None] = []
    at = 0
    while at < len(blob):
        (size,) = _LEN.unpack_from(blob, at)
        at += _LEN.size
        fields.append(None if size < 0 else blob[at:at + size])
        at += max(size, 0)
    records = []
    for i in range(0, len(fields), 4):
        topic, key, value, headers = fields[i:i + 4]
        assert topic is not None and value is not None and headers is not None
        records.append(OutgoingRecord(topic.decode(), key, value, tuple((k, v) for k, v in json.loads(headers))))
    return records


async def add(session: AsyncSession | AsyncConnection, outbox: Table, records: Sequence[OutgoingRecord]) -> None:
    """Queues `records` in the current transaction (one COPY for all of them) and wakes the relay on commit."""
    if not records:
        return
    await copy_rows(session, outbox, [r.row() for r in records])
    await session.execute(text("SELECT pg_notify(:c, '')"), {"c": notify_channel(outbox.schema or "public")})


async def pending(conn: AsyncConnection, outbox: Table, limit: int) -> list[Any]:
    query = select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers)
    result = await conn.execute(query.where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(limit))
    return list(result.all())


def kafka_headers(headers: Iterable[Sequence[str]]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in headers]
