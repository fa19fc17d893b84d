"""The HTTP edge every service shares: a request the service cannot take is refused with a 4xx before any route
runs (never a 500), and list endpoints page by an opaque cursor.

Plumbing only: no business rules, no service's names. The routes declare their own bounds (identifiers, limits,
dates); the guard here catches what no route can (undecodable or control characters, oversize bodies), and a
value the database still refuses answers 400 as a last resort.
"""

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import unquote_to_bytes

import asyncpg
from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError

from shared.contracts._bounds import MAX_ID, text_problem

MAX_QUERY_VALUE = 512  # a cursor is the longest query value a client sends
MAX_QUERY_PARAMS = 64
MAX_PAGE = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # printable, as far as a JSON-schema pattern can say it (the guard says more)
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _printable(value: str) -> str:
    """The contract's own identifier rule (shared.contracts._bounds), so HTTP and Kafka accept the same ids."""
    if (problem := text_problem("id", value)) is not None:
        raise ValueError(problem)
    return value


# In a body: 1..128 printable characters (a value the database and the Kafka contract can both hold).
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN),
                       AfterValidator(_printable)]


def id_path(description: str) -> Any:
    """A path parameter naming something: 1..128 printable characters."""
    return Path(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN, description=description)


def id_query(description: str) -> Any:
    """An optional query parameter naming something: 1..128 printable characters."""
    return Query(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN, description=description)


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Most items on this page (1..{MAX_PAGE}).")]
Cursor = Annotated[str | None, Query(min_length=1, max_length=MAX_QUERY_VALUE, pattern=CURSOR_PATTERN,
                                     description="`next_cursor` of the previous page; omit it for the first page.")]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, in the list's order; ask again with `cursor=next_cursor` until it is null."""

    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


def encode_cursor(key: Sequence[Any]) -> str:
    """The sort key of a page's last item, as an opaque token (URL-safe base64 of its JSON)."""
    raw = json.dumps(TypeAdapter(Any).dump_python(list(key), mode="json"), separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, shape: TypeAdapter[Any]) -> Any:
    """The sort key a cursor carries, validated as `shape` (a tuple type), or None without a cursor. A cursor
    this service did not give out is a 400, whatever it holds (its strings are bounded like any identifier)."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return shape.validate_python(json.loads(raw))
    except (binascii.Error, ValueError, ValidationError):
        raise HTTPException(400, "cursor is not one this service gave out: pass `next_cursor` as it came") from None


def next_cursor(rows: Sequence[Any], limit: int, key: Callable[[Any], Sequence[Any]]) -> str | None:
    """The cursor after a page of `limit` items, from `limit + 1` fetched rows (the extra one only tells that more
    follow); None on the last page."""
    return encode_cursor(key(rows[limit - 1])) if len(rows) > limit else None


def request_problem(scope: Scope) -> str | None:
    """Why the request line cannot be served, or None: undecodable bytes, control characters (NUL included),
    an over-long path segment or query value. Never echoes the value."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    segments = raw_path.split(b"?", 1)[0].split(b"/")
    for segment in segments:
        problem = _text_problem("path", unquote_to_bytes(segment), MAX_ID)
        if problem is not None:
            return problem
    query = scope.get("query_string") or b""
    pairs = [p for p in query.split(b"&") if p]
    if len(pairs) > MAX_QUERY_PARAMS:
        return f"query: {len(pairs)} parameters, at most {MAX_QUERY_PARAMS}"
    for pair in pairs:
        for part in pair.split(b"=", 1):
            problem = _text_problem("query", unquote_to_bytes(part.replace(b"+", b" ")), MAX_QUERY_VALUE)
            if problem is not None:
                return problem
    return None


def _text_problem(where: str, raw: bytes, limit: int) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"{where}: not UTF-8 text"
    if _CONTROL.search(text):
        return f"{where}: control characters (NUL included) are not allowed"
    if len(text) > limit:
        return f"{where}: a part of {len(text)} characters, at most {limit}"
    return None


class InputGuard:
    """ASGI middleware: refuses with 400 a request line `request_problem` finds fault with, and with 413 a body
    over `max_body_bytes` (the body is read up front, so a route never sees half of one)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = request_problem(scope)
        if problem is not None:
            await _refuse(send, 400, problem)
            return
        declared = next((v for k, v in scope.get("headers") or () if k.lower() == b"content-length"), None)
        if declared is not None and not declared.strip().isdigit():
            await _refuse(send, 400, "content-length is not a number of bytes")
            return
        if declared is not None and int(declared) > self.max_body_bytes:
            await _refuse(send, 413, f"a request body is at most {self.max_body_bytes} bytes")
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _refuse(send, 413, f"a request body is at most {self.max_body_bytes} bytes")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _is_data_error(exc: BaseException) -> bool:
    """A value PostgreSQL (SQLSTATE class 22) or asyncpg's encoder refused: the input's fault, not the server's."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncpg.exceptions.DataError) or str(getattr(seen, "sqlstate", "") or "").startswith("22"):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


async def _database_refused(_request: Request, exc: Exception) -> JSONResponse:
    if not _is_data_error(exc):
        raise exc
    return JSONResponse({"detail": "a value in the request is one the database cannot hold"}, status_code=400)


GUARD_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed request: undecodable or control characters, an over-long part, a bad cursor"},
    413: {"description": "Request body too large (`http_max_body_bytes`)"},
}


def guard(app: FastAPI, *, max_body_bytes: int) -> None:
    """Installs the guard on a service's app (the middleware and the last-resort database error handler)."""
    app.add_middleware(InputGuard, max_body_bytes=max_body_bytes)
    app.add_exception_handler(DBAPIError, _database_refused)
