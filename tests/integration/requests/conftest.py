"""The requests service running in-process on the real broker and database, and ways to talk to it."""

from collections.abc import AsyncIterator

import httpx
import pytest

from harness.infra import Infra
from shared.runtime import ServiceRuntime
from tests.support.services import http, running


@pytest.fixture(scope="module")
async def service(migrated: Infra) -> AsyncIterator[ServiceRuntime]:
    async with running("requests", migrated) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def api(service: ServiceRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with http(service) as client:
        yield client
