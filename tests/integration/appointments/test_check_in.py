"""Check-in against the real broker and database: SPEC §11 scenario 7, the window judged on the service's clock
(never on the kiosk's `at`), its edges with their facts, and tickets numbered across two copies."""

import asyncio
from datetime import datetime, time, timedelta
from typing import Any

from harness.infra import Infra
from shared.clock import FixedClock
from shared.runtime import ServiceRuntime
from tests.integration.appointments.steps import (
    COMMANDS,
    EVENTS,
    MONDAY,
    answer,
    booking,
    branch,
    check_in,
    set_clock,
    shanghai,
)
from tests.support.kafka import KafkaDriver
from tests.support.services import running

SLOT = shanghai(MONDAY, time(10))  # the slots these tests book: check-in is open 09:30-10:15


async def test_scenario_7_a_booked_customer_checks_in_and_gets_a_priority_ticket(
    service: ServiceRuntime, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        booked = await answer(kafka, watch, booking(plan, at=time(10), note="wheelchair access"))
        assert booked.type == "SlotBooked" and booked.data["branch_address"] == "1 Test Road"
        set_clock(clock, SLOT - timedelta(minutes=15))  # the customer arrives
        checked = await answer(kafka, watch, check_in(plan, booked.data["booking_code"], clock.now()))
    assert booked.data["branch_timezone"] == "Asia/Shanghai"
    assert checked.type == "CheckedIn"
    assert (checked.data["booking_id"], checked.data["ticket_number"], checked.data["priority"]) == (
        booked.data["booking_id"], "P001", True)


async def test_check_in_is_judged_on_the_service_clock_not_on_the_kiosks_time(
    service: ServiceRuntime, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        booked = await answer(kafka, watch, booking(plan, at=time(10)))
        code = booked.data["booking_code"]
        set_clock(clock, SLOT - timedelta(minutes=60))
        kiosk_inside = SLOT - timedelta(minutes=15)
        refused = await answer(kafka, watch, check_in(plan, code, kiosk_inside))
        set_clock(clock, SLOT - timedelta(minutes=10))
        kiosk_outside = SLOT - timedelta(hours=2)
        accepted = await answer(kafka, watch, check_in(plan, code, kiosk_outside))
    assert (refused.type, refused.data["reason_code"]) == ("CommandRejected", "OUTSIDE_CHECKIN_WINDOW")
    assert refused.data["facts"] == {
        "opens_at": "2020-02-10T09:30:00+08:00", "closes_at": "2020-02-10T10:15:00+08:00",
        "service_time": "2020-02-10T09:00:00+08:00", "reported_at": kiosk_inside.isoformat(),
        "state": "BOOKED", "booking_code": code, "booking_id": booked.data["booking_id"], "date": "2020-02-10"}
    assert accepted.type == "CheckedIn" and accepted.data["ticket_number"] == "P001"
    assert datetime.fromisoformat(accepted.data["checked_in_at"]) == SLOT - timedelta(minutes=10)


async def test_check_in_window_edges_and_used_or_unknown_codes(
    service: ServiceRuntime, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch)
        code = (await answer(kafka, watch, booking(plan, at=time(10)))).data["booking_code"]

        async def at_minute(minutes: int, with_code: str = code) -> dict[str, Any]:
            set_clock(clock, SLOT + timedelta(minutes=minutes))
            return (await answer(kafka, watch, check_in(plan, with_code, SLOT))).data  # the kiosk's time is no help
        early, late, unknown, ok, again = (await at_minute(-31), await at_minute(16), await at_minute(0, "XXXXX"),
                                           await at_minute(15), await at_minute(15))
    assert [r.get("reason_code") for r in (early, late, unknown, again)] == [
        "OUTSIDE_CHECKIN_WINDOW", "OUTSIDE_CHECKIN_WINDOW", "UNKNOWN_CODE", "ALREADY_CHECKED_IN"]
    assert ok["ticket_number"] == "P001"
    assert early["facts"]["service_time"] == "2020-02-10T09:29:00+08:00"
    assert late["facts"]["service_time"] == "2020-02-10T10:16:00+08:00"
    assert unknown["facts"] == {"booking_code": "XXXXX", "date": "2020-02-10", "reported_at": SLOT.isoformat(),
                                "service_time": "2020-02-10T10:00:00+08:00"}
    assert again["facts"]["state"] == "CHECKED_IN"


async def test_tickets_are_numbered_without_gaps_or_repeats_across_two_copies(
    migrated: Infra, kafka: KafkaDriver, clock: FixedClock
) -> None:
    async with running("appointments", migrated, clock=clock), running("appointments", migrated, clock=clock), \
            kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, capacity=12, daily_cap=40)
        codes = [(await answer(kafka, watch, booking(plan, at=time(10)))).data["booking_code"] for _ in range(12)]
        set_clock(clock, SLOT - timedelta(minutes=10))
        checkins = [check_in(plan, c, clock.now()) for c in codes]
        await asyncio.gather(*(kafka.publish(COMMANDS, c, subject=f"{plan.branch_id}#{i}")
                               for i, c in enumerate(checkins)))
        ids = {c.command_id for c in checkins}
        tickets = await watch.wait_for(lambda s: s.type == "CheckedIn" and s.data["command_id"] in ids, count=12,
                                       timeout=30)
    assert sorted(t.data["ticket_number"] for t in tickets) == [f"P{n:03d}" for n in range(1, 13)]
