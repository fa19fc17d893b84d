"""SQL bound values never reach a log line (SPEC §10): errors provoked on the real database with a phone number, an
e-mail address and a name in the parameters, logged as the services log them, name the statement and the kind of
error but hold none of the values."""

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from harness.infra import Infra
from shared.db import create_engine
from shared.logging import configure_logging

PHONE, EMAIL, NAME = "13800138000", "liu.mei@example.com", "Liu Mei"


@pytest.fixture
async def conn(infra: Infra) -> AsyncIterator[AsyncConnection]:
    """A connection of the project's own engine, with a scratch table of its own in the run's database."""
    engine = create_engine(infra.database_url, pool_size=1)
    table = f"scratch_{uuid.uuid4().hex[:8]}"
    async with engine.connect() as connection:
        await connection.execute(text(f"CREATE TEMP TABLE {table} (phone text PRIMARY KEY, email varchar(8), "
                                      f"name text NOT NULL, visits int)"))
        connection.info["table"] = table
        yield connection
    await engine.dispose()


async def failure(conn: AsyncConnection, statement: str, **values: object) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught:
        async with conn.begin_nested():
            await conn.execute(text(statement.format(t=conn.info["table"])), values)
    return caught.value


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Logging as it was before the test, put back afterwards, so no later test of the run writes to the closed
    capture the test configured it with."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    root.handlers[:], root.level = handlers, level


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


async def test_sql_errors_are_logged_with_their_statement_and_kind_but_without_the_values(
    conn: AsyncConnection, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("tests", json=True)  # the services' logging, writing to the test's captured stderr
    await conn.execute(text(f"INSERT INTO {conn.info['table']} VALUES (:p, 'a', :n, 1)"), {"p": PHONE, "n": NAME})
    errors = {
        "violates unique constraint": await failure(conn, "INSERT INTO {t} VALUES (:p, 'b', :n, 1)", p=PHONE, n=NAME),
        "value too long for type character varying": await failure(
            conn, "INSERT INTO {t} VALUES ('p', :e, :n, 1)", e=EMAIL, n=NAME),
        "violates not-null constraint": await failure(conn, "INSERT INTO {t} VALUES (:p, :e, NULL, 1)", p=PHONE, e="x"),
        "invalid input for query argument": await failure(conn, "INSERT INTO {t} VALUES ('q', 'c', 'n', :v)",
                                                          v=f"{NAME} {EMAIL}"),
    }
    log = structlog.get_logger("postloan.tests")
    for kind, exc in errors.items():
        log.error("handler_failed", kind=kind, error=repr(exc)[:300], exc_info=exc)  # as the consumer logs one
        logging.getLogger("faststream").error("failed", exc_info=exc)  # as a library logs one
    lines = logged(capsys)
    assert len(lines) == 2 * len(errors)
    for line in lines:
        whole = json.dumps(line, ensure_ascii=False)
        assert PHONE not in whole and EMAIL not in whole and NAME not in whole, whole
        assert "INSERT INTO scratch_" in line["exception"]
    for kind, (ours, library) in zip(errors, zip(lines[::2], lines[1::2], strict=True), strict=True):
        assert kind in ours["exception"] and kind in library["exception"] and kind in ours["error"]
