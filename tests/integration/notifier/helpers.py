"""What the notifier's integration tests share: a real loopback HTTP gateway, builders and waits on its output."""

import asyncio
import socket
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select

from harness.builders import a_borrower, a_loan, primary_of, ref
from services.notifier.repository import DeliveryRepository, inbox
from shared.contracts import loans as L
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.support.kafka import Seen, Watch
from tests.support.services import http
from tests.support.wait import eventually


class Gateway:
    """A real HTTP server on loopback that fails `failures` times per notification, then accepts; it records
    every call (other tests' backlog may reach it too, hence the count per idempotency key)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[dict[str, Any]] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None,
                                                    lifespan="off", interface="asgi3"))

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        key = headers.get(b"idempotency-key")
        self.calls.append({"body": body, "key": key, "auth": headers.get(b"authorization"),
                           "traceparent": headers.get(b"traceparent")})
        status = 503 if len(self.of(key)) <= self.failures else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def of(self, key: bytes | None) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["key"] == key]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/send"


async def serve(gateway: Gateway) -> asyncio.Task[None]:
    task = asyncio.create_task(gateway.server.serve())
    await eventually(lambda: _started(gateway), what="gateway up")
    return task


async def _started(gateway: Gateway) -> bool:
    return bool(gateway.server.started)


async def known(runtime: ServiceRuntime, customer_id: str) -> None:
    async with http(runtime) as api:
        await eventually(lambda: _status(api, f"/recipients/{customer_id}"), what="recipient projected")


async def _status(api: httpx.AsyncClient, path: str) -> bool:
    return (await api.get(path)).status_code == 200


async def consumed(runtime: ServiceRuntime, event_id: str) -> None:
    """Waits until the notifier has committed its handling of `event_id` (it is in the inbox)."""

    async def done() -> bool:
        assert runtime.deps is not None
        async with runtime.deps.sessions() as session:
            return await session.scalar(select(inbox.c.message_id).where(inbox.c.message_id == event_id)) is not None

    await eventually(done, what=f"event {event_id} consumed")


async def bodies(runtime: ServiceRuntime, event_id: str) -> dict[str, str]:
    """The text each channel carried for `event_id` (the API shows no bodies)."""
    assert runtime.deps is not None
    async with runtime.deps.sessions() as session:
        return {row.channel: row.body for row in await DeliveryRepository(session).of(event_id=event_id)}


def only(channels: list[L.NotificationChannel], **over: Any) -> L.LoanSnapshot:
    loan = a_loan()
    return loan.model_copy(update={"borrowers": [a_borrower(primary_of(loan), channels=channels, **over)]})


def received(loan: L.LoanSnapshot) -> R.RequestSubmitted:
    """A debit-day change from the loan's debit day to the 20th: D0 is its next due date, D1 the next 20th."""
    d0 = loan.next_due_date
    assert d0.day == loan.debit_day < 20, "a consistent loan debited before the 20th"
    return R.RequestSubmitted(
        request_id=ref("R"), command_id=ref("cmd"), loan_id=loan.loan_id, request_type=R.RequestType.DEBIT_DAY_CHANGE,
        applicant_customer_id=primary_of(loan), channel=R.Channel.APP, co_borrowers=[], deadline=d0,
        paper_documents_required=False, policy_version="epidemic-2020", branch_id=loan.branch_id,
        confirmation_attempts=3, current_debit_day=loan.debit_day,
        new_debit_day=20, current_due_date=d0, new_due_date=d0.replace(day=20))


async def for_customer(watch: Watch, customer_id: str, kind: str, count: int = 1, timeout: float = 20) -> list[Seen]:
    return await watch.wait_for(lambda s: s.type == kind and s.data["customer_id"] == customer_id, count=count,
                                timeout=timeout)


async def for_event(watch: Watch, event_id: str, count: int = 1, timeout: float = 20) -> list[Seen]:
    """The first `count` notifications (sent or failed) about `event_id`."""
    return await watch.wait_for(lambda s: s.data["event_id"] == event_id, count=count, timeout=timeout)
