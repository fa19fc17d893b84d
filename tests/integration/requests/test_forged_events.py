"""A forged CoBorrowerConfirmed never approves a request (CONTRACT.md "Who may write"), against the real broker:
the broker refuses it from every principal but the confirmation service's, and the requests service dead-letters
one that the confirmation service's principal carries under another source; the genuine confirmation, sent after
them, is applied (the positive marker behind both refusals)."""

from datetime import date

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from harness.builders import ACCOUNT_DAY, a_debit_day_change, a_loan, ref
from harness.infra import Infra
from shared import principals, topics
from shared.contracts import confirmation as C
from shared.envelope import new_event
from shared.outbox import OutgoingRecord, kafka_headers
from shared.runtime import ServiceRuntime
from tests.support.kafka import KafkaDriver
from tests.support.requests_driver import EVENTS, answer, co_borrower_says, next_event
from tests.support.wait import publish_loan

DLQ = topics.dlq(topics.CONFIRMATION_EVENTS)
DUE_25_FEB = date(2020, 2, 25)
FORGERS = [p for p in principals.PRINCIPALS if p is not principals.CONFIRMATION]


async def forge_as(infra: Infra, principal: str, record: OutgoingRecord) -> None:
    producer = AIOKafkaProducer(**infra.kafka_as(principal).client_kwargs(), acks="all", request_timeout_ms=10000)
    await producer.start()
    try:
        await producer.send_and_wait(record.topic, record.value, key=record.key, headers=kafka_headers(record.headers))
    finally:
        await producer.stop()


async def test_a_forged_co_borrower_confirmation_never_changes_a_request(
    migrated: Infra, service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1, debit_day=25, next_due_date=DUE_25_FEB)
    co = loan.borrowers[1].customer_id
    await publish_loan(kafka, loan, requests=service)
    async with kafka.watch(EVENTS, DLQ) as watch:
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 28), loan_id=loan.loan_id)
        request_id = submitted.data["request_id"]
        forged = C.CoBorrowerConfirmed(task_id=ref("T"), request_id=request_id, loan_id=loan.loan_id, customer_id=co,
                                       agent_id="A-FORGER", recording_id=ref("REC"), confirmed_at=ACCOUNT_DAY)
        event = new_event(forged, source="postloan/confirmation", subject=loan.loan_id, time=ACCOUNT_DAY)
        for forger in FORGERS:  # the right source, the wrong principal: the broker takes none of them
            with pytest.raises(TopicAuthorizationFailedError):
                await forge_as(migrated, forger.name, OutgoingRecord.of_event(topics.CONFIRMATION_EVENTS, event))

        # The one principal allowed on the topic, carrying another writer's source: dead-lettered, nothing else.
        wrong = await kafka.publish(topics.CONFIRMATION_EVENTS, forged, subject=loan.loan_id, source="call-centre/x",
                                    principal=principals.CONFIRMATION.name)
        [letter] = await watch.wait_for(lambda s: s.topic == DLQ and s.id == wrong.id)
        assert letter.headers["x-error-kind"] == "forbidden-source"
        assert "postloan/confirmation" in letter.headers["x-error"] and "call-centre" not in letter.headers["x-error"]
        assert (await api.get(f"/requests/{request_id}")).json()["state"] == "AWAITING_CONFIRMATION"

        await co_borrower_says(kafka, submitted, co, "CONFIRMED")  # the genuine one, behind the forgeries
        await next_event(watch, "RequestApproved", request_id)
        await watch.caught_up()
    approvals = watch.matching(lambda s: s.type == "RequestApproved" and s.data.get("request_id") == request_id)
    assert len(approvals) == 1
    status = (await api.get(f"/requests/{request_id}")).json()
    assert status["state"] == "APPROVED" and status["confirmed_by"] == [co]
    assert "A-FORGER" not in str(status["history"])
