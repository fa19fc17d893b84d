"""Fixtures shared by the integration and end-to-end suites; unit tests use none of them."""

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from harness.cluster import Cluster, provide_cluster
from harness.infra import Infra, provide
from harness.keycloak import provide_identity
from tests.support import auth
from tests.support.kafka import KafkaDriver
from tests.support.otlp import OtlpReceiver
from tests.support.prometheus import Prometheus, running_prometheus
from tests.support.services import SERVICES, Process, start_processes, stop_processes

_versions: dict[str, str] = {}
AUTH_LEEWAY_S = 1  # the services' clock-skew allowance on tokens in the run (an expired token is refused sooner)
FIGURES: dict[str, int] = {}  # counts a test wants in the run's summary (e.g. how many hostile records it sent)


@pytest.fixture(scope="session")
async def infra() -> AsyncIterator[Infra]:
    from shared.kafka_admin import ensure_topics

    async with provide() as found:
        await ensure_topics(found.kafka_as())
        _versions.update(kafka=found.kafka_version, postgres=found.postgres_version, how=found.how)
        consoles = [f"http://127.0.0.1:{SERVICES['console'].test_port}"]  # the end-to-end run's console
        with provide_identity(consoles) as identity, _environment(POSTLOAN_AUTH_ISSUER=identity.issuer,
                                                          POSTLOAN_AUTH_LEEWAY_S=str(AUTH_LEEWAY_S)):
            auth.use(identity)  # services started in the run trust it (in-process and as processes)
            yield found


@pytest.fixture(scope="session")
async def kafka_cluster() -> AsyncIterator[tuple[Infra, Cluster]]:
    """Three Kafka brokers and a database of their own (harness/cluster.py), for tests marked `cluster`; started by
    the first test that asks, stopped at the end of the run. Independent of `infra` (one broker)."""
    async with provide_cluster() as (infra, cluster):
        for key, value in {"kafka": infra.kafka_version, "postgres": infra.postgres_version, "how": infra.how}.items():
            _versions.setdefault(key, value)  # the one-broker run's, when there is one, is the one reported
        yield infra, cluster


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    """The run's OTLP/HTTP trace receiver (tests/support/otlp.py): every platform process exports to it."""
    receiver = OtlpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="session")
async def platform(infra: Infra, otlp: OtlpReceiver,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Process]]:
    """The five services as separate processes, once for the whole session (end-to-end and browser tests), tracing
    to the run's receiver (in the environment, so a process a test restarts traces too)."""
    with _environment(OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY="200"):
        platform = {p.info.name: p for p in await start_processes(infra, tmp_path_factory.mktemp("logs"))}
        try:
            yield platform
        finally:
            stop_processes(list(platform.values()))  # the processes running now: a test may have restarted one


@pytest.fixture(scope="session")
def prometheus() -> Iterator[Prometheus]:
    """A real Prometheus with the project's alert rules, scraping the end-to-end run's service processes every
    second (tests/support/prometheus.py); started by the first test that asks for it, stopped at the end of the run."""
    with running_prometheus() as found:
        yield found


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
async def migrated(infra: Infra) -> Infra:
    """Every service's schema at head in the run's database, migrated as the service's own role (as it runs)."""
    from shared.db import migrate

    for svc in SERVICES.values():
        await migrate(svc.migrations, infra.service_database_url(svc.name), svc.schema)
    return infra


@pytest.fixture(scope="session")
async def kafka(infra: Infra) -> AsyncIterator[KafkaDriver]:
    driver = KafkaDriver(infra)
    await driver.start()
    yield driver
    await driver.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that does not use the session's `platform` runs before the first one that does, whatever order
    the paths were given in: once started, its five processes run until the session ends, in the same consumer
    groups and after the same relay locks as a copy a test starts in its own process, which would then share its
    work with them (a test reading its own copy's spans saw another process publish its record). Each group keeps
    its order."""
    items[:] = sorted(items, key=_uses_the_session_platform)


def _uses_the_session_platform(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)  # (pytest's own record of the fixtures an item needs)
    defs = info.name2fixturedefs.get("platform") if info is not None else None
    # The last is the one the item gets (a package's `platform` overrides the session's).
    return defs is not None and len(defs) > 0 and defs[-1].scope == "session"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _versions:
        terminalreporter.write_line(
            f"ran against Apache Kafka {_versions['kafka']} and PostgreSQL {_versions['postgres']} "
            f"({_versions['how']})"
        )
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name}: {value}")
