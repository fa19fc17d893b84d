"""The five services as separate processes, once for the whole end-to-end session."""

from collections.abc import AsyncIterator

import pytest

from harness.infra import Infra
from tests.support.services import Process, start_processes, stop_processes


@pytest.fixture(scope="session")
async def platform(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Process]]:
    platform = {p.info.name: p for p in await start_processes(infra, tmp_path_factory.mktemp("logs"))}
    try:
        yield platform
    finally:
        stop_processes(list(platform.values()))  # the processes running now: a test may have restarted one
