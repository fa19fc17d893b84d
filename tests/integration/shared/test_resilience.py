"""Restarts and outages: nothing is lost or skipped (real Kafka and PostgreSQL, the requests service as vehicle)."""


import asyncpg

from harness.builders import a_debit_day_change, a_loan
from harness.infra import Infra
from shared.runtime import ServiceRuntime
from tests.integration.shared.test_messaging import CMDS, EVENTS, of_type
from tests.support.kafka import KafkaDriver
from tests.support.services import running
from tests.support.wait import eventually, publish_loan


async def test_nothing_is_lost_while_the_service_is_down(migrated: Infra, kafka: KafkaDriver) -> None:
    loans = [a_loan() for _ in range(5)]
    async with running("requests", migrated) as service:
        for loan in loans:
            await publish_loan(kafka, loan, requests=service)
    # The service is down now: commands wait in Kafka.
    async with kafka.watch(EVENTS) as watch:
        for loan in loans:
            await kafka.publish(CMDS, a_debit_day_change(loan, 25), subject=loan.loan_id)
        async with running("requests", migrated):
            for loan in loans:
                await watch.wait_for(of_type("RequestApproved", loan.loan_id), timeout=30)


async def test_a_database_outage_is_waited_out_not_skipped(migrated: Infra, kafka: KafkaDriver) -> None:
    admin_dsn = migrated.database_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    db = migrated.database_url.rsplit("/", 1)[1]
    loan = a_loan()
    async with running("requests", migrated) as service, kafka.watch(EVENTS) as watch:
        await publish_loan(kafka, loan, requests=service)
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", db)
            assert service.consumer is not None
            retried = service.consumer.transient_retries
            await kafka.publish(CMDS, a_debit_day_change(loan, 25), subject=loan.loan_id)
            # The outage lasts while the consumer retries three times: it must keep retrying, not skip.
            await eventually(lambda: _retried(service, retried + 3), timeout=30, what="three retries in the outage")
            assert watch.matching(of_type("RequestSubmitted", loan.loan_id)) == []
        finally:
            await admin.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
            await admin.close()
        await watch.wait_for(of_type("RequestApproved", loan.loan_id), timeout=40)


async def _retried(service: ServiceRuntime, at_least: int) -> bool:
    assert service.consumer is not None
    return service.consumer.transient_retries >= at_least
