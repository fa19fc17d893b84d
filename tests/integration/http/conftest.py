"""The four services in-process on the real broker and database, each behind a real HTTP server on loopback
(uvicorn, as `serve` runs them), started once for every HTTP test in this folder."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from harness.infra import Infra
from shared.runtime import ServiceRuntime
from tests.support.auth import staff
from tests.support.services import SERVICES, running
from tests.support.wait import eventually

FUZZ_TOTALS: dict[str, dict[str, Any]] = {}  # service -> totals of its schemathesis run, for the summary


@dataclass(frozen=True)
class Served:
    runtime: ServiceRuntime
    url: str

    def client(self, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        """Signed in as the test user holding every staff role unless `auth` says otherwise."""
        return httpx.AsyncClient(base_url=self.url, timeout=10, auth=auth or staff())


@contextlib.asynccontextmanager
async def served(runtime: ServiceRuntime) -> AsyncIterator[str]:
    """The runtime's HTTP app on a loopback port of its own, in this event loop, until the block ends."""
    app = runtime.asgi()
    app.state.runtime = runtime  # the runtime is started already; the app's lifespan would start it again
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def started() -> bool:
        return bool(server.started)

    await eventually(started, what=f"{runtime.spec.name} HTTP up")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(scope="package")
async def platform(migrated: Infra) -> AsyncIterator[dict[str, Served]]:
    async with contextlib.AsyncExitStack() as stack:
        found = {}
        for name in SERVICES:
            runtime = await stack.enter_async_context(running(name, migrated))
            found[name] = Served(runtime, await stack.enter_async_context(served(runtime)))
        yield found


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for name, totals in FUZZ_TOTALS.items():
        terminalreporter.write_line(
            f"schemathesis {name}: {totals['operations']} operations, {totals['cases']} cases, "
            f"{totals['failures']} failures (not_a_server_error)")
