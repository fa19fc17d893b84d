"""Each service's login role against the real server (issue 13): it signs in with its password only, owns its own
schema and can read, write or create nothing elsewhere; and it can do its own work."""

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from harness.infra import Infra
from services import SERVICES
from shared import db_roles
from tests.support.services import running

NO_PASSFILE = "/nonexistent/.pgpass"  # neither ~/.pgpass nor PGPASSWORD may sign a refused login in after all


def _dsn(url: str, **login: str | None) -> str:
    """asyncpg's form of `url`, with another database or password (None: none at all) when named."""
    u = make_url(url)
    return db_roles.with_login(u.set(drivername="postgresql").render_as_string(hide_password=False),
                               u.username or "", login.get("password", u.password), login.get("database"))


@asynccontextmanager
async def signed_in(infra: Infra, service: str) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(_dsn(infra.service_database_url(service)), passfile=NO_PASSFILE)
    try:
        yield conn
    finally:
        await conn.close()


async def test_the_services_own_schemas_tables_belong_to_their_roles_migrations_included(migrated: Infra) -> None:
    """The schemas were migrated as the services' roles: every table, Alembic's version table too, is the role's."""
    admin = await asyncpg.connect(_dsn(migrated.database_url))
    try:
        for service in SERVICES:
            owners = {r["tableowner"] for r in await admin.fetch(
                "SELECT tableowner FROM pg_tables WHERE schemaname = $1", service)}
            version_table = await admin.fetchval("SELECT to_regclass($1)", f"{service}.alembic_version")
            assert owners == {db_roles.role(service)}, (service, owners)
            assert version_table is not None, service
    finally:
        await admin.close()


@pytest.mark.parametrize(("me", "other"), list(itertools.permutations(SERVICES, 2)))
async def test_a_service_role_can_neither_read_write_nor_create_in_another_services_schema(
    migrated: Infra, me: str, other: str
) -> None:
    async with signed_in(migrated, me) as conn:
        for statement in (f"SELECT count(*) FROM {other}.inbox",
                          f"INSERT INTO {other}.inbox (source, message_id, topic) VALUES ('forged', 'x', 't')",
                          f"DELETE FROM {other}.outbox",
                          f"CREATE TABLE {other}.planted (id int)"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"permission denied for schema {other}"):
                await conn.execute(statement)
        # The positive marker behind the refusals: the same connection works in its own schema.
        assert await conn.fetchval(f"SELECT count(*) FROM {me}.inbox") >= 0


async def test_a_service_role_cannot_create_schemas_temporary_or_public_tables_or_roles(migrated: Infra) -> None:
    async with signed_in(migrated, "requests") as conn:
        refusals = {
            "CREATE SCHEMA planted": "permission denied for database",
            "CREATE TABLE public.planted (id int)": "permission denied for schema public",
            "CREATE TEMP TABLE planted (id int)": "permission denied to create temporary tables",
            "CREATE ROLE planted LOGIN": "permission denied to create role",
            "CREATE DATABASE planted": "permission denied to create database",
            # PostgreSQL 15 says "must be superuser to alter superuser roles…", 16 "permission denied to alter role"
            f"ALTER ROLE {db_roles.role('requests')} SUPERUSER": "must be superuser|permission denied to alter role",
            f"SET ROLE {db_roles.ADMIN_ROLE}": "permission denied to set role",
        }
        for statement, message in refusals.items():
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match=message):
                await conn.execute(statement)
        me = await conn.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles"
            " WHERE rolname = current_user")
        assert dict(me) == dict.fromkeys(me.keys(), False)


async def test_a_service_role_cannot_connect_to_a_database_not_granted_to_it(migrated: Infra) -> None:
    url = migrated.service_database_url("requests")
    for database in ("postgres", "template1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
            await asyncpg.connect(_dsn(url, database=database), passfile=NO_PASSFILE)
    async with signed_in(migrated, "requests") as conn:  # the positive marker: its own database lets it in
        assert await conn.fetchval("SELECT current_user") == db_roles.role("requests")


@pytest.mark.parametrize("login", ["requests", "admin"])
async def test_a_connection_without_its_password_or_with_a_wrong_one_is_refused(migrated: Infra, login: str) -> None:
    url = migrated.database_url if login == "admin" else migrated.service_database_url(login)
    for password in (None, "", "wrong-password"):
        with pytest.raises(asyncpg.InvalidPasswordError, match="password authentication failed"):
            await asyncpg.connect(_dsn(url, password=password), passfile=NO_PASSFILE)
    conn = await asyncpg.connect(_dsn(url), passfile=NO_PASSFILE)  # the right password gets in
    try:
        assert await conn.fetchval("SHOW password_encryption") == "scram-sha-256"
    finally:
        await conn.close()


async def test_a_service_role_does_its_own_work_in_its_schema(migrated: Infra) -> None:
    async with signed_in(migrated, "requests") as conn, conn.transaction():
        await conn.execute("INSERT INTO requests.inbox (source, message_id, topic) VALUES ('test', 'own-work', 't')")
        assert await conn.fetchval(
            "SELECT topic FROM requests.inbox WHERE source = 'test' AND message_id = 'own-work'") == "t"
        await conn.execute("CREATE TABLE requests.scratch (id int)")  # it owns the schema: migrations may create
        await conn.execute("DROP TABLE requests.scratch")
        await conn.execute("DELETE FROM requests.inbox WHERE source = 'test'")


async def test_a_service_started_by_the_tests_works_as_its_own_role(migrated: Infra) -> None:
    async with running("confirmation", migrated) as service:
        assert service.engine is not None
        async with service.engine.connect() as conn:
            me = (await conn.execute(text("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user"))
                  ).one()
    assert tuple(me) == (db_roles.role("confirmation"), False)
