"""/metrics against the real broker and database: every consumed record counted once by its outcome, decisions by
reason code, commands timed from their Kafka timestamp, HTTP by route template, lag measured from the broker, and
no label a stranger can choose (nor any id) in the exposition."""

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.builders import a_debit_day_change, a_loan, ref
from harness.infra import Infra
from shared import topics
from shared.contracts import TOPIC_TYPES, Contract
from shared.envelope import new_event
from shared.kafka_admin import partitions_of
from shared.kafka_security import KafkaAccess
from shared.lag import LagMonitor
from shared.metrics import ServiceMetrics
from shared.outbox import OutgoingRecord
from shared.runtime import ServiceRuntime
from tests.support.kafka import KafkaDriver, source_of
from tests.support.metrics import Samples, grew, labels_of, scrape, value
from tests.support.services import http, running
from tests.support.wait import eventually, publish_loan

CMDS, EVENTS = topics.REQUESTS_COMMANDS, topics.REQUESTS_EVENTS
CONSUMED, DEAD = "postloan_records_consumed_total", "postloan_dead_letters_total"
LATENCY = "postloan_command_to_event_seconds"


@pytest.fixture(scope="module")
async def service(migrated: Infra) -> AsyncIterator[ServiceRuntime]:
    async with running("requests", migrated, lag_interval_s=0.2) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def api(service: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with http(service) as client:
        yield client


_offsets = iter(range(10**12 + uuid.uuid4().int % 10**9, 2 * 10**12))  # coordinates no broker record has


def record(value: bytes, *, key: bytes | None = None, age_s: float = 0.0) -> ConsumerRecord[bytes, bytes]:
    """A record of requests.commands as the consumer gets it from the broker, produced `age_s` ago."""
    at_ms = int((time.time() - age_s) * 1000)
    return ConsumerRecord(CMDS, 0, next(_offsets), at_ms, 0, key, value, None, len(key or b""), len(value), ())


def command_bytes(data: Contract, subject: str, event_id: str | None = None) -> bytes:
    event = new_event(data, source=source_of(CMDS), subject=subject, time=datetime.now(UTC), event_id=event_id)
    return OutgoingRecord.of_event(CMDS, event).value


async def test_each_record_is_counted_once_by_its_outcome_after_its_batch_committed(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    """One batch, handed to the consumer as the broker would: a command accepted, the same command under a new
    envelope id (replayed), the very same envelope again (duplicate), a command refused, and bytes that are no
    JSON (dead-lettered, type unknown). The commands were produced 3 s ago: their latency says so."""
    loan = a_loan()
    await publish_loan(kafka, loan, requests=service)
    accepted = a_debit_day_change(loan, 25)
    refused = a_debit_day_change(a_loan(), 20)  # a loan the service never heard of: LOAN_NOT_FOUND
    first = command_bytes(accepted, loan.loan_id, event_id=ref("E"))
    batch = [record(first, age_s=3), record(command_bytes(accepted, loan.loan_id), age_s=3),
             record(first, age_s=3), record(command_bytes(refused, refused.loan_id), age_s=3),
             record(b"{not json")]
    before = await scrape(api)
    assert service.consumer is not None
    await service.consumer.process(batch)
    after = await scrape(api)

    kind = {"topic": CMDS, "type": "SubmitDebitDayChange"}
    assert grew(before, after, CONSUMED, **kind, outcome="applied") == 2
    assert grew(before, after, CONSUMED, **kind, outcome="replayed") == 1
    assert grew(before, after, CONSUMED, **kind, outcome="duplicate") == 1
    assert grew(before, after, CONSUMED, topic=CMDS, type="", outcome="dead_lettered") == 1
    assert grew(before, after, DEAD, topic=CMDS, kind="not-json") == 1
    assert grew(before, after, "postloan_decisions_total", type="RequestRejected", reason_code="LOAN_NOT_FOUND",
                channel="") == 1
    assert grew(before, after, "postloan_decisions_total", type="RequestSubmitted", reason_code="", channel="APP") == 1
    assert grew(before, after, "postloan_batch_duration_seconds_count") == 1
    # Two commands decided, each about 3 s after it was produced: none within a second, both within 10.
    latency = {"type": "SubmitDebitDayChange"}
    assert grew(before, after, f"{LATENCY}_count", **latency) == 2
    assert grew(before, after, f"{LATENCY}_bucket", **latency, le="1.0") == 0
    assert grew(before, after, f"{LATENCY}_bucket", **latency, le="10.0") == 2
    assert 6.0 <= grew(before, after, f"{LATENCY}_sum", **latency) < 20.0


async def test_a_batch_redone_after_a_failure_is_counted_once(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    """A handler that fails for good on one command makes the batch go again message by message: the valid
    command beside it is counted applied once, the culprit dead-lettered once (processing-failed, with its type)."""
    good, broken = a_loan(), a_loan()
    await publish_loan(kafka, good, requests=service)
    assert service.consumer is not None
    handlers = service.consumer.handlers[CMDS]
    original = handlers["SubmitDebitDayChange"]

    async def defective(ctx: Any, command: Any) -> None:
        if command.loan_id == broken.loan_id:
            raise ArithmeticError("a defect the bounds did not foresee")
        await original(ctx, command)

    before = await scrape(api)
    handlers["SubmitDebitDayChange"] = defective
    try:
        await service.consumer.process([record(command_bytes(a_debit_day_change(good, 25), good.loan_id)),
                                        record(command_bytes(a_debit_day_change(broken, 25), broken.loan_id))])
    finally:
        handlers["SubmitDebitDayChange"] = original
    after = await scrape(api)
    kind = {"topic": CMDS, "type": "SubmitDebitDayChange"}
    assert grew(before, after, CONSUMED, **kind, outcome="applied") == 1
    assert grew(before, after, CONSUMED, **kind, outcome="dead_lettered") == 1
    assert grew(before, after, DEAD, topic=CMDS, kind="processing-failed") == 1
    assert grew(before, after, "postloan_decisions_total", type="RequestSubmitted", reason_code="", channel="APP") == 1
    assert grew(before, after, "postloan_batch_duration_seconds_count") == 1


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.text(min_size=1, max_size=300), source=st.text(max_size=300), extra=st.text(max_size=200))
@example(kind="0", source="0", extra="0")  # a string that is also a partition's number (a CI run drew it)
async def test_no_label_value_is_chosen_by_a_stranger(
    service: ServiceRuntime, api: httpx.AsyncClient, kind: str, source: str, extra: str
) -> None:
    """Generated envelopes with any type, source and data: whatever becomes of them, every label value in
    /metrics stays in its bounded set, and none of the strings sent shows up in the exposition."""
    value_ = json.dumps({"specversion": "1.0", "id": ref("X"), "type": kind, "source": source,
                         "subject": extra, "data": {"loan_id": extra, "anything": extra}}).encode()
    before = _label_values(await scrape(api))
    assert service.consumer is not None
    await service.consumer.process([record(value_, key=extra.encode()[:100] or None)])
    samples = await scrape(api)
    allowed_types = {m.type_name() for ms in TOPIC_TYPES.values() for m in ms} | {""}
    assert {labels["type"] for labels in labels_of(samples, CONSUMED)} <= allowed_types
    assert {labels["topic"] for labels in labels_of(samples, CONSUMED)} <= set(topics.ALL)
    chosen = {(name, label) for name, label, v in _label_values(samples) - before if v in {kind, source, extra}}
    assert not chosen  # no label took a value sent


# The lag gauge's partitions are the numbers of the group's own partitions, read from the broker by a periodic
# poll: a partition's series may first appear between the two scrapes, and a string sent may be that number ("0").
_SERVICE_NUMBERED = {("postloan_consumer_lag", "partition")}


def _label_values(samples: Samples) -> set[tuple[str, str, str]]:
    return {(name, label, v) for (name, labels) in samples if name.startswith("postloan_") for label, v in labels
            if (name, label) not in _SERVICE_NUMBERED}


async def test_http_requests_are_counted_by_route_template_never_by_path(
    service: ServiceRuntime, api: httpx.AsyncClient
) -> None:
    loan_id = ref("L-never")
    before = await scrape(api)
    assert (await api.get(f"/loans/{loan_id}")).status_code == 404
    assert (await api.get(f"/no/such/{loan_id}")).status_code == 404
    after = await scrape(api)
    assert grew(before, after, "postloan_http_requests_total", route="/loans/{loan_id}", method="GET",
                status="404") == 1
    assert grew(before, after, "postloan_http_requests_total", route="other", method="GET", status="404") == 1
    assert grew(before, after, "postloan_http_request_duration_seconds_count", route="/loans/{loan_id}",
                method="GET") == 1
    assert loan_id not in (await api.get("/metrics")).text


async def test_the_scrape_shows_what_ready_shows(service: ServiceRuntime, api: httpx.AsyncClient) -> None:
    ready = await api.get("/ready")
    samples: Samples = await scrape(api)
    assert value(samples, "postloan_ready") == (1.0 if ready.status_code == 200 else 0.0)
    assert value(samples, "postloan_outbox_parked") == ready.json()["outbox_parked"]
    assert value(samples, "postloan_service_info", service="requests", version=service.spec.version) == 1
    assert value(samples, "postloan_relay_leader") in (0.0, 1.0)  # another copy may lead (the e2e platform's)


async def test_the_service_reports_the_lag_of_its_own_group_on_every_partition_it_consumes(
    service: ServiceRuntime, api: httpx.AsyncClient
) -> None:
    rounds = service.lag.rounds
    await eventually(lambda: _later(service, rounds), what="a lag measurement")
    reported = labels_of(await scrape(api), "postloan_consumer_lag")
    group = service.settings.consumer_group("requests")
    assert {r["topic"] for r in reported if r["group"] == group} == set(service.spec.consumers)
    assert all(r["group"] == group for r in reported)  # only the console measures other groups


async def _later(service: ServiceRuntime, rounds: int) -> bool:
    return service.lag.rounds > rounds


async def test_lag_is_the_end_offset_minus_what_the_group_committed(infra: Infra, kafka: KafkaDriver) -> None:
    """Measured on a group of its own: committed at 2 on each partition, then three more records on one
    partition: the lag is exactly what lies past the committed offsets."""
    group = f"postloan.requests.lag-{uuid.uuid4().hex[:8]}"
    access = infra.kafka_as("postloan-requests")
    consumer = AIOKafkaConsumer(**access.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, [CMDS])
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: ends[tp] for tp in partitions})
        for _ in range(3):
            await kafka.publish_raw(CMDS, b"{not json", key=b"lag-key")  # one key: one partition
        metrics = ServiceMetrics("requests", "test")
        monitor = LagMonitor(kafka=access, groups={group: (CMDS,)}, metrics=metrics, interval_s=60)
        measured = await _measure(monitor, access)
    finally:
        await consumer.stop()
    assert sorted(measured.values()) == [0] * (len(partitions) - 1) + [3]
    assert {(g, t) for g, t, _ in measured} == {(group, CMDS)}


async def _measure(monitor: LagMonitor, access: KafkaAccess) -> dict[tuple[str, str, int], int]:
    kwargs = access.client_kwargs()
    admin, consumer = AIOKafkaAdminClient(**kwargs), AIOKafkaConsumer(**kwargs, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        return await monitor.measure(admin, consumer)
    finally:
        await consumer.stop()
        await admin.close()
