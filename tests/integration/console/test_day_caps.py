"""The dashboard's bookings against caps, fed by the real appointments service: a plan names the cap of every day
of its window, an override its date's, so a day with no booking shows 0 of its cap and a closed day is closed."""

from collections.abc import AsyncIterator
from datetime import date, time, timedelta

import pytest

from harness.builders import ACCOUNT_DAY, ref
from harness.infra import Infra
from services.console import queries
from services.console.queries import BranchDay
from services.console.readmodel import BookingView, BranchDayCap
from shared import topics
from shared.contracts import appointments as A
from shared.runtime import ServiceRuntime
from tests.integration.appointments.steps import a_plan
from tests.integration.console.conftest import row_when
from tests.support.kafka import KafkaDriver
from tests.support.services import running

# The appointments service's clock stands on Monday 3 February 2020, 09:30 in Shanghai, as the console's does.
TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = (date(2020, 2, d) for d in (4, 5, 6, 7))


@pytest.fixture(scope="module")
async def appointments(migrated: Infra) -> AsyncIterator[ServiceRuntime]:
    async with running("appointments", migrated) as runtime:
        yield runtime


async def test_the_dashboard_shows_booked_against_the_cap_of_each_day_after_a_plan_and_overrides(
    console: ServiceRuntime, appointments: ServiceRuntime, kafka: KafkaDriver
) -> None:
    plan = a_plan(daily_cap=6)  # Monday to Friday, 09:00-12:00
    branch, commands = plan.branch_id, topics.APPOINTMENTS_COMMANDS
    await kafka.publish(commands, plan, subject=branch)
    await kafka.publish(commands, A.BookSlot(command_id=ref("cmd"), customer_id=ref("C"), branch_id=branch,
                                             date=WEDNESDAY, start_time=time(9), service_type=A.ServiceType.OTHER),
                        subject=branch)
    await kafka.publish(commands, A.SetDateOverride(command_id=ref("cmd"), branch_id=branch, date=THURSDAY,
                                                    daily_cap=2), subject=branch)
    await kafka.publish(commands, A.SetDateOverride(command_id=ref("cmd"), branch_id=branch, date=FRIDAY,
                                                    closed=True), subject=branch)
    await row_when(console, BookingView, lambda r: r.state == "BOOKED", branch_id=branch)
    await row_when(console, BranchDayCap, lambda r: r.daily_cap == 2, branch_id=branch, date=THURSDAY)
    await row_when(console, BranchDayCap, lambda r: r.closed, branch_id=branch, date=FRIDAY)

    weekend = [BranchDay(branch, FRIDAY + timedelta(days=n), 0, 0, closed=True) for n in range(3)]
    assert await _days(console, branch) == [
        BranchDay(branch, ACCOUNT_DAY.date(), 0, 6), BranchDay(branch, TUESDAY, 0, 6),
        BranchDay(branch, WEDNESDAY, 1, 6), BranchDay(branch, THURSDAY, 0, 2), *weekend]


async def test_an_older_plan_change_arriving_late_leaves_each_days_newer_cap(
    console: ServiceRuntime, kafka: KafkaDriver
) -> None:
    branch, events = ref("BR"), topics.APPOINTMENTS_EVENTS

    async def changed(minutes: int, *caps: tuple[date, int]) -> None:
        await kafka.publish(events, A.BranchPlanChanged(
            branch_id=branch, over_capacity=[], over_daily_cap=[], changed_at=ACCOUNT_DAY - timedelta(minutes=minutes),
            daily_caps=[A.DayCap(date=on, daily_cap=cap, closed=cap == 0) for on, cap in caps]), subject=branch)

    await changed(10, (TUESDAY, 3))
    await row_when(console, BranchDayCap, lambda r: r.daily_cap == 3, branch_id=branch, date=TUESDAY)
    await changed(20, (TUESDAY, 50), (WEDNESDAY, 0))  # older: Wednesday is new to the console, Tuesday is not
    await row_when(console, BranchDayCap, lambda r: r.closed, branch_id=branch, date=WEDNESDAY)
    assert await _days(console, branch) == [BranchDay(branch, TUESDAY, 0, 3),
                                            BranchDay(branch, WEDNESDAY, 0, 0, closed=True)]


async def _days(console: ServiceRuntime, branch: str) -> list[BranchDay]:
    assert console.engine is not None
    async with console.engine.connect() as conn:
        board = await queries.dashboard(conn, ACCOUNT_DAY)
    return [b for b in board.bookings if b.branch_id == branch]
