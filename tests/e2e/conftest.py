"""The four services as separate processes, once for the whole end-to-end session."""

from collections.abc import AsyncIterator

import pytest

from tests.support.infra import Infra
from tests.support.services import Process, start_processes, stop_processes


@pytest.fixture(scope="session")
async def platform(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Process]]:
    procs = await start_processes(infra, tmp_path_factory.mktemp("logs"))
    try:
        yield {p.info.name: p for p in procs}
    finally:
        stop_processes(procs)
