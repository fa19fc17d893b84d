"""The HTTP edge every service shares (shared/http.py): what it refuses before any route, and its cursors."""

from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import AwareDatetime, TypeAdapter
from sqlalchemy.exc import DBAPIError

from shared.http import (
    Identifier,
    _is_data_error,
    decode_cursor,
    encode_cursor,
    guard,
    next_cursor,
    request_problem,
)

KEY = TypeAdapter(tuple[date, AwareDatetime, Identifier])
AT = datetime(2020, 2, 3, 9, 30, tzinfo=timezone(timedelta(hours=8)))


def _scope(raw_path: bytes, query: bytes = b"") -> dict[str, object]:
    return {"type": "http", "path": raw_path.decode("latin-1"), "raw_path": raw_path, "query_string": query}


@pytest.mark.parametrize(("raw_path", "query"), [
    (b"/loans/%00", b""), (b"/loans/L-1%0A", b""), (b"/loans/%FF", b""), (b"/loans/%7F", b""),
    (b"/paper/owed", b"branch_id=%00"), (b"/paper/owed", b"branch_id=%C3%28"), (b"/paper/owed", b"%01=x"),
    (b"/loans/" + b"x" * 129, b""), (b"/paper/owed", b"branch_id=" + b"x" * 513),
    (b"/paper/owed", b"&".join([b"a=1"] * 65)),
])
def test_the_guard_refuses_control_characters_undecodable_bytes_and_over_long_parts(raw_path: bytes,
                                                                                   query: bytes) -> None:
    assert request_problem(_scope(raw_path, query)) is not None


@pytest.mark.parametrize(("raw_path", "query"), [
    (b"/loans/L-1", b""), (b"/loans/%E6%B7%B1%E5%9C%B3", b""), (b"/loans/" + b"x" * 128, b""),
    (b"/requests", b"state=SUBMITTED&state=APPROVED&deadline_before=2020-02-12"), (b"/paper/owed", b"branch_id=a+b"),
])
def test_the_guard_lets_ordinary_requests_through(raw_path: bytes, query: bytes) -> None:
    assert request_problem(_scope(raw_path, query)) is None


def test_a_cursor_round_trips_the_sort_key_of_the_last_item() -> None:
    key = (date(2020, 2, 10), AT, "R-深圳-1")
    assert decode_cursor(encode_cursor(key), KEY) == key
    assert decode_cursor(None, KEY) is None


@pytest.mark.parametrize("cursor", ["AAAA", "%%%", encode_cursor(["2020-02-10", "2020-02-03T09:30:00", "R-1"]),
                                    encode_cursor(["2020-02-10", AT, "R-\x00"]), encode_cursor(["2020-02-10", AT])])
def test_a_cursor_the_service_did_not_give_out_is_refused_with_400(cursor: str) -> None:
    with pytest.raises(HTTPException) as refused:
        decode_cursor(cursor, KEY)
    assert refused.value.status_code == 400


def test_a_next_cursor_exists_only_when_a_row_beyond_the_page_was_fetched() -> None:
    rows = [(date(2020, 2, 10), AT, f"R-{n}") for n in range(3)]
    assert next_cursor(rows[:2], 2, lambda r: r) is None
    assert decode_cursor(next_cursor(rows, 2, lambda r: r), KEY) == rows[1]


class _Refused(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class _Wrapped(Exception):
    def __init__(self, orig: BaseException) -> None:
        super().__init__("wrapped")
        self.orig = orig


def test_only_a_data_exception_of_the_database_counts_as_the_input_s_fault() -> None:
    assert _is_data_error(_Wrapped(_Refused("22021")))  # character not in repertoire (a NUL)
    assert _is_data_error(_Wrapped(_Refused("22003")))  # numeric value out of range
    assert not _is_data_error(_Wrapped(_Refused("40001")))  # a serialization failure is the server's to retry
    assert not _is_data_error(_Wrapped(ConnectionError()))


async def test_a_value_the_database_refuses_answers_400_as_a_last_resort() -> None:
    """What no route bound caught and PostgreSQL refused (SQLSTATE class 22) is the input's fault: a 400."""
    app = FastAPI()
    guard(app, max_body_bytes=1024)

    @app.get("/refused/{sqlstate}")
    async def refused(sqlstate: str) -> None:
        raise DBAPIError("SELECT 1", {}, _Refused(sqlstate))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/refused/22003")
        assert response.status_code == 400 and "database cannot hold" in response.json()["detail"]
        with pytest.raises(DBAPIError):  # anything else stays a server error
            await client.get("/refused/40001")
