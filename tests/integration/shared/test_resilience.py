"""Restarts and outages: nothing is lost or skipped (real Kafka and PostgreSQL, the requests service as vehicle)."""


import asyncio

import asyncpg
from sqlalchemy import text

from harness.builders import a_debit_day_change, a_loan
from harness.infra import Infra
from shared.db import create_engine
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


async def test_pooled_connections_the_server_ended_are_replaced_at_checkout(migrated: Infra) -> None:
    """PostgreSQL ends the backends of a service's idle pooled connections (as a restart does): the next statements
    run on new connections, none of them fails. No pre-ping: a closed socket is noticed at checkout."""
    engine = create_engine(migrated.service_database_url("requests"), pool_size=3)
    admin = await asyncpg.connect(migrated.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    pid = text("SELECT pg_backend_pid()")
    try:
        async def backend() -> tuple[int, object]:
            async with engine.connect() as connection:
                raw = await connection.get_raw_connection()
                found = (await connection.execute(pid)).scalar_one()
                await asyncio.sleep(0.05)  # the three are checked out at once: three connections, not one
                return found, raw.driver_connection

        before = await asyncio.gather(*(backend() for _ in range(3)))
        old = {p for p, _ in before}
        assert len(old) == 3
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", list(old))

        async def all_closed() -> bool:  # the client saw each socket close: the state a restart leaves
            return all(driver.is_closed() for _, driver in before)  # type: ignore[attr-defined]
        await eventually(all_closed, timeout=10, what="the pooled connections closed")
        after = await asyncio.gather(*(backend() for _ in range(3)))
        assert not old & {p for p, _ in after}
    finally:
        await admin.close()
        await engine.dispose()
