"""The relay's publish spans end whatever becomes of the round (shared/relay.py, `_send_all`): with each record's
outcome, or, when a stop that waited 10 s cancels the round while the broker has not answered, with the
cancellation, so a trace shows where it stopped instead of losing the span. No broker can be made to stay silent
on demand, so the producer here is one whose deliveries never complete."""

import asyncio
import json
from typing import Any

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder
from sqlalchemy import MetaData

from shared import outbox, topics
from shared.db import create_engine, messaging_tables
from shared.kafka_security import KafkaAccess
from shared.relay import OutboxRelay
from tests.support.tracing import tracing_on

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


class NeverAnswers:
    """A producer whose produce requests go out and are never answered (a broker gone quiet under a round)."""

    def __init__(self) -> None:
        self.sent = asyncio.Event()

    async def partitions_for(self, _topic: str) -> set[int]:
        return {0, 1, 2}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(1 << 20, 0)

    async def send_batch(self, _batch: BatchBuilder, _topic: str, *, partition: int) -> "asyncio.Future[Any]":
        self.sent.set()
        return asyncio.get_running_loop().create_future()


def a_row(row_id: int, traceparent: str | None) -> outbox.Pending:
    headers = [["content-type", "application/cloudevents+json"]]
    if traceparent is not None:
        headers.append(["traceparent", traceparent])
    return outbox.Pending(row_id, topics.REQUESTS_EVENTS, f"L-{row_id}".encode(), b"{}", json.dumps(headers))


async def test_a_round_cancelled_while_the_broker_is_silent_ends_its_publish_spans_with_the_cancellation() -> None:
    relay = OutboxRelay(engine=create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"),  # never used
                        table=messaging_tables(MetaData(schema="relay_spans"))[1], schema="relay_spans",
                        kafka=KafkaAccess("127.0.0.1:1"))
    producer = NeverAnswers()
    relay._producer = producer  # type: ignore[assignment]  # (the round's producer, as `_lead_if_free` sets it)
    rows = [a_row(1, f"00-{TRACE}-{1:016x}-01"), a_row(2, None), a_row(3, f"00-{TRACE}-{3:016x}-01"),
            a_row(4, f"00-{TRACE}-{4:016x}-00")]  # two of a recorded trace, one without context, one not recorded
    with tracing_on() as exported:
        round_ = asyncio.create_task(relay._send_all(rows, {}))
        await asyncio.wait_for(producer.sent.wait(), 5)  # the round's batches are out: it waits for the broker
        assert exported.get_finished_spans() == ()  # nothing answered, nothing ended yet
        round_.cancel()
        with pytest.raises(asyncio.CancelledError):
            await round_
        spans = exported.get_finished_spans()
    assert sorted((s.name, s.parent.span_id if s.parent else None) for s in spans) == [
        ("publish requests.events", 1), ("publish requests.events", 3)]
    assert all(s.status.status_code.name == "ERROR" and s.status.description == "CancelledError" for s in spans)
    assert all(f"{s.context.trace_id:032x}" == TRACE for s in spans if s.context is not None)
