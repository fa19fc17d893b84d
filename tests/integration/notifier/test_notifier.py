"""The notifier against the real broker and database, with a real local HTTP gateway for the webhook sender."""

from datetime import date, datetime, time, timedelta

import httpx

from harness.builders import ACCOUNT_DAY, SHANGHAI, a_loan, primary_of, ref
from harness.infra import Infra
from shared import topics
from shared.clock import FixedClock
from shared.contracts import appointments as A
from shared.contracts import confirmation as C
from shared.contracts import loans as L
from tests.integration.notifier.helpers import Gateway, bodies, for_customer, for_event, known, only, received, serve
from tests.support.kafka import KafkaDriver
from tests.support.services import http, running
from tests.support.wait import eventually

OUT = topics.NOTIFICATIONS_EVENTS


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
                [log] = (await api.get(f"/events/{event.id}/deliveries")).json()["items"]
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
    gateway = Gateway(failures=0)  # e-mail goes through the worker: its deliveries mark the worker's rounds
    task = await serve(gateway)
    try:
        async with running("notifier", migrated, clock=clock, webhook_urls={"EMAIL": gateway.url},
                           worker_interval_s=0.1) as service:
            loan = only([L.NotificationChannel.APP_PUSH, L.NotificationChannel.SMS, L.NotificationChannel.EMAIL])
            customer = primary_of(loan)
            await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
            await known(service, customer)
            async with kafka.watch(OUT) as watch, http(service) as api:
                event = await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id)
                await for_event(watch, event.id, count=2)  # the push at once, the e-mail from a worker round
                assert await _held(api, event.id)
                # A later worker round at 23:00 sends this e-mail; an SMS due at 23:00 would have gone in the round
                # that sent the first e-mail, ahead of this one on the customer's partition.
                marker = await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id)
                await watch.wait_for(lambda s: s.data["event_id"] == marker.id and s.data["channel"] == "EMAIL")
                night = [s.data["channel"] for s in watch.matching(lambda s: s.data["event_id"] == event.id)]
                clock.advance(timedelta(hours=9, seconds=1))  # 08:00:01
                [sms] = await watch.wait_for(lambda s: s.data["event_id"] == event.id and s.data["channel"] == "SMS")
    finally:
        gateway.server.should_exit = True
        await task
    assert sorted(night) == ["APP_PUSH", "EMAIL"]
    assert sms.type == "NotificationSent" and sms.event["data"]["sent_at"].startswith("2020-02-04T08:00:01")


async def _held(api: httpx.AsyncClient, event_id: str) -> bool:
    return any(d["status"] == "HELD" and d["channel"] == "SMS"
               for d in (await api.get(f"/events/{event_id}/deliveries")).json()["items"])


async def test_a_failed_sms_whose_retry_falls_at_night_is_retried_when_the_quiet_hours_end(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    clock = FixedClock(datetime(2020, 2, 3, 21, 59, 50, tzinfo=SHANGHAI))  # back-off 30 s: the retry is due 22:00:20
    gateway = Gateway(failures=1)
    task = await serve(gateway)
    try:
        async with running("notifier", migrated, clock=clock, webhook_urls={"SMS": gateway.url}, retry_base_s=30,
                           max_attempts=5, worker_interval_s=0.1) as service:
            loan = only([L.NotificationChannel.SMS])
            customer = primary_of(loan)
            await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
            await known(service, customer)
            async with kafka.watch(OUT) as watch, http(service) as api:
                event = await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id)
                await eventually(lambda: _tried(api, event.id), what="the first attempt failed")
                [after_failure] = (await api.get(f"/events/{event.id}/deliveries")).json()["items"]
                clock.advance(timedelta(hours=10, seconds=11))  # 08:00:01
                [sent] = await for_event(watch, event.id)
    finally:
        gateway.server.should_exit = True
        await task
    assert (after_failure["status"], after_failure["attempts"]) == ("HELD", 1)
    assert datetime.fromisoformat(after_failure["next_attempt_at"]) == datetime(2020, 2, 4, 8, tzinfo=SHANGHAI)
    assert sent.type == "NotificationSent" and len(gateway.of(sent.data["notification_id"].encode())) == 2


async def _tried(api: httpx.AsyncClient, event_id: str) -> bool:
    return any(d["attempts"] >= 1 for d in (await api.get(f"/events/{event_id}/deliveries")).json()["items"])


async def test_redelivery_and_two_copies_never_send_twice(migrated: Infra, kafka: KafkaDriver) -> None:
    async with running("notifier", migrated) as one, running("notifier", migrated):
        loan = only([L.NotificationChannel.APP_PUSH, L.NotificationChannel.WECHAT])
        customer = primary_of(loan)
        await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
        await known(one, customer)
        async with kafka.watch(OUT) as watch:
            event = await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id)
            await kafka.publish_event(topics.REQUESTS_EVENTS, event)  # redelivered
            # Behind both on the loan's partition: once its notifications are out, the copy's would be too.
            marker = await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id)
            await for_event(watch, marker.id, count=2)
        async with http(one) as api:
            log = (await api.get(f"/events/{event.id}/deliveries")).json()["items"]
    sent = list(watch.matching(lambda s: s.type == "NotificationSent" and s.data["event_id"] == event.id))
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
            booked = A.SlotBooked(booking_id=ref("B"), booking_code="K7P3X", command_id=ref("cmd"),
                                  customer_id=customer, branch_id="SZ-FUTIAN", date=date(2020, 2, 10),
                                  start_time=time(9, 30), end_time=time(10), service_type=A.ServiceType.OTHER,
                                  branch_name="Futian Sub-branch", branch_address="Futian Road")
            confirmation = await kafka.publish(topics.APPOINTMENTS_EVENTS, booked, subject="SZ-FUTIAN")
            await for_customer(watch, customer, "NotificationSent")
            clock.advance(timedelta(days=5, hours=23, minutes=31))  # Sunday 9 Feb, 09:01
            reminders = await for_customer(watch, customer, "NotificationSent", count=2)
            task = C.ConfirmationCallRequested(task_id=ref("T"), request_id=ref("R"), loan_id=loan.loan_id,
                                               customer_id=ref("C"), due_by=date(2020, 2, 25), attempt=1)
            await kafka.publish(topics.CONFIRMATION_EVENTS, task, subject=loan.loan_id)
            await for_customer(watch, "STAFF", "NotificationSent")
            log = (await api.get(f"/customers/{customer}/deliveries")).json()["items"]
            texts = [await bodies(service, confirmation.id), await bodies(service, f"reminder:{booked.booking_id}")]
    assert [r.data["template"] for r in reminders] == ["booking_confirmed", "booking_reminder"]
    assert [d["template"] for d in log] == ["booking_confirmed", "booking_reminder"]
    assert all(d["language"] == "en" for d in log)
    assert texts[0]["APP_PUSH"] == "Booked: 2020-02-10 09:30 at Futian Sub-branch (Futian Road). Booking code K7P3X."
    assert "K7P3X" in texts[1]["APP_PUSH"] and "09:30" in texts[1]["APP_PUSH"]


