"""Durable expiry across a restart and several copies; one open request per loan under concurrency."""

from datetime import date, datetime

from sqlalchemy import func, select

from harness.builders import ACCOUNT_DAY, SHANGHAI, a_debit_day_change, a_loan
from harness.infra import Infra
from services.requests.repository import timers
from shared.clock import FixedClock
from shared.runtime import ServiceRuntime
from tests.support.kafka import KafkaDriver
from tests.support.requests_driver import EVENTS, answer, co_borrower_says, next_event
from tests.support.services import http, running
from tests.support.wait import eventually, publish_loan


async def pending_timers(service: ServiceRuntime, request_id: str) -> int:
    assert service.engine is not None
    async with service.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(timers).where(timers.c.key == request_id)) or 0)


async def test_an_undecided_request_expires_once_after_a_restart_with_two_copies(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    loan = a_loan(co_borrowers=1, next_due_date=date(2020, 2, 10))
    async with kafka.watch(EVENTS) as watch:
        async with running("requests", migrated, clock=FixedClock(ACCOUNT_DAY)) as before:
            await publish_loan(kafka, loan, requests=before)
            submitted = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
            request_id = submitted.data["request_id"]
            assert await pending_timers(before, request_id) == 1
        # Down over the deadline; two copies come back when 10 February has begun in Shanghai.
        after = datetime(2020, 2, 10, 0, 0, 5, tzinfo=SHANGHAI)
        async with running("requests", migrated, clock=FixedClock(after)) as one, \
                running("requests", migrated, clock=FixedClock(after)):
            expired = await next_event(watch, "RequestExpired", request_id, timeout=30)
            await eventually(lambda: _none_left(one, request_id), what="the timer consumed")
            async with http(one) as api:
                status = (await api.get(f"/requests/{request_id}")).json()
        assert len(watch.matching(lambda s: s.type == "RequestExpired" and s.data["request_id"] == request_id)) == 1
    assert expired.data["deadline"] == "2020-02-10"
    assert status["state"] == "EXPIRED" and status["history"][-1]["reason_code"] == "DEADLINE_PASSED"


async def test_a_decided_request_has_no_expiry_left(migrated: Infra, kafka: KafkaDriver) -> None:
    loan = a_loan()
    async with running("requests", migrated) as service, kafka.watch(EVENTS) as watch:
        await publish_loan(kafka, loan, requests=service)
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
        await next_event(watch, "RequestApproved", submitted.data["request_id"])
        assert await pending_timers(service, submitted.data["request_id"]) == 0


async def test_two_requests_for_one_loan_at_once_on_two_copies_give_exactly_one(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    loans = [a_loan() for _ in range(12)]
    async with running("requests", migrated) as first, running("requests", migrated) as second:
        for loan in loans:
            await publish_loan(kafka, loan, requests=first)
        async with kafka.watch(EVENTS) as watch:
            pairs = []
            for loan in loans:
                a, b = a_debit_day_change(loan, 20), a_debit_day_change(loan, 21)
                await kafka.publish("requests.commands", a, subject=loan.loan_id)
                # A misbehaving channel keys the twin differently, so another copy may take it at the same time.
                await kafka.publish("requests.commands", b, subject=f"{loan.loan_id}#twin")
                pairs.append((a.command_id, b.command_id))
            for ids in pairs:
                for command_id in ids:
                    await watch.wait_for(lambda s, c=command_id: s.data.get("command_id") == c
                                         and s.type in ("RequestSubmitted", "RequestRejected"), timeout=30)
        for loan, (a, b) in zip(loans, pairs, strict=True):
            answers = watch.matching(lambda s, ids=(a, b): s.data.get("command_id") in ids
                                     and s.type in ("RequestSubmitted", "RequestRejected"))
            kinds = sorted(s.type for s in answers)
            assert kinds == ["RequestRejected", "RequestSubmitted"], (loan.loan_id, kinds)
            [refused] = [s for s in answers if s.type == "RequestRejected"]
            assert refused.data["reason_code"] == "OPEN_REQUEST_EXISTS"
        async with http(first) as api:
            for loan in loans:
                assert len((await api.get(f"/loans/{loan.loan_id}/requests")).json()["items"]) == 1
        assert first.consumer and second.consumer and first.consumer.applied and second.consumer.applied


async def _none_left(service: ServiceRuntime, request_id: str) -> bool:
    return await pending_timers(service, request_id) == 0


async def test_an_outcome_processed_once_the_deadline_day_began_expires_the_request(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    """SPEC §2: no co-borrower outcome is accepted once D0 has begun, even before the expiry timer fires."""
    loan = a_loan(co_borrowers=1, debit_day=10, next_due_date=date(2020, 2, 10))
    clock = FixedClock(ACCOUNT_DAY)
    # Timers are polled once an hour here, so the outcome is what meets the passed deadline, not the timer. This
    # module runs no other copy: the copy that owns the loan's partition is this one, on this clock.
    async with running("requests", migrated, clock=clock, timer_interval_s=3600) as late_service, \
            kafka.watch(EVENTS) as watch:
        await publish_loan(kafka, loan, requests=late_service)
        submitted = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
        clock.advance(datetime(2020, 2, 10, 0, 0, 1, tzinfo=SHANGHAI) - ACCOUNT_DAY)
        await co_borrower_says(kafka, submitted, loan.borrowers[1].customer_id, "CONFIRMED")
        expired = await next_event(watch, "RequestExpired", submitted.data["request_id"])
        async with http(late_service) as api:
            status = (await api.get(f"/requests/{submitted.data['request_id']}")).json()
    assert watch.matching(lambda s: s.type == "RequestApproved" and s.data["request_id"] == expired.data[
        "request_id"]) == []
    assert status["state"] == "EXPIRED" and status["confirmed_by"] == []
