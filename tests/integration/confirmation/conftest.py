"""One confirmation service per test module, on a clock of that module's own (some modules move it)."""

from collections.abc import AsyncIterator

import httpx
import pytest

from harness.builders import ACCOUNT_DAY
from harness.infra import Infra
from shared.clock import FixedClock
from shared.runtime import ServiceRuntime
from tests.support.services import http, running


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(ACCOUNT_DAY)


@pytest.fixture(scope="module")
async def service(migrated: Infra, clock: FixedClock) -> AsyncIterator[ServiceRuntime]:
    async with running("confirmation", migrated, clock=clock, retry_pause_s=0, lease_s=60) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def api(service: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with http(service) as client:
        yield client
