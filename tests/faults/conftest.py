"""The fault tests' own session (`make test-faults`, and the last stage of `make test`): a broker and a database
found or started as every test run does (harness/infra.py), every service's schema migrated, and no identity
provider (no test here calls a staff endpoint: /ready and /metrics need no token). Run in a pytest process of their
own: a fault test restarts the run's PostgreSQL under everything connected to it."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from harness.infra import Infra, provide
from tests.faults.support import SUMMARY, WORKERS
from tests.support.kafka import KafkaDriver
from tests.support.services import _PORT_BASE, SERVICES

# The copies' HTTP ports: base + 60 .. base + 89, clear of the run's services (base + 1 ..), its Prometheus
# (base + 50) and its Keycloak's management port (base + 90).
FAULT_PORTS = range(_PORT_BASE + 60, _PORT_BASE + 90)


@pytest.fixture(scope="session")
async def fault_infra() -> AsyncIterator[Infra]:
    from shared.db import migrate
    from shared.kafka_admin import ensure_topics

    async with provide() as found:
        await ensure_topics(found.kafka_as())
        for name in WORKERS:
            await migrate(SERVICES[name].migrations, found.service_database_url(name), SERVICES[name].schema)
        yield found


@pytest.fixture(scope="session")
def fault_ports() -> Iterator[int]:
    """Ports for copies, each handed out once in the run (a killed copy's port is never reused)."""
    return iter(FAULT_PORTS)


@pytest.fixture(scope="session")
async def fault_kafka(fault_infra: Infra) -> AsyncIterator[KafkaDriver]:
    driver = KafkaDriver(fault_infra)
    yield driver
    await driver.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in SUMMARY:  # the figures of each fault (also in bench/results/issue16/<fault>.json)
        terminalreporter.write_line(line)
