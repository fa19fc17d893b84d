"""One Kafka broker and one PostgreSQL server for a whole test run, found or started, and a fresh database.

Order of preference: servers named by POSTLOAN_TEST_KAFKA_BOOTSTRAP / POSTLOAN_TEST_DATABASE_URL; containers
when a Docker engine answers (testcontainers); otherwise the project's native launchers in deploy/. The native broker
is the secured one (SASL_SSL, SCRAM, ACLs): its credentials are generated under .local/test/secrets by deploy/kafka.sh
and handed out per principal (`Infra.kafka_as`, `Infra.kafka_settings`).
"""

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from services import SERVICES
from shared import db_roles
from shared.kafka_security import KafkaAccess, ca_file, local_access, password_file
from shared.principals import ADMIN, service
from shared.secret_files import state_dir

ROOT = Path(__file__).resolve().parents[1]
# Settable so that two test runs on one machine (say, two checkouts) use brokers of their own.
TEST_KAFKA_PORT = int(os.environ.get("POSTLOAN_TEST_KAFKA_PORT", "19092"))
TEST_STATE = ROOT / ".local" / "test"  # the test broker's data and its generated CA and credentials


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    # SQLAlchemy form: postgresql+asyncpg://…, the superuser's (tests inspect every schema with it). URLs carry
    # passwords: kept out of the repr that a failing test prints.
    database_url: str = field(repr=False)
    kafka_version: str
    postgres_version: str
    how: str
    service_urls: Mapping[str, str] = field(default_factory=dict, repr=False)
    kafka_state: Path | None = None  # the state folder holding the broker's credentials; None: an open broker
    db_secrets: Path | None = field(default=None, repr=False)  # where the service roles' passwords are kept

    @contextlib.asynccontextmanager
    async def another_database(self) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """A second fresh database on the same server, with the services' schemas (not migrated), dropped at the
        end: its superuser URL and each service's URL of it. Two copies of a service with a database each run side
        by side without sharing state (bench/trace_side_by_side.py)."""
        if self.db_secrets is None:
            raise RuntimeError("this run's database server has no known service passwords")
        async with fresh_database(self.database_url, self.db_secrets) as (url, _, service_urls):
            yield url, service_urls

    def service_database_url(self, service: str) -> str:
        """The test database as the service's own login role sees it: its schema only (what services run as)."""
        return self.service_urls[service]

    def kafka_as(self, principal: str = ADMIN) -> KafkaAccess:
        """The run's broker as `principal` (shared/principals.py; the admin by default)."""
        if self.kafka_state is None:
            return KafkaAccess(self.kafka_bootstrap)
        return local_access(principal, self.kafka_bootstrap, state=self.kafka_state)

    def kafka_settings(self, name: str) -> dict[str, str]:
        """The Kafka settings of service `name`, running as its own principal."""
        if self.kafka_state is None:
            return {"kafka_bootstrap": self.kafka_bootstrap, "kafka_security_protocol": "PLAINTEXT"}
        user = service(name).name
        return {"kafka_bootstrap": self.kafka_bootstrap, "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_username": user, "kafka_sasl_password_file": str(password_file(user, self.kafka_state)),
                "kafka_ca_file": str(ca_file(self.kafka_state))}


def _launcher(script: str, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(ROOT / "deploy" / script), *args], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"deploy/{script} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


@contextlib.contextmanager
def _native_kafka() -> Iterator[tuple[str, str]]:
    env = {
        "KAFKA_PORT": str(TEST_KAFKA_PORT),
        "KAFKA_CONTROLLER_PORT": str(TEST_KAFKA_PORT + 1),
        "POSTLOAN_STATE_DIR": str(TEST_STATE),  # data, pid and log files are named by port
        "POSTLOAN_PYTHON": sys.executable,
        "KAFKA_FRESH": "1",  # every run starts from empty topics
    }
    _launcher("kafka.sh", "stop", env=env)
    _launcher("kafka.sh", "start", env=env)
    try:
        yield f"127.0.0.1:{TEST_KAFKA_PORT}", _launcher("kafka.sh", "version", env=env)
    finally:
        _launcher("kafka.sh", "stop", env=env)


@contextlib.contextmanager
def _native_postgres() -> Iterator[tuple[str, Path]]:
    """The platform's server (its superuser's URL) and the folder of its passwords, where deploy/postgres.sh keeps
    them: the service roles are cluster-wide, so a test run uses the passwords `make up` uses."""
    _launcher("postgres.sh", "start", env={})
    yield _launcher("postgres.sh", "admin-url", env={}), pg_secrets()


def pg_secrets() -> Path:
    """Where deploy/postgres.sh keeps the platform server's passwords (as it computes it), whatever state folder a
    launcher of another part is given: the roles are the server's, so everyone signs in with these."""
    return Path(os.environ.get("PG_SECRETS_DIR") or state_dir() / "secrets" / "postgres")


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]  # installed with testcontainers

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _containers() -> Iterator[tuple[str, str, str]]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer("apache/kafka:4.3.1").with_kraft() as kafka, PostgresContainer(
        "postgres:16", driver="asyncpg"
    ) as pg:
        yield kafka.get_bootstrap_server(), "4.3.1", pg.get_connection_url()


async def _create_database(server_url: str) -> tuple[str, str, str]:
    """Creates postloan_test_<random> on the server; returns its URL, the admin DSN and the server version."""
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        name = f"postloan_test_{uuid.uuid4().hex[:8]}"
        await conn.execute(f'CREATE DATABASE "{name}"')
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    base = server_url.rsplit("/", 1)[0]
    return f"{base}/{name}", dsn, version


async def _provision(server_url: str, url: str, secrets: Path) -> dict[str, str]:
    """The service roles on the server (idempotent) and, in the test database, each service's schema owned by its
    role; returns each service's URL of the test database."""
    passwords = {name: db_roles.password(secrets, db_roles.role(name)) for name in SERVICES}
    await db_roles.ensure_roles(server_url, {db_roles.role(name): pw for name, pw in passwords.items()})
    await db_roles.provision_database(url, SERVICES)
    return {name: db_roles.with_login(url, db_roles.role(name), pw) for name, pw in passwords.items()}


async def _drop_database(admin_dsn: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def provide() -> AsyncIterator[Infra]:
    stack = contextlib.ExitStack()
    with stack:
        kafka_env = os.environ.get("POSTLOAN_TEST_KAFKA_BOOTSTRAP")
        state: Path | None = None
        db_env = os.environ.get("POSTLOAN_TEST_DATABASE_URL")
        # A server the run did not start gets the service roles with passwords of the run's own.
        secrets = ROOT / ".local" / "test" / "secrets" / "postgres"
        if kafka_env and db_env:
            bootstrap, kafka_version, server, how = kafka_env, "as given", db_env, "servers from the environment"
        elif _docker_answers():
            bootstrap, kafka_version, server = stack.enter_context(_containers())
            how = "testcontainers"
        else:
            bootstrap, kafka_version = stack.enter_context(_native_kafka())
            state = TEST_STATE
            (server, secrets), how = stack.enter_context(_native_postgres()), "native launchers (deploy/)"
        async with fresh_database(server, secrets) as (url, pg_version, service_urls):
            yield Infra(bootstrap, url, kafka_version, pg_version, how, service_urls, state, secrets)


@contextlib.asynccontextmanager
async def fresh_database(server: str, secrets: Path) -> AsyncIterator[tuple[str, str, dict[str, str]]]:
    """A fresh database on `server` with the service roles (passwords from `secrets`), dropped at the end: its URL,
    the server's version and each service's URL of it."""
    url, admin_dsn, pg_version = await _create_database(server)
    try:
        yield url, pg_version, await _provision(server, url, secrets)
    finally:
        await _drop_database(admin_dsn, url)
