"""Polling with a deadline, for facts that have no event of their own (a projection catching up)."""

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from services.requests.repository import LoanRepository
from shared import topics
from shared.contracts.loans import LoanSnapshot
from shared.runtime import ServiceRuntime
from shared.unit_of_work import UnitOfWork
from tests.support.auth import staff
from tests.support.kafka import KafkaDriver


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 20.0, what: str = "condition",
                     every: float = 0.05) -> None:
    """Polls the coroutine function `check` every `every` seconds until it returns true; fails after `timeout`
    seconds saying `what`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(every)


async def publish_loan(kafka: KafkaDriver, loan: LoanSnapshot, *, requests: ServiceRuntime | str) -> None:
    """Publishes a snapshot as core banking would and waits until the requests service has projected it.

    `requests` is an in-process runtime or the base URL of a running requests process.
    """
    await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)

    async def known() -> bool:
        if isinstance(requests, str):
            async with httpx.AsyncClient(timeout=2, auth=staff()) as client:
                return (await client.get(f"{requests}/loans/{loan.loan_id}")).status_code == 200
        assert requests.deps is not None
        async with requests.deps.sessions() as session:
            stored = await LoanRepository(UnitOfWork(session)).get(loan.loan_id)
        return stored is not None and stored.as_of >= loan.as_of

    await eventually(known, what=f"loan {loan.loan_id} projected")
