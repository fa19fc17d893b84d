"""The notifier service layer against in-memory repositories (cosmicpython's fakes): what it records, schedules
and emits for each kind of news, with no database or broker."""

import json
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.notifier.domain import (
    Approved,
    Booking,
    BookingCancelled,
    Borrower,
    CallTaskIssued,
    CommandRefused,
    Delivery,
    LoanBorrowers,
    Recipient,
    Refused,
    RequestMoved,
    RequestStep,
    Status,
)
from services.notifier.service import NotifierService, Repositories, notification_id
from services.notifier.settings import Settings
from shared.contracts import Contract
from shared.contracts import requests as contract
from shared.envelope import new_event
from shared.messaging import MessageContext

SZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2020, 2, 3, 9, 30, tzinfo=SZ)
NIGHT = datetime(2020, 2, 3, 23, 0, tzinfo=SZ)
ANNA = Recipient("C-1", "en", ("APP_PUSH", "SMS"), phone="13800138000", email="anna@example.com")


class FakeRecipients:
    def __init__(self, *known: Recipient) -> None:
        self.stored = {r.customer_id: r for r in known}
        self.as_of: dict[str, datetime] = {}

    async def get(self, customer_id: str) -> Recipient | None:
        return self.stored.get(customer_id)

    async def save_newer(self, recipients: list[Recipient], as_of: datetime) -> None:
        for r in recipients:
            if r.customer_id not in self.as_of or self.as_of[r.customer_id] < as_of:
                self.stored[r.customer_id], self.as_of[r.customer_id] = r, as_of


class FakeLoans:
    def __init__(self, **primaries: str) -> None:
        self.borrowers = {loan_id: {customer: "PRIMARY"} for loan_id, customer in primaries.items()}
        self.as_of: dict[str, datetime] = {}

    async def newest_snapshot(self, loan_id: str, as_of: datetime) -> bool:
        if loan_id in self.as_of and self.as_of[loan_id] >= as_of:
            return False
        self.as_of[loan_id] = as_of
        return True

    async def replace_borrowers(self, loan: LoanBorrowers) -> None:
        self.borrowers[loan.loan_id] = loan.roles

    async def primary_of(self, loan_id: str) -> str | None:
        return next((c for c, role in self.borrowers.get(loan_id, {}).items() if role == "PRIMARY"), None)


class FakeDeliveries:
    def __init__(self) -> None:
        self.stored: dict[str, Delivery] = {}

    async def notified(self, event_id: str) -> frozenset[str]:
        return frozenset(n for n, d in self.stored.items() if d.event_id == event_id)

    async def add(self, delivery: Delivery) -> None:
        assert delivery.notification_id not in self.stored, "the unique key per event, person and channel"
        self.stored[delivery.notification_id] = delivery


class FakeReminders:
    def __init__(self) -> None:
        self.due: dict[str, datetime] = {}

    async def schedule(self, booking: Booking, due: datetime, correlation_id: str | None) -> None:
        self.due[booking.booking_id] = due

    async def cancel(self, booking_id: str) -> None:
        self.due.pop(booking_id, None)


class World:
    """The fakes, a service over them and what it emitted, for one message at a time."""

    def __init__(self, *recipients: Recipient, now: datetime = DAY, **settings: Any) -> None:
        self.recipients, self.loans = FakeRecipients(*recipients), FakeLoans(**{"L-0001": "C-1"})
        self.deliveries, self.reminders = FakeDeliveries(), FakeReminders()
        self.now = now
        self.settings = Settings(**settings)
        self.out: list[tuple[str, dict[str, Any]]] = []

    async def handle(self, wire: Contract | None, call: Any, event_id: str | None = None) -> None:
        """Runs `call(service)` for the message `wire` (None: a timer firing)."""
        event = new_event(wire, source="test", subject="s", time=self.now, event_id=event_id) if wire else None
        ctx = MessageContext(None, self.now, "postloan/notifier", "corr-1", event.id if event else None,  # type: ignore[arg-type]
                             event, settings=self.settings)
        await call(NotifierService(ctx, Repositories(self.recipients, self.loans, self.deliveries, self.reminders)))
        self.out += [(e["type"], e["data"]) for e in (json.loads(r.value) for r in ctx.emitted)]


def approval(applicant: str | None = "C-1") -> Approved:
    return Approved("L-0001", applicant, early_repayment=False, new_debit_day=20, new_due_date=date(2020, 3, 20))


WIRE = contract.RequestApproved(request_id="R-1", loan_id="L-0001", request_type=contract.RequestType.DEBIT_DAY_CHANGE,
                                approved_at=DAY, policy_version="epidemic-2020")


async def test_an_approved_request_notifies_the_applicant_once_per_channel() -> None:
    world = World(ANNA)
    await world.handle(WIRE, lambda s: s.notify(approval()), event_id="E-1")
    await world.handle(WIRE, lambda s: s.notify(approval()), event_id="E-1")  # the same event again
    sent = [d for t, d in world.out if t == "NotificationSent"]
    assert sorted(d["channel"] for d in sent) == ["APP_PUSH", "SMS"]
    assert {(d["customer_id"], d["template"], d["language"]) for d in sent} == {("C-1", "request_approved", "en")}
    stored = sorted(world.deliveries.stored.values(), key=lambda d: d.channel)
    assert [(d.channel, d.status, d.contact) for d in stored] == [
        ("APP_PUSH", Status.SENT, "C-1"), ("SMS", Status.SENT, "13800138000")]
    assert stored[0].body == "Your loan ending 0001 is now debited on day 20; first new due date 2020-03-20."


async def test_an_approval_that_names_no_applicant_goes_to_the_loans_primary_borrower() -> None:
    world = World(ANNA)
    await world.handle(WIRE, lambda s: s.notify(approval(applicant=None)))
    assert {d["customer_id"] for t, d in world.out if t == "NotificationSent"} == {"C-1"}


async def test_an_unknown_recipient_is_reported_not_ignored() -> None:
    world = World(ANNA)
    await world.handle(WIRE, lambda s: s.notify(approval(applicant="C-404")), event_id="E-2")
    [(kind, failed)] = world.out
    assert kind == "NotificationFailed" and not world.deliveries.stored
    assert (failed["customer_id"], failed["channel"], failed["error"], failed["attempts"]) == (
        "C-404", "NONE", "unknown customer", 0)
    assert failed["notification_id"] == notification_id("E-2", "C-404", "NONE")


async def test_a_loan_without_a_known_primary_borrower_is_reported_by_its_loan() -> None:
    world = World(ANNA)
    await world.handle(WIRE, lambda s: s.notify(RequestMoved(RequestStep.COMPLETED, "L-9999", None)))
    assert [(t, d["customer_id"]) for t, d in world.out] == [("NotificationFailed", "loan:L-9999")]


async def test_a_refused_withdrawal_tells_the_customer_in_their_words_and_other_refusals_nobody() -> None:
    world = World(ANNA)
    refusal = Refused("REQUEST_NOT_WITHDRAWABLE", "The request is approved.")
    await world.handle(WIRE, lambda s: s.notify(CommandRefused("WithdrawRequest", "C-1", refusal)))
    await world.handle(WIRE, lambda s: s.notify(CommandRefused("SetBranchPlan", "C-1", refusal)))
    await world.handle(WIRE, lambda s: s.notify(CommandRefused("WithdrawRequest", None, refusal)))
    assert {d["template"] for _, d in world.out} == {"withdrawal_refused"} and len(world.out) == 2
    assert {d.body for d in world.deliveries.stored.values()} == {
        "We could not withdraw your request: the request can no longer be withdrawn."}


async def test_at_night_the_sms_is_held_and_a_gateway_channel_waits_for_the_worker() -> None:
    world = World(ANNA, now=NIGHT, webhook_urls={"APP_PUSH": "http://gateway/push"})
    await world.handle(WIRE, lambda s: s.notify(approval()))
    assert not world.out  # nothing went yet
    by_channel = {d.channel: d for d in world.deliveries.stored.values()}
    assert (by_channel["SMS"].status, by_channel["SMS"].next_attempt_at) == (
        Status.HELD, datetime(2020, 2, 4, 8, tzinfo=SZ))
    assert (by_channel["APP_PUSH"].status, by_channel["APP_PUSH"].next_attempt_at) == (Status.PENDING, NIGHT)


async def test_an_urgent_staff_alert_is_not_held_at_night() -> None:
    world = World(now=NIGHT)
    await world.handle(WIRE, lambda s: s.notify(CallTaskIssued("T-1", "L-0001", date(2020, 2, 25), 2, True)))
    [(kind, sent)] = world.out
    assert (kind, sent["customer_id"], sent["template"]) == ("NotificationSent", "STAFF", "staff_deadline_near")


async def test_a_booking_is_confirmed_and_reminded_and_a_cancellation_drops_the_reminder() -> None:
    world = World(ANNA)
    booking = Booking("B-1", "C-1", "K7P3X", date(2020, 2, 10), time(9, 30), "Futian", "Futian Road",
                      branch_timezone="Europe/London")
    await world.handle(WIRE, lambda s: s.booked(booking))
    assert world.reminders.due == {"B-1": datetime(2020, 2, 9, 9, tzinfo=ZoneInfo("Europe/London"))}
    await world.handle(WIRE, lambda s: s.cancelled(BookingCancelled("B-1", "C-1", date(2020, 2, 10), time(9, 30))))
    assert world.reminders.due == {}
    assert [d["template"] for _, d in world.out] == ["booking_confirmed"] * 2 + ["booking_cancelled"] * 2


async def test_a_booking_for_tomorrow_made_after_the_reminder_time_gets_no_reminder() -> None:
    world = World(ANNA)
    booking = Booking("B-2", "C-1", "K7P3X", date(2020, 2, 4), time(9, 30), "Futian", "Futian Road")
    await world.handle(WIRE, lambda s: s.booked(booking))
    assert world.reminders.due == {}


async def test_the_reminder_is_news_of_its_own_and_told_once() -> None:
    world = World(ANNA)
    booking = Booking("B-3", "C-1", "K7P3X", date(2020, 2, 10), time(9, 30), "Futian", "Futian Road")
    await world.handle(None, lambda s: s.remind(booking))
    await world.handle(None, lambda s: s.remind(booking))  # the timer fired again (a redo)
    assert {d["event_id"] for _, d in world.out} == {"reminder:B-3"} and len(world.out) == 2


def snapshot(as_of: datetime, *borrowers: tuple[Recipient, str]) -> LoanBorrowers:
    return LoanBorrowers("L-0001", as_of, tuple(Borrower(r, role) for r, role in borrowers))


async def test_a_newer_snapshot_replaces_the_borrowers_and_a_late_older_one_changes_nothing() -> None:
    world = World(ANNA)
    bob = Recipient("C-2", "zh-Hant", ("WECHAT",))
    await world.handle(None, lambda s: s.apply_snapshot(snapshot(DAY, (bob, "PRIMARY"))))
    stale = Recipient("C-2", "en", ("SMS",))
    await world.handle(None, lambda s: s.apply_snapshot(snapshot(DAY - timedelta(days=1), (stale, "PRIMARY"),
                                                                 (ANNA, "CO_BORROWER"))))
    assert await world.loans.primary_of("L-0001") == "C-2"
    assert world.recipients.stored["C-2"] == bob
    await world.handle(WIRE, lambda s: s.notify(approval(applicant=None)))
    assert [(d["customer_id"], d["channel"], d["language"]) for _, d in world.out] == [("C-2", "WECHAT", "zh-Hant")]
