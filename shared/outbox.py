"""Outgoing messages: rows written in the caller's transaction, published later by the relay.

The writer never talks to Kafka; the relay never decides what to send. A row the broker refuses for good is
moved to `outbox_parked` with its error (`park`), so nothing waits behind it.
"""

import json
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Table, Text, cast, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared import tracing
from shared.db import copy_rows, notify_channel
from shared.envelope import CONTENT_TYPE, CloudEvent, encode


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, str], ...] = ()
    # The headers as JSON text (what the outbox row and a stored answer hold), when worked out with the record:
    # `of_event` knows it for the price of a concatenation. Empty: worked out from `headers` when asked.
    headers_json: str = field(default="", compare=False, repr=False)

    @classmethod
    def of_event(cls, topic: str, event: CloudEvent[Any], trace: Mapping[str, str] | None = None) -> "OutgoingRecord":
        """The record of `event`. `trace` (shared.tracing.carrier) adds the trace context's CloudEvent attributes to
        the encoded event, beside the contract's, without a pass through the model: it is on every emitted event's
        path, and an extension attribute costs the model's validation and encoding more than the rest of the
        envelope. The traceparent also goes in a Kafka header (W3C, as every tracer reads it)."""
        return cls.of_encoded(topic, event.subject, encode(event), trace,
                              (event.model_extra or {}).get(tracing.TRACEPARENT))

    @classmethod
    def of_encoded(cls, topic: str, subject: str | None, value: bytes, trace: Mapping[str, str] | None = None,
                   traceparent: object = None) -> "OutgoingRecord":
        """The record of an encoded event (shared.envelope.encode_event), keyed by its `subject`; `trace` as in
        `of_event`, else `traceparent`, the one the event already carries."""
        key = subject.encode() if subject is not None else None
        if trace:
            members, carried, headers_json = _last_carrier.of(trace, _carried)
            value = b"{" + members + value[1:]  # the object's first members
            if headers_json:
                return cls(topic, key, value, (_CONTENT_TYPE, (tracing.TRACEPARENT, carried)), headers_json)
            traceparent = carried
        if isinstance(traceparent, str):
            return cls(topic, key, value, (_CONTENT_TYPE, (tracing.TRACEPARENT, traceparent)))
        return cls(topic, key, value, (_CONTENT_TYPE,), _UNTRACED_JSON)

    def row(self) -> dict[str, Any]:
        return {"topic": self.topic, "key": self.key, "value": self.value, "headers": self.json_headers()}

    def json_headers(self) -> str:
        return self.headers_json or _headers_json(self.headers)


_CONTENT_TYPE = ("content-type", CONTENT_TYPE)
_UNTRACED_JSON = json.dumps([list(_CONTENT_TYPE)])
_TRACED_JSON = f"{_UNTRACED_JSON[:-1]}, [{json.dumps(tracing.TRACEPARENT)}, "  # then the traceparent and "]]"


class _LastOne:
    """The last value worked out and what it was worked out from, looked up by identity: a decision's events share
    one carrier (the same mapping) and each trace has its own, so a cache keyed by value would miss on every new
    trace and hash its text first. The key is held, so its id is not reused while it is there; key and value are
    one tuple, replaced whole, so a reader never pairs one key with another's value."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[object, Any] = (object(), None)

    def of(self, key: Any, make: Callable[[Any], Any]) -> Any:
        held, value = self._last
        if held is not key:
            value = make(key)
            self._last = (key, value)
        return value


_last_carrier = _LastOne()


def _carried(trace: Mapping[str, str]) -> tuple[bytes, str | None, str]:
    """What a carrier (shared.tracing.carrier) puts in each record: its attributes as JSON object members, each
    followed by a comma (an encoded event has at least one member); its traceparent; and the headers' JSON with it
    ("" when there is none, or it is not as a tracer writes it: then that JSON is escaped when asked for)."""
    traceparent = trace.get(tracing.TRACEPARENT)
    plain = isinstance(traceparent, str) and _as_json_is(traceparent)
    headers_json = f'{_TRACED_JSON}"{traceparent}"]]' if plain else ""
    if plain and len(trace) == 1:  # most carriers: a traceparent alone, spliced in as it is
        return f'"{tracing.TRACEPARENT}":"{traceparent}",'.encode(), traceparent, headers_json
    members = b"".join(json.dumps(k).encode() + b":" + json.dumps(v).encode() + b"," for k, v in trace.items())
    return members, traceparent, headers_json


def _as_json_is(text: str) -> bool:
    """Whether JSON writes `text` as it is between its quotes (printable ASCII, neither quote nor backslash): a
    tracer's traceparent always (hex digits and dashes); a check cheaper than a pattern, on every new trace."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


@lru_cache(maxsize=64)
def _headers_json(headers: tuple[tuple[str, str], ...]) -> str:
    """The headers as JSON text (COPY takes jsonb as text), for a record built without it (`of_event` adds it)."""
    return json.dumps([list(h) for h in headers])


_LEN = struct.Struct(">i")  # a field's length; -1 for an absent key


def pack(records: Sequence[OutgoingRecord]) -> bytes:
    """Records as one length-prefixed blob (topic, key, value, headers as JSON), byte for byte: cheap to write and
    to read back, with no JSON parsing of the values on either side."""
    parts: list[bytes] = []
    for r in records:
        headers = r.json_headers().encode()
        for part in (r.topic.encode(), r.key, r.value, headers):
            parts.append(_LEN.pack(-1 if part is None else len(part)))
            if part is not None:
                parts.append(part)
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
    with tracing.writing(records):
        await copy_rows(session, outbox, [r.row() for r in records])
        await session.execute(text("SELECT pg_notify(:c, '')"), {"c": notify_channel(outbox.schema or "public")})


class Pending(NamedTuple):
    """An unsent outbox row as the relay reads it; `headers` as PostgreSQL writes the jsonb out (`headers_of_text`)."""

    id: int
    topic: str
    key: bytes | None
    value: bytes
    headers: str


async def pending(conn: AsyncConnection, outbox: Table, limit: int) -> list[Pending]:
    """The first `limit` unsent rows in id order. Plain tuples, not SQLAlchemy rows: a row's attribute is found
    only after a failed lookup whose error message is formatted, about 2,000 instructions each; the relay reads five
    of each row's, twice, which was a sixth of all the relay's work (bench/README.md, issue 12, eighth pass)."""
    query = select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value,
                   cast(outbox.c.headers, Text).label("headers"))
    result = await conn.execute(query.where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(limit))
    return list(map(Pending._make, result.all()))


# An event's row holds one of the two header lists `of_event` writes; PostgreSQL writes jsonb out as json.dumps
# does (a space after each comma), so the texts read back are the ones written.
_PG_TRACED = f'{_TRACED_JSON}"'  # then the traceparent and "]]
_TRACED_LENGTH = len(_PG_TRACED) + tracing.TRACEPARENT_LENGTH + len('"]]')
_CONTENT_TYPE_PAIR = (_CONTENT_TYPE[0], _CONTENT_TYPE[1].encode())


def headers_of_text(text: str) -> list[tuple[str, bytes]]:
    """A row's headers, from the jsonb's text (`pending`), as the producer takes them. The two lists an event's row
    holds (its content type; and its traceparent) are read without a JSON parser: the relay reads every row, and
    parsing was most of what a traceparent cost it. Anything else is parsed and checked (`kafka_headers`)."""
    if text == _UNTRACED_JSON:
        return [_CONTENT_TYPE_PAIR]
    if len(text) == _TRACED_LENGTH and text.startswith(_PG_TRACED) and text.endswith('"]]'):
        traceparent = text[len(_PG_TRACED):-3]
        if '"' not in traceparent and "\\" not in traceparent:  # a JSON string as it is: nothing escaped in it
            return [_CONTENT_TYPE_PAIR, (tracing.TRACEPARENT, traceparent.encode())]
    return kafka_headers(json.loads(text))


def kafka_headers(headers: Iterable[Sequence[str]]) -> list[tuple[str, bytes]]:
    """Header pairs as the producer takes them; TypeError or ValueError for anything but pairs of text."""
    pairs = []
    for k, v in headers:
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"a header is not a pair of text: {type(k).__name__}, {type(v).__name__}")
        pairs.append((k, v.encode()))
    return pairs


ERROR_CHARS = 1000  # a parked row's error is cut to this


async def park(conn: AsyncConnection, outbox: Table, parked: Table, errors: Mapping[int, str]) -> list[int]:
    """Moves the unsent rows named by `errors` (id -> why) from `outbox` to `parked`, whole, in the caller's
    transaction: a row leaves the unsent set and lands in `parked` together or not at all. Returns the ids moved."""
    if not errors:
        return []
    ids = list(errors)
    result = await conn.execute(text(
        f"WITH moved AS (DELETE FROM {_name(outbox)} WHERE id = ANY(CAST(:ids AS bigint[])) AND sent_at IS NULL "
        "RETURNING id, topic, key, value, headers, created_at) "
        f"INSERT INTO {_name(parked)} (id, topic, key, value, headers, error, created_at) "
        "SELECT moved.id, topic, key, value, headers, e.error, created_at FROM moved "
        "JOIN unnest(CAST(:ids AS bigint[]), CAST(:errors AS text[])) AS e(id, error) ON e.id = moved.id "
        # A row put back into the outbox by hand and refused again replaces its earlier parking.
        "ON CONFLICT (id) DO UPDATE SET topic = EXCLUDED.topic, key = EXCLUDED.key, value = EXCLUDED.value, "
        "headers = EXCLUDED.headers, error = EXCLUDED.error, created_at = EXCLUDED.created_at, parked_at = now() "
        "RETURNING id"
    ), {"ids": ids, "errors": [errors[i][:ERROR_CHARS] for i in ids]})
    return [row_id for (row_id,) in result.all()]


@dataclass(frozen=True, slots=True)
class Backlog:
    unsent: int
    oldest_unsent_s: float | None  # age of the head of the relay's queue (database clock); None when none waits
    parked: int


async def backlog(conn: AsyncConnection, outbox: Table, parked: Table) -> Backlog:
    """What waits for the relay and what it parked (three index-backed queries in one round trip). The oldest
    unsent row is the one with the lowest id, the next the relay publishes: its age is how far the relay lags
    (ids follow insertion, `created_at` the writer's transaction start, so they differ by a transaction's length)."""
    unsent, age, parked_rows = (await conn.execute(text(
        f"SELECT (SELECT count(*) FROM {_name(outbox)} WHERE sent_at IS NULL), "
        f"(SELECT EXTRACT(EPOCH FROM now() - created_at) FROM {_name(outbox)} WHERE sent_at IS NULL "
        "ORDER BY id LIMIT 1), "
        f"(SELECT count(*) FROM {_name(parked)})"
    ))).one()
    return Backlog(int(unsent), None if age is None else max(float(age), 0.0), int(parked_rows))


def _name(table: Table) -> str:
    return f'"{table.schema}".{table.name}' if table.schema else table.name
