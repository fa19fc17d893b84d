"""The notifier against the real broker and database, with a real local HTTP gateway for the webhook sender."""

import asyncio
import socket
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import uvicorn

from shared import topics
from shared.clock import FixedClock
from shared.contracts import appointments as A
from shared.contracts import confirmation as C
from shared.contracts import loans as L
from shared.contracts import requests as R
from shared.runtime import ServiceRuntime
from tests.support.builders import ACCOUNT_DAY, SHANGHAI, a_borrower, a_loan, primary_of, ref
from tests.support.infra import Infra
from tests.support.kafka import KafkaDriver, Watch
from tests.support.services import http, running
from tests.support.wait import eventually

OUT = topics.NOTIFICATIONS_EVENTS


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
        self.calls.append({"body": body, "key": key, "auth": headers.get(b"authorization")})
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


def only(channels: list[L.NotificationChannel], **over: Any) -> L.LoanSnapshot:
    loan = a_loan()
    return loan.model_copy(update={"borrowers": [a_borrower(primary_of(loan), channels=channels, **over)]})


def received(loan: L.LoanSnapshot) -> R.RequestSubmitted:
    return R.RequestSubmitted(
        request_id=ref("R"), command_id=ref("cmd"), loan_id=loan.loan_id, request_type=R.RequestType.DEBIT_DAY_CHANGE,
        applicant_customer_id=primary_of(loan), channel=R.Channel.APP, co_borrowers=[], deadline=date(2020, 2, 25),
        paper_documents_required=False, policy_version="epidemic-2020", current_debit_day=10, new_debit_day=20,
        current_due_date=date(2020, 2, 25), new_due_date=date(2020, 3, 20))


async def for_customer(watch: Watch, customer_id: str, kind: str, count: int = 1, timeout: float = 20) -> list[Any]:
    return await watch.wait_for(lambda s: s.type == kind and s.data["customer_id"] == customer_id, count=count,
                                timeout=timeout)


async def test_the_webhook_sender_retries_a_failing_gateway_then_succeeds(migrated: Infra, kafka: KafkaDriver) -> None:
    gateway = Gateway(failures=2)
    task = await serve(gateway)
    try:
        async with running("notifier", migrated, webhook_urls={"SMS": gateway.url}, retry_base_s=0, max_attempts=5,
                           webhook_auth_header="Bearer t0ken", worker_interval_s=0.1) as service:
            loan = only([L.NotificationChannel.SMS])
            await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
            await known(service, primary_of(loan))
            async with kafka.watch(OUT) as watch:
                event = await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id)
                [sent] = await for_customer(watch, primary_of(loan), "NotificationSent")
            async with http(service) as api:
                [log] = (await api.get(f"/events/{event.id}/deliveries")).json()
    finally:
        gateway.server.should_exit = True
        await task
    calls = gateway.of(sent.data["notification_id"].encode())  # the notification id is the idempotency key
    assert sent.data["channel"] == "SMS" and len(calls) == 3
    assert calls[0]["auth"] == b"Bearer t0ken" and b'"to":"13800138000"' in calls[0]["body"]
    assert (log["status"], log["attempts"], log["contact"]) == ("SENT", 3, "*******8000")


async def test_a_gateway_that_keeps_failing_ends_in_notification_failed(migrated: Infra, kafka: KafkaDriver) -> None:
    gateway = Gateway(failures=1000)
    task = await serve(gateway)
    try:
        async with running("notifier", migrated, webhook_urls={"EMAIL": gateway.url}, retry_base_s=0, max_attempts=3,
                           worker_interval_s=0.1) as service:
            loan = only([L.NotificationChannel.EMAIL])
            await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
            await known(service, primary_of(loan))
            async with kafka.watch(OUT) as watch:
                await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id)
                [failed] = await for_customer(watch, primary_of(loan), "NotificationFailed")
    finally:
        gateway.server.should_exit = True
        await task
    assert failed.data["attempts"] == 3 and "503" in failed.data["error"]
    assert len(gateway.of(failed.data["notification_id"].encode())) == 3


async def test_a_night_sms_is_held_until_the_quiet_hours_end(migrated: Infra, kafka: KafkaDriver) -> None:
    clock = FixedClock(datetime(2020, 2, 3, 23, 0, tzinfo=SHANGHAI))
    async with running("notifier", migrated, clock=clock, worker_interval_s=0.1) as service:
        loan = only([L.NotificationChannel.APP_PUSH, L.NotificationChannel.SMS])
        customer = primary_of(loan)
        await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
        await known(service, customer)
        async with kafka.watch(OUT) as watch, http(service) as api:
            event = await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id)
            [push] = await for_customer(watch, customer, "NotificationSent")
            await eventually(lambda: _held(api, event.id), what="the SMS held")
            await asyncio.sleep(0.5)  # several worker rounds pass at 23:00: the SMS stays held
            assert [s.data["channel"] for s in watch.matching(lambda s: s.data.get("customer_id") == customer)] == [
                "APP_PUSH"]
            clock.advance(timedelta(hours=9, seconds=1))  # 08:00:01
            sent = await for_customer(watch, customer, "NotificationSent", count=2)
    assert push.data["channel"] == "APP_PUSH" and sent[1].data["channel"] == "SMS"


async def _held(api: httpx.AsyncClient, event_id: str) -> bool:
    return any(d["status"] == "HELD" and d["channel"] == "SMS"
               for d in (await api.get(f"/events/{event_id}/deliveries")).json())


async def test_redelivery_and_two_copies_never_send_twice(migrated: Infra, kafka: KafkaDriver) -> None:
    async with running("notifier", migrated) as one, running("notifier", migrated):
        loan = only([L.NotificationChannel.APP_PUSH, L.NotificationChannel.WECHAT])
        customer = primary_of(loan)
        await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
        await known(one, customer)
        async with kafka.watch(OUT) as watch:
            event = await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id)
            await kafka.publish_event(topics.REQUESTS_EVENTS, event)  # redelivered
            await kafka.publish(topics.REQUESTS_EVENTS, received(loan).model_copy(update={"request_id": "R-marker"}),
                                subject=loan.loan_id)
            await for_customer(watch, customer, "NotificationSent", count=4)
            await asyncio.sleep(0.5)
        async with http(one) as api:
            log = (await api.get(f"/events/{event.id}/deliveries")).json()
    sent = [s for s in watch.matching(lambda s: s.type == "NotificationSent" and s.data["event_id"] == event.id)]
    assert sorted(s.data["channel"] for s in sent) == ["APP_PUSH", "WECHAT"]
    assert sorted(d["channel"] for d in log) == ["APP_PUSH", "WECHAT"]


async def test_an_unknown_customer_is_reported_not_ignored(migrated: Infra, kafka: KafkaDriver) -> None:
    async with running("notifier", migrated), kafka.watch(OUT) as watch:
        stranger = ref("C")
        event = received(a_loan()).model_copy(update={"applicant_customer_id": stranger})
        await kafka.publish(topics.REQUESTS_EVENTS, event, subject=event.loan_id)
        [failed] = await for_customer(watch, stranger, "NotificationFailed")
    assert failed.data["error"] == "unknown customer" and failed.data["channel"] == "NONE"


async def test_bookings_are_confirmed_reminded_the_day_before_and_staff_hear_of_new_calls(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    clock = FixedClock(ACCOUNT_DAY)
    async with running("notifier", migrated, clock=clock) as service:
        loan = only([L.NotificationChannel.APP_PUSH], language=L.Language.EN)
        customer = primary_of(loan)
        await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
        await known(service, customer)
        async with kafka.watch(OUT) as watch, http(service) as api:
            booked = A.SlotBooked(booking_id=ref("B"), booking_code="K7P3X", command_id=ref("cmd"), customer_id=customer,
                                  branch_id="SZ-FUTIAN", date=date(2020, 2, 10), start_time=time(9, 30),
                                  end_time=time(10), service_type=A.ServiceType.OTHER, branch_name="Futian Sub-branch",
                                  branch_address="Futian Road")
            await kafka.publish(topics.APPOINTMENTS_EVENTS, booked, subject="SZ-FUTIAN")
            await for_customer(watch, customer, "NotificationSent")
            clock.advance(timedelta(days=5, hours=23, minutes=31))  # Sunday 9 Feb, 09:01
            reminders = await for_customer(watch, customer, "NotificationSent", count=2)
            task = C.ConfirmationCallRequested(task_id=ref("T"), request_id=ref("R"), loan_id=loan.loan_id,
                                               customer_id=ref("C"), due_by=date(2020, 2, 25), attempt=1)
            await kafka.publish(topics.CONFIRMATION_EVENTS, task, subject=loan.loan_id)
            await for_customer(watch, "STAFF", "NotificationSent")
            log = (await api.get(f"/customers/{customer}/deliveries")).json()
    assert [r.data["template"] for r in reminders] == ["booking_confirmed", "booking_reminder"]
    assert "K7P3X" in log[0]["template"] or log[0]["template"] == "booking_confirmed"
    assert all(d["language"] == "en" for d in log)


