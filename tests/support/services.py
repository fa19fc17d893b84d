"""The five services as the tests start them: in-process runtimes, or separate processes for end-to-end runs."""

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from harness.builders import ACCOUNT_DAY
from harness.infra import ROOT, Infra
from services import SERVICES as ALL_SERVICES
from shared.clock import Clock, FixedClock
from shared.runtime import ServiceRuntime
from tests.support.auth import staff


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    schema: str
    migrations: Path
    env_prefix: str
    test_port: int


_PORT_BASE = int(os.environ.get("POSTLOAN_TEST_PORT_BASE", "18000"))
SERVICES = {
    name: ServiceInfo(name, name, ROOT / "services" / name / "migrations", f"{name.upper()}_", _PORT_BASE + i)
    for i, name in enumerate(ALL_SERVICES, start=1)
}


def _console_urls(name: str) -> dict[str, str]:
    """The console calls the owning services' HTTP APIs: in a test run, at their test ports (and it is itself at
    its own). Settings of the console only; none for the others."""
    if name != "console":
        return {}
    urls = {f"{owner}_url": f"http://127.0.0.1:{SERVICES[owner].test_port}"
            for owner in ("requests", "confirmation", "appointments")}
    return {**urls, "public_url": f"http://127.0.0.1:{SERVICES[name].test_port}"}


def _builder(name: str) -> tuple[Any, Any]:
    module = __import__(f"services.{name}.app", fromlist=["build_runtime"])
    settings = __import__(f"services.{name}.settings", fromlist=["Settings"])
    return module.build_runtime, settings.Settings


@contextlib.asynccontextmanager
async def running(name: str, infra: Infra, *, clock: Clock | None = None,
                  **overrides: Any) -> AsyncIterator[ServiceRuntime]:
    """One copy of a service inside the test process, consuming and relaying until the block ends.

    Its clock stands still on the account's first day unless the test passes another (SPEC §10). Its relay is a
    task of the test's event loop (`relay_process=False`) unless the test asks for the child process, the default
    of a real service: a child takes a second to start, on every one of the many runtimes the tests start. The
    end-to-end and fault tests run the services as processes, with their relays in children as deployed.
    """
    build, settings_cls = _builder(name)
    settings = settings_cls(**{**infra.kafka_settings(name), "database_url": infra.service_database_url(name),
                               "migrate_on_start": False, "timer_interval_s": 0.2, "relay_process": False,
                               **_console_urls(name), **overrides})
    runtime: ServiceRuntime = build(settings)
    runtime.clock = clock or FixedClock(ACCOUNT_DAY)
    await runtime.start()
    try:
        await runtime.wait_ready(60)
        yield runtime
    finally:
        await runtime.stop()


@dataclass
class Process:
    info: ServiceInfo
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.info.test_port}"

    def client(self, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        """An HTTP client on the process, signed in as the test user holding every staff role unless `auth` says
        otherwise."""
        return httpx.AsyncClient(base_url=self.url, timeout=10, auth=auth or staff())


async def start_processes(infra: Infra, log_dir: Path, names: tuple[str, ...] = tuple(SERVICES),
                          extra_env: dict[str, str] | None = None, ports: Sequence[int] = ()) -> list[Process]:
    """Each service as its own OS process (`python -m services.<name>`), waited for until /ready answers 200.

    A process started again appends to the same log, so the end-of-run log checks see everything it wrote.
    `ports`, one per name, run copies of a service side by side (the fault tests): each on its port, with a log of
    its own; without them each service is on its test port.
    """
    procs = []
    for at, name in enumerate(names):
        info = replace(SERVICES[name], test_port=ports[at]) if ports else SERVICES[name]
        env = {
            **os.environ,
            **{f"{info.env_prefix}{k.upper()}": v for k, v in infra.kafka_settings(name).items()},
            f"{info.env_prefix}DATABASE_URL": infra.service_database_url(name),  # its own login role
            "POSTLOAN_LOG_JSON": "true",
            "POSTLOAN_CLOCK_START": ACCOUNT_DAY.isoformat(),  # the processes replay the account's dates
            "POSTLOAN_DEMO_MODE": "true",  # which a service accepts only as a demo
            f"{info.env_prefix}HTTP_PORT": str(info.test_port),
            **{f"{info.env_prefix}{k.upper()}": v for k, v in _console_urls(name).items()},
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        log = log_dir / (f"{name}-{info.test_port}.log" if ports else f"{name}.log")
        popen = subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env, cwd=ROOT,
                                 stdout=log.open("ab"), stderr=subprocess.STDOUT)
        procs.append(Process(info, popen, log))
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for p in procs:
                await _wait_ready(client, p)
    except BaseException:
        stop_processes(procs)  # none is left behind, ready or not, when one never becomes ready
        raise
    return procs


async def _wait_ready(client: httpx.AsyncClient, p: Process, timeout: float = 90) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if p.popen.poll() is not None:
            raise RuntimeError(f"{p.info.name} exited with {p.popen.returncode}:\n{p.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(f"{p.url}/ready")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{p.info.name} not ready after {timeout} s:\n{p.log.read_text()[-3000:]}")


@contextlib.asynccontextmanager
async def restarted(platform: dict[str, Process], name: str, infra: Infra, **env: str) -> AsyncIterator[Process]:
    """The service's process restarted with `env` added (say, its clock moved to a later day) for the block,
    then restarted as it was; `platform` points at whichever process is running."""
    log_dir = platform[name].log.parent
    stop_processes([platform[name]])
    [platform[name]] = await start_processes(infra, log_dir, (name,), extra_env=env)
    try:
        yield platform[name]
    finally:
        stop_processes([platform[name]])
        [platform[name]] = await start_processes(infra, log_dir, (name,))


@contextlib.asynccontextmanager
async def stopped(platform: dict[str, Process], name: str, infra: Infra) -> AsyncIterator[None]:
    """The service's process stopped for the block (its consumer group falls behind), then started again as it
    was; `platform` points at the new process."""
    log_dir = platform[name].log.parent
    stop_processes([platform[name]])
    try:
        yield
    finally:
        [platform[name]] = await start_processes(infra, log_dir, (name,))


def stop_processes(procs: list[Process]) -> None:
    for p in procs:
        p.popen.terminate()
    for p in procs:
        try:
            p.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.popen.kill()


def http(runtime: ServiceRuntime, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    """An HTTP client on a running in-process service's API (no socket, same routes and validation), signed in
    as the test user holding every staff role unless `auth` says otherwise."""
    app = runtime.asgi()
    app.state.runtime = runtime
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service",
                             auth=auth or staff())
