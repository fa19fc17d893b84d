"""The shared messaging core against real Kafka and PostgreSQL, driven through the requests service."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from harness.builders import a_debit_day_change, a_loan
from harness.infra import Infra
from services.requests.repository import RequestRow
from shared import topics
from shared.runtime import ServiceRuntime
from tests.support.kafka import KafkaDriver, Seen
from tests.support.services import running
from tests.support.wait import publish_loan

CMDS, EVENTS, DLQ = topics.REQUESTS_COMMANDS, topics.REQUESTS_EVENTS, topics.dlq(topics.REQUESTS_COMMANDS)


@pytest.fixture(scope="module")
async def service(migrated: Infra) -> AsyncIterator[ServiceRuntime]:
    async with running("requests", migrated) as runtime:
        yield runtime


def of_type(kind: str, loan_id: str) -> Callable[[Seen], bool]:
    return lambda s: s.type == kind and s.event["subject"] == loan_id


def answer_to(command_id: str) -> Callable[[Seen], bool]:
    return lambda s: s.data.get("command_id") == command_id


async def requests_of(service: ServiceRuntime, loan_id: str) -> int:
    assert service.engine is not None
    async with service.engine.connect() as conn:
        query = select(func.count()).select_from(RequestRow).where(RequestRow.c.loan_id == loan_id)
        return int(await conn.scalar(query) or 0)


async def test_the_same_message_delivered_twice_has_one_effect(service: ServiceRuntime, kafka: KafkaDriver) -> None:
    loan = a_loan()
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        event = await kafka.publish(CMDS, a_debit_day_change(loan, 25), subject=loan.loan_id)
        await kafka.publish_event(CMDS, event)  # redelivery: the very same CloudEvent
        # A later message with the same key is applied after both copies; its answer marks "all done".
        later = await kafka.publish(CMDS, a_debit_day_change(loan, 26), subject=loan.loan_id)
        await watch.wait_for(answer_to(later.data.command_id))

        assert len(watch.matching(of_type("RequestSubmitted", loan.loan_id))) == 1
        assert len(watch.matching(of_type("RequestApproved", loan.loan_id))) == 1
        assert await requests_of(service, loan.loan_id) == 1


async def test_a_command_replayed_under_a_new_envelope_id_has_one_effect(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    """The replay is answered with the first answer (the same events, same ids), and nothing is done twice."""
    loan = a_loan()
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS) as watch:
        command = a_debit_day_change(loan, 25)
        await kafka.publish(CMDS, command, subject=loan.loan_id)
        await kafka.publish(CMDS, command, subject=loan.loan_id)  # a channel retrying with a fresh envelope
        later = await kafka.publish(CMDS, a_debit_day_change(loan, 27), subject=loan.loan_id)
        await watch.wait_for(answer_to(later.data.command_id))

        submitted = watch.matching(of_type("RequestSubmitted", loan.loan_id))
        assert len({s.id for s in submitted}) == 1 and len(submitted) == 2  # one request, its event sent twice
        assert {s.id for s in watch.matching(answer_to(command.command_id))} == {submitted[0].id}
        [answer_to_later] = watch.matching(answer_to(later.data.command_id))
        assert answer_to_later.data["reason_code"] == "OPEN_REQUEST_EXISTS"  # the one request is open


INVALID = {
    "not-json": b"{this is not json",
    "not-cloudevent": b'{"hello": "world"}',
    "unknown-type": b'{"specversion":"1.0","id":"x-1","type":"LendMeMoney","source":"t","data":{}}',
    "invalid-data": b'{"specversion":"1.0","id":"x-2","type":"SubmitDebitDayChange","source":"t",'
    b'"data":{"command_id":"c","loan_id":"L","new_debit_day":"twenty"}}',
}


async def test_each_kind_of_invalid_message_is_dead_lettered_and_the_next_is_processed(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    loan = a_loan()
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS, DLQ) as watch:
        for value in INVALID.values():
            await kafka.publish_raw(CMDS, value, key=loan.loan_id.encode(), headers=[("x-trace", b"t-1")])
        await kafka.publish(CMDS, a_debit_day_change(loan, 25), subject=loan.loan_id)

        await watch.wait_for(of_type("RequestApproved", loan.loan_id))
        dead = await watch.wait_for(lambda s: s.topic == DLQ and s.key == loan.loan_id.encode(), count=len(INVALID))
    by_kind = {d.headers["x-error-kind"]: d for d in dead}
    assert set(by_kind) == set(INVALID)
    for value, letter in ((v, by_kind[k]) for k, v in INVALID.items()):
        assert letter.value == value  # byte for byte
        assert letter.headers["x-original-topic"] == CMDS
        assert letter.headers["x-original-partition"].isdigit()
        assert letter.headers["x-original-offset"].isdigit()
        assert letter.headers["x-error"]
        assert letter.headers["x-trace"] == "t-1"  # the original headers travel with it


async def test_a_message_whose_handler_fails_is_dead_lettered_alone(service: ServiceRuntime,
                                                                    kafka: KafkaDriver) -> None:
    """A defect in a handler (here, one that raises for one loan) costs that message only: it is dead-lettered
    with the error, and the messages around it are applied."""
    broken, fine = a_loan(), a_loan()
    assert service.consumer is not None
    handlers = service.consumer.handlers[topics.LOANS_SNAPSHOTS]
    original = handlers["LoanSnapshot"]

    async def defective(ctx: Any, snapshot: Any) -> None:
        if snapshot.loan_id == broken.loan_id:
            raise ArithmeticError("a defect the bounds did not foresee")
        await original(ctx, snapshot)

    handlers["LoanSnapshot"] = defective
    try:
        async with kafka.watch(EVENTS, topics.dlq(topics.LOANS_SNAPSHOTS)) as watch:
            await kafka.publish(topics.LOANS_SNAPSHOTS, broken, subject=broken.loan_id)
            await publish_loan(kafka, fine, requests=service)
            await kafka.publish(CMDS, a_debit_day_change(fine, 25), subject=fine.loan_id)

            await watch.wait_for(of_type("RequestApproved", fine.loan_id))
            [letter] = await watch.wait_for(lambda s: s.topic.endswith(".dlq") and s.key == broken.loan_id.encode())
    finally:
        handlers["LoanSnapshot"] = original
    assert letter.headers["x-error-kind"] == "processing-failed"
    assert "a defect the bounds did not foresee" in letter.headers["x-error"]
