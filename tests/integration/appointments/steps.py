"""Steps of the appointments tests: plans, bookings and commands sent the way channels and operators send them."""

from datetime import date, datetime, time
from typing import Any

from harness.builders import SHANGHAI, ref
from shared import topics
from shared.clock import FixedClock
from shared.contracts import appointments as A
from tests.support.kafka import KafkaDriver, Seen, Watch

EVENTS, COMMANDS = topics.APPOINTMENTS_EVENTS, topics.APPOINTMENTS_COMMANDS
MONDAY = date(2020, 2, 10)  # a week after the account's first day (Monday 3 February 2020), inside the window
WEEK = ("MON", "TUE", "WED", "THU", "FRI")


def set_clock(clock: FixedClock, at: datetime) -> None:
    """Moves the service's clock (every copy of the module reads this one) to `at`."""
    clock.advance(at - clock.now())


def shanghai(on: date, at: time) -> datetime:
    return datetime.combine(on, at, tzinfo=SHANGHAI)


def a_plan(*, daily_cap: int = 20, capacity: int = 4, hours: tuple[int, int] = (9, 12),
           branch_id: str | None = None, **extra: Any) -> A.SetBranchPlan:
    window = A.Window(start=time(hours[0]), end=time(hours[1]), capacity_per_slot=capacity)
    values: dict[str, Any] = {"command_id": ref("cmd"), "branch_id": branch_id or ref("BR"), "name": "Test branch",
                              "address": "1 Test Road", "timezone": "Asia/Shanghai", "slot_minutes": 30,
                              "daily_cap": daily_cap, "weekly": {A.Weekday(d): [window] for d in WEEK}}
    return A.SetBranchPlan(**{**values, **extra})


async def answer(kafka: KafkaDriver, watch: Watch, command: Any, *, key: str | None = None) -> Seen:
    """Sends `command` (a new CloudEvent each time) and returns the first answer to its command id."""
    await kafka.publish(COMMANDS, command, subject=key or command.branch_id)
    [seen] = await watch.wait_for(lambda s: s.data.get("command_id") == command.command_id, timeout=30)
    return seen


async def send_again(kafka: KafkaDriver, watch: Watch, command: Any, count: int, *,
                     key: str | None = None) -> list[Seen]:
    """Sends `command` again under a new CloudEvent id; returns the first `count` answers to its command id."""
    await kafka.publish(COMMANDS, command, subject=key or command.branch_id)
    return await watch.wait_for(lambda s: s.data.get("command_id") == command.command_id, count=count, timeout=30)


def booking(plan: A.SetBranchPlan, *, on: date = MONDAY, at: time = time(9), customer: str | None = None,
            **extra: Any) -> A.BookSlot:
    return A.BookSlot(command_id=ref("cmd"), customer_id=customer or ref("C"), branch_id=plan.branch_id, date=on,
                      start_time=at, service_type=A.ServiceType.DEBIT_DAY_CHANGE, **extra)


def check_in(plan: A.SetBranchPlan, code: str, at: datetime) -> A.CheckIn:
    return A.CheckIn(command_id=ref("cmd"), branch_id=plan.branch_id, booking_code=code, at=at)


async def branch(kafka: KafkaDriver, watch: Watch, **kwargs: Any) -> A.SetBranchPlan:
    plan = a_plan(**kwargs)
    changed = await answer(kafka, watch, plan)
    assert changed.type == "BranchPlanChanged"
    assert (changed.data["over_capacity"], changed.data["over_daily_cap"]) == ([], [])
    return plan
