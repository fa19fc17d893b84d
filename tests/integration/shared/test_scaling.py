"""Two copies of a service share its partitions, and every message is applied by exactly one of them."""

from sqlalchemy import func, select

from harness.builders import a_debit_day_change, a_loan
from harness.infra import Infra
from services.requests.repository import RequestRow
from shared import topics
from tests.integration.shared.test_messaging import of_type
from tests.support.kafka import KafkaDriver
from tests.support.services import running
from tests.support.wait import publish_loan


async def test_two_copies_split_the_work_and_apply_each_request_once(migrated: Infra, kafka: KafkaDriver) -> None:
    loans = [a_loan() for _ in range(24)]
    async with running("requests", migrated) as first, running("requests", migrated) as second:
        for loan in loans:
            await publish_loan(kafka, loan, requests=first)
        before = (first.consumer.applied, second.consumer.applied)  # type: ignore[union-attr]
        async with kafka.watch(topics.REQUESTS_EVENTS) as watch:
            for loan in loans:
                await kafka.publish(topics.REQUESTS_COMMANDS, a_debit_day_change(loan, 25), subject=loan.loan_id)
            for loan in loans:
                await watch.wait_for(of_type("RequestApproved", loan.loan_id), timeout=30)
            approved = [s for s in watch.seen if s.type == "RequestApproved"]
        assert sorted(s.event["subject"] for s in approved) == sorted(loan.loan_id for loan in loans)
        assert first.consumer.applied > before[0] and second.consumer.applied > before[1]  # type: ignore[union-attr]
        assert first.engine is not None
        async with first.engine.connect() as conn:
            stored = await conn.scalar(select(func.count()).select_from(RequestRow)
                                       .where(RequestRow.c.loan_id.in_([loan.loan_id for loan in loans])))
        assert stored == len(loans)
