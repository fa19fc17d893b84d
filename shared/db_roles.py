"""PostgreSQL login roles (issue 13): one per service, owning its own schema and able to touch no other.

The superuser `postloan` only administers: it creates the service roles (cluster-wide, no superuser, no CREATEDB or
CREATEROLE) and, in each database, closes the database and its `public` schema to PUBLIC, grants CONNECT to the
service roles and creates each service's schema owned by its role. The services then migrate and run as their own
role. Passwords live in a secrets folder (0700, one file per role, 0600), generated on first use; the folder is the
truth: a role whose password differs from its file gets the file's.

Used by deploy/postgres.sh (the platform's database, through the command line below), by harness/infra.py (each test
database) and by docker-compose.yml (its `db-roles` one-shot service), so all three set roles up the same way.
"""

import asyncio
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import URL, make_url

from shared.secret_files import secret

ADMIN_ROLE = "postloan"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # schema and role names are ours; quoted as identifiers all the same
_LOCK_KEY = 0x706F_6C6E  # one advisory lock number: two test runs creating the roles at once must not race


def role(service: str) -> str:
    return f"{ADMIN_ROLE}_{service}"


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain PostgreSQL name: {name!r}")
    return f'"{name}"'


def password(folder: Path, name: str) -> str:
    """The role's password from `folder/<name>.password`, generated when the file is missing."""
    return secret(folder / f"{name}.password")


def with_login(url: str, user: str, secret: str | None, database: str | None = None) -> str:
    """The same server (and database, unless another is named) as `url`, signed in as `user` (with no password when
    `secret` is None: URL.set would keep the old one)."""
    u = make_url(url)
    return URL.create(u.drivername, user, secret, u.host, u.port, database or u.database,
                      u.query).render_as_string(hide_password=False)


def admin_url(server: str, folder: Path) -> str:
    """`server` with the superuser's password from the folder, unless the URL carries one already."""
    parsed = make_url(server)
    if parsed.password is not None:
        return server
    return with_login(server, parsed.username or ADMIN_ROLE, password(folder, ADMIN_ROLE))


def service_url(server: str, folder: Path, service: str) -> str:
    return with_login(server, role(service), password(folder, role(service)))


def _dsn(url: str) -> str:
    """asyncpg's form of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _connect(url: str) -> Any:
    return await asyncpg.connect(_dsn(url))


async def _set_password(conn: Any, name: str, secret: str) -> None:
    # Utility statements take no bind parameters: the server quotes the literal itself (format's %L).
    await conn.execute(await conn.fetchval("SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)",
                                           name, secret))


async def secure_admin(server: str, folder: Path) -> None:
    """Gives the superuser its password and makes the server store SCRAM verifiers; run on a cluster still on
    `trust` (a connection without password works) just before its pg_hba.conf is rewritten."""
    conn = await _connect(with_login(server, make_url(server).username or ADMIN_ROLE, None))
    try:
        await conn.execute("ALTER SYSTEM SET password_encryption = 'scram-sha-256'")
        await conn.execute("SELECT pg_reload_conf()")
        await conn.execute("SET password_encryption = 'scram-sha-256'")
        await _set_password(conn, ADMIN_ROLE, password(folder, ADMIN_ROLE))
    finally:
        await conn.close()


async def ensure_roles(admin: str, passwords: Mapping[str, str]) -> None:
    """Creates each missing login role; every role gets the password it is given and loses any privilege a
    service must not have. Roles are cluster-wide: this runs once per server (and is idempotent)."""
    conn = await _connect(admin)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            for name, secret in passwords.items():
                exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name)
                if not exists:
                    await conn.execute(f"CREATE ROLE {_ident(name)} LOGIN")
                await conn.execute(f"ALTER ROLE {_ident(name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                   "NOREPLICATION NOBYPASSRLS")
                await _set_password(conn, name, secret)
            for maintenance in ("postgres", "template1"):  # the roles connect to the databases granted them only
                await conn.execute(f"REVOKE CONNECT, TEMP ON DATABASE {maintenance} FROM PUBLIC")
    finally:
        await conn.close()


async def ensure_database(admin: str) -> None:
    """Creates the URL's database when it is missing (connected to the `postgres` maintenance database)."""
    name = make_url(admin).database
    assert name, "a database name in the URL"
    conn = await _connect(with_login(admin, make_url(admin).username or ADMIN_ROLE, make_url(admin).password,
                                     database="postgres"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f"CREATE DATABASE {_ident(name)}")
    finally:
        await conn.close()


async def provision_database(admin: str, services: Iterable[str]) -> None:
    """In the URL's database: nothing for PUBLIC (no CONNECT, TEMP or CREATE; nothing in schema `public`), CONNECT
    for each service's role and its schema owned by it. A schema made earlier by the superuser (a platform from
    before issue 13) is handed over with everything in it, so the service's migrations can alter their tables."""
    conn = await _connect(admin)
    try:
        async with conn.transaction():
            database = _ident(await conn.fetchval("SELECT current_database()"))
            await conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
            await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            for service in services:
                owner, schema = _ident(role(service)), _ident(service)
                await conn.execute(f"GRANT CONNECT ON DATABASE {database} TO {owner}")
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner}")
                await conn.execute(f"ALTER SCHEMA {schema} OWNER TO {owner}")
                await _hand_over(conn, service, role(service))
    finally:
        await conn.close()


async def _hand_over(conn: Any, schema: str, owner: str) -> None:
    """Tables, views and free-standing sequences in the schema owned by someone else become the owner's (indexes
    and identity sequences follow their table)."""
    statements = await conn.fetch(
        """SELECT format('ALTER TABLE %I.%I OWNER TO %I', n.nspname, c.relname, $2::text)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relowner <> $2::text::regrole
             AND (c.relkind IN ('r', 'p', 'v', 'm', 'f')
                  OR (c.relkind = 'S' AND NOT EXISTS (
                      SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))))""",
        schema, owner,
    )
    for (statement,) in statements:
        await conn.execute(statement)


async def provision(server: str, folder: Path, services: Iterable[str]) -> None:
    """Everything above for `server`'s database: the database, the roles with the folder's passwords, the grants."""
    names = list(services)
    admin = admin_url(server, folder)
    await ensure_database(admin)
    await ensure_roles(admin, {role(s): password(folder, role(s)) for s in names})
    await provision_database(admin, names)


_USAGE = """usage: python -m shared.db_roles COMMAND [ARG]
(the server's URL in POSTLOAN_PG_SERVER, the passwords' folder in POSTLOAN_PG_SECRETS)
  secure              give the superuser of a cluster still on trust its password (before pg_hba.conf is rewritten)
  provision NAME...   database, one role per service NAME, grants and schemas
  secrets NAME...     generate the passwords still missing (the superuser's and each service NAME's role's)
  admin-url           the superuser's URL, password included
  url NAME            service NAME's URL, password included
  exec NAME CMD...    run CMD with NAME_DATABASE_URL set to service NAME's URL (unless already set)"""


def main(argv: list[str]) -> int:
    """Keeps URLs with passwords out of the command line: they come from the environment and the folder."""
    server, folder = os.environ.get("POSTLOAN_PG_SERVER"), os.environ.get("POSTLOAN_PG_SECRETS")
    if not server or not folder or not argv:
        print(_USAGE, file=sys.stderr)  # noqa: T201 - a command: its usage
        return 2
    try:
        return _run(argv[0], argv[1:], server, Path(folder))
    except asyncpg.InvalidPasswordError:
        print(f"postgres: the superuser's password in {folder} does not open the server of {make_url(server)!s} "  # noqa: T201
              "(a cluster whose passwords are in another folder, say another checkout's? PG_SECRETS_DIR names it)",
              file=sys.stderr)
        return 1


def _run(command: str, args: list[str], server: str, where: Path) -> int:
    if command == "secure":
        asyncio.run(secure_admin(server, where))
    elif command == "provision":
        asyncio.run(provision(server, where, args))
    elif command == "secrets":
        for name in (ADMIN_ROLE, *map(role, args)):
            password(where, name)
    elif command == "admin-url":
        print(admin_url(server, where))  # noqa: T201 - the output the scripts read
    elif command == "url" and len(args) == 1:
        print(service_url(server, where, args[0]))  # noqa: T201 - the output the scripts read
    elif command == "exec" and len(args) >= 2:
        # docker-compose.yml starts each service so: the URL goes into that process's environment only
        os.environ.setdefault(f"{args[0].upper()}_DATABASE_URL", service_url(server, where, args[0]))
        os.execvp(args[1], args[1:])
    else:
        print(_USAGE, file=sys.stderr)  # noqa: T201 - a command: its usage
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
