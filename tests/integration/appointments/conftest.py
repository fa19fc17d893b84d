"""The appointments service in-process on the real broker and database, on a clock the tests move.

Every copy a module starts reads the module's one clock, so a copy that happens to own a partition never
decides on another time; each test starts on the account's first day.
"""

from collections.abc import AsyncIterator

import httpx
import pytest

from harness.builders import ACCOUNT_DAY
from harness.infra import Infra
from shared.clock import FixedClock
from shared.runtime import ServiceRuntime
from tests.integration.appointments.steps import set_clock
from tests.support.services import http, running


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(ACCOUNT_DAY)


@pytest.fixture(autouse=True)
def _on_the_account_day(clock: FixedClock) -> None:
    set_clock(clock, ACCOUNT_DAY)


@pytest.fixture(scope="module")
async def service(migrated: Infra, clock: FixedClock) -> AsyncIterator[ServiceRuntime]:
    async with running("appointments", migrated, clock=clock) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def api(service: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with http(service) as client:
        yield client
