"""What customers are told of refused bookings, no-shows, refused withdrawals and when reminders go (SPEC §7)."""

from datetime import date, datetime, time

from harness.builders import ACCOUNT_DAY, SHANGHAI, primary_of, ref
from harness.infra import Infra
from shared import topics
from shared.clock import FixedClock
from shared.contracts import CommandRejected
from shared.contracts import appointments as A
from shared.contracts import loans as L
from shared.contracts import requests as R
from tests.integration.notifier.helpers import bodies, for_event, known, only
from tests.support.kafka import KafkaDriver
from tests.support.services import running

OUT = topics.NOTIFICATIONS_EVENTS
PUSH = L.NotificationChannel.APP_PUSH


async def test_a_refused_booking_and_a_no_show_reach_the_customer_in_their_language(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    after_the_slot = FixedClock(datetime(2020, 2, 4, 15, tzinfo=SHANGHAI))
    async with running("notifier", migrated, clock=after_the_slot) as service:
        loan = only([PUSH], language=L.Language.ZH_HANT)
        customer = primary_of(loan)
        await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
        await known(service, customer)
        refused = A.BookingRejected(command_id=ref("cmd"), customer_id=customer, branch_id="SZ-FUTIAN",
                                    date=date(2020, 2, 10), start_time=time(9, 30),
                                    reason_code=A.BookingRejectReason.SLOT_FULL, reason="Slot 09:30 is full.",
                                    facts={"capacity": "2", "booked": "2"})
        lapsed = A.NoShow(booking_id=ref("B"), customer_id=customer, branch_id="SZ-FUTIAN", date=date(2020, 2, 4),
                          start_time=time(14))
        async with kafka.watch(OUT) as watch:
            first = await kafka.publish(topics.APPOINTMENTS_EVENTS, refused, subject="SZ-FUTIAN")
            second = await kafka.publish(topics.APPOINTMENTS_EVENTS, lapsed, subject="SZ-FUTIAN")
            [told_refused] = await for_event(watch, first.id)
            [told_lapsed] = await for_event(watch, second.id)
        refusal, no_show = (await bodies(service, first.id))["APP_PUSH"], (await bodies(service, second.id))["APP_PUSH"]
    assert (told_refused.type, told_refused.data["template"], told_refused.data["language"]) == (
        "NotificationSent", "booking_rejected", "zh-Hant")
    assert refusal == "很抱歉，2020-02-10 09:30的預約未能成功：所選時段已約滿，請選擇其他時段。"
    assert (told_lapsed.type, told_lapsed.data["template"]) == ("NotificationSent", "booking_no_show")
    assert no_show.startswith("您2020-02-04 14:00的預約未簽到，已失效。") and "重新預約" in no_show


async def test_a_refused_withdrawal_is_not_told_as_a_rejected_request(migrated: Infra, kafka: KafkaDriver) -> None:
    async with running("notifier", migrated) as service:
        loan = only([PUSH], language=L.Language.EN)
        customer = primary_of(loan)
        await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
        await known(service, customer)
        refused = CommandRejected(command_id=ref("cmd"), command_type="WithdrawRequest",
                                  reason_code="REQUEST_NOT_WITHDRAWABLE", reason="The request is approved.",
                                  facts={"state": "APPROVED"}, request_id=ref("R"), customer_id=customer)
        # As a 1.0 requests service answered a refused withdrawal: a RequestRejected naming the command.
        legacy = R.RequestRejected(request_id=ref("R"), command_id=ref("cmd"), loan_id=loan.loan_id,
                                   reason_code="NOT_APPLICANT", reason="Only the applicant can withdraw.",
                                   policy_version="epidemic-2020", applicant_customer_id=customer, facts={},
                                   command_type="WithdrawRequest")
        async with kafka.watch(OUT) as watch:
            events = [await kafka.publish(topics.REQUESTS_EVENTS, e, subject=loan.loan_id) for e in (refused, legacy)]
            told = [(await for_event(watch, e.id))[0] for e in events]
        texts = [(await bodies(service, e.id))["APP_PUSH"] for e in events]
    assert [t.data["template"] for t in told] == ["withdrawal_refused", "withdrawal_refused"]
    assert not watch.matching(lambda s: s.data["template"] == "request_rejected"
                              and s.data["event_id"] in {e.id for e in events})
    assert texts == ["We could not withdraw your request: the request can no longer be withdrawn.",
                     "We could not withdraw your request: only the applicant can withdraw the request."]


async def test_booking_reminders_go_the_morning_before_in_the_branchs_time_zone(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    clock = FixedClock(ACCOUNT_DAY)
    async with running("notifier", migrated, clock=clock, quiet_timezone="Asia/Shanghai") as service:  # the fallback
        loan = only([PUSH], language=L.Language.EN)
        customer = primary_of(loan)
        await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
        await known(service, customer)
        zones = {"tokyo": "Asia/Tokyo", "ours": None, "london": "Europe/London"}
        bookings = {name: A.SlotBooked(
            booking_id=ref("B"), booking_code=ref("K"), command_id=ref("cmd"), customer_id=customer, branch_id=name,
            date=date(2020, 2, 10), start_time=time(9, 30), end_time=time(10), service_type=A.ServiceType.OTHER,
            branch_timezone=zone) for name, zone in zones.items()}
        async with kafka.watch(OUT) as watch:
            for booking in bookings.values():
                confirmed = await kafka.publish(topics.APPOINTMENTS_EVENTS, booking, subject=booking.branch_id)
                await for_event(watch, confirmed.id)  # the reminder is scheduled with the confirmation

            async def reminded_at(name: str, at: datetime) -> list[str]:
                clock.advance(at - clock.now())
                await for_event(watch, f"reminder:{bookings[name].booking_id}")
                return [s.data["event_id"] for s in watch.matching(lambda s: s.data["event_id"].startswith("reminder:")
                                                                    and s.data["customer_id"] == customer)]

            # Sunday 9 February, each branch's 09:00: 08:00 in Tokyo, 09:00 here, 17:00 (09:00 GMT) in London.
            by_08 = await reminded_at("tokyo", datetime(2020, 2, 9, 8, 1, tzinfo=SHANGHAI))
            by_09 = await reminded_at("ours", datetime(2020, 2, 9, 9, 1, tzinfo=SHANGHAI))
            by_17 = await reminded_at("london", datetime(2020, 2, 9, 17, 1, tzinfo=SHANGHAI))
    ids = {name: f"reminder:{b.booking_id}" for name, b in bookings.items()}
    assert by_08 == [ids["tokyo"]]
    assert by_09 == [ids["tokyo"], ids["ours"]]  # fired in the round at 09:01: London's is not yet due
    assert by_17 == [ids["tokyo"], ids["ours"], ids["london"]]
