"""A delivery the worker sends later, through a real loopback gateway, continues the trace of the event that caused
it (the delivery row keeps its context, migration 0007): the gateway calls, retries included, and NotificationSent
belong to the customer's request. Tracing is on in this process (the service runs in it), into memory."""

from datetime import UTC, datetime

from harness.builders import primary_of
from harness.infra import Infra
from shared import topics
from shared.contracts import loans as L
from shared.envelope import new_event
from tests.integration.notifier.helpers import Gateway, for_customer, known, only, received, serve
from tests.support.kafka import KafkaDriver, source_of
from tests.support.services import running
from tests.support.tracing import hex_ids, tracing_on

CALLERS_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER = f"00-{CALLERS_TRACE}-b7ad6b7169203331-01"


async def test_a_gateway_delivery_and_its_retry_continue_the_causing_events_trace(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    gateway = Gateway(failures=1)
    task = await serve(gateway)
    try:
        with tracing_on() as exported:
            async with running("notifier", migrated, webhook_urls={"SMS": gateway.url}, retry_base_s=0,
                               max_attempts=5, worker_interval_s=0.1) as service:
                loan = only([L.NotificationChannel.SMS])
                await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
                await known(service, primary_of(loan))
                async with kafka.watch(topics.NOTIFICATIONS_EVENTS) as watch:
                    await kafka.publish_event(topics.REQUESTS_EVENTS, new_event(
                        received(loan), source=source_of(topics.REQUESTS_EVENTS), subject=loan.loan_id,
                        time=datetime.now(UTC), extensions={"traceparent": CALLER}))
                    [sent] = await for_customer(watch, primary_of(loan), "NotificationSent")
            spans = [s for s in exported.get_finished_spans() if hex_ids(s)[0] == CALLERS_TRACE]
    finally:
        gateway.server.should_exit = True
        await task
    calls = gateway.of(sent.data["notification_id"].encode())
    assert len(calls) == 2  # refused once (503), then accepted
    gateway_spans = [s for s in spans if s.name == "POST SMS gateway"]
    assert [s.status.is_ok for s in gateway_spans] == [False, True]
    # Each call carried its own CLIENT span's context, in the causing event's trace.
    assert [c["traceparent"].decode().split("-")[1:3] for c in calls] == [list(hex_ids(s)) for s in gateway_spans]
    assert sent.event["traceparent"].split("-")[1] == CALLERS_TRACE == sent.headers["traceparent"].split("-")[1]
    assert {s.name for s in spans} >= {"consume requests.events", "decide RequestSubmitted", "deliver",
                                       "outbox write", "publish notifications.events"}
